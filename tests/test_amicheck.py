"""``manage.py amicheck`` against the simulator: what an admin runs first."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.support.simthread import SimThread


@pytest.fixture(scope="module")
def asterisk():
    with SimThread() as s:
        yield s


def test_amicheck_prints_banner_actions_and_counts(asterisk, capsys):
    call_command("amicheck", f"ami://admin123:admin123@127.0.0.1:{asterisk.port}")
    out = capsys.readouterr().out
    assert "Asterisk Call Manager/11.0.0" in out
    assert "endpoints  11" in out
    assert "queues     2" in out
    for action in ("PJSIPShowEndpoints", "Originate", "Hangup", "QueuePause"):
        assert f"allowed  {action}" in out


def test_amicheck_json_for_a_restricted_user(asterisk, capsys):
    call_command("amicheck", f"ami://wallboard1:wb1pass9@127.0.0.1:{asterisk.port}", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["banner"] == "Asterisk Call Manager/11.0.0"
    assert report["actions"]["PJSIPShowEndpoints"]["allowed"] is False
    assert "Special Command" in report["actions"]["PJSIPShowEndpoints"]["detail"]
    assert report["actions"]["DeviceStateList"]["allowed"] is True
    assert report["actions"]["Originate"]["allowed"] is True
    assert report["endpoints"] == 11  # from DeviceStateList's PJSIP devices
    assert report["queues"] == 2


def test_amicheck_bad_secret_exits_non_zero_with_one_line(asterisk):
    url = f"ami://admin123:wrong@127.0.0.1:{asterisk.port}"
    done = subprocess.run(
        [sys.executable, "manage.py", "amicheck", url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Authentication failed" in lines[0]
    assert "wrong" not in lines[0].replace("wrong user", "")


def test_amicheck_refused_port():
    with pytest.raises(CommandError, match="refused the connection"):
        call_command("amicheck", "ami://admin123:admin123@127.0.0.1:1")
