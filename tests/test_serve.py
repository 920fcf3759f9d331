"""``manage.py serve`` at the TV size of a big call centre: 1,000 extensions and 20 queues,
the simulator, the worker and the web server in one child process (embedded mode, its own
var directory), read back through ``/api/v1/state`` as a reporting script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from monitor.sim.day import team_size
from tests.support import wait_for
from tests.support.processes import ROOT, Process, free_port

# The embedded mode: no PostgreSQL, Redis or real PBX named by the test run's environment.
NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "FCMDASH_AMI_URL", "DJANGO_SETTINGS_MODULE")


@pytest.fixture
def embedded_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    env["FCMDASH_VAR_DIR"] = str(tmp_path / "var")
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def state(port: int, token: str) -> dict | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/state", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except OSError:
        return None  # not listening yet


def test_serve_runs_a_1000_extension_20_queue_call_centre(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--noinput")
    token = manage(embedded_env, "apitoken", "serve test").split()[-1]
    port = free_port()
    argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
    argv += ["--extensions", "1000", "--queues", "20"]
    serve = Process("serve", argv, embedded_env, tmp_path)
    serve.start()
    try:

        def busy() -> dict | None:
            assert serve.alive, serve.log()
            now = state(port, token)
            return now if now and now["calls"] and len(now["endpoints"]) == 1001 else None

        now = wait_for(busy, 60, "the simulated call centre's calls in /api/v1/state")
        assert [p["name"] for p in now["pbxes"]] == ["Simulator"]
        assert len(now["queues"]) == 20
        assert {len(q["members"]) for q in now["queues"]} == {team_size(1000, 20)} == {37}
        assert "1000 extensions, 20 queues of 37 agents" in serve.log()
    finally:
        assert serve.stop() == 0, serve.log()
