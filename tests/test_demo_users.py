"""``manage.py demo_users``: the logins ``make run`` prints."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(capsys) -> dict[str, str]:
    call_command("demo_users")
    out = capsys.readouterr().out
    return dict(re.findall(r"^\s+(\w+)\s+(\S+)\s+\(", out, re.M))


def test_demo_users_can_log_in_and_the_supervisor_may_act(capsys):
    passwords = run(capsys)
    assert set(passwords) == {"admin", "supervisor"}
    admin = authenticate(username="admin", password=passwords["admin"])
    supervisor = authenticate(username="supervisor", password=passwords["supervisor"])
    assert admin is not None and admin.is_superuser
    assert supervisor is not None and not supervisor.is_staff
    for perm in ("view_wallboard", "hangup", "originate", "pause_member"):
        assert supervisor.has_perm(f"monitor.{perm}")


def test_running_again_resets_the_passwords(capsys):
    first = run(capsys)
    second = run(capsys)
    assert first["supervisor"] != second["supervisor"]
    assert authenticate(username="supervisor", password=first["supervisor"]) is None
    assert get_user_model().objects.filter(username="supervisor").count() == 1
