"""The AMI secret: encrypted in the database (the raw column is read), never shown on a page,
in the admin, the API, the health and metrics endpoints or an error message, and the README's
procedure for changing the encryption key works as written.

Logs and everything else the run produces are searched for it by the secret watch of
``tests/reliability/plugin.py``, for the whole suite.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from monitor.admin import test_connection as admin_test_connection
from monitor.ami.errors import AuthenticationFailed
from monitor.models import Pbx
from monitor.web_models import KioskLink
from tests.conftest import REPO_DIR
from tests.web.conftest import make_user

from .conftest import CANARY_SECRET, eventually, make_pbx, mirrored, worker_for

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"


def raw_row(pbx_id: int) -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM monitor_pbx WHERE id = %s", [pbx_id])
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_the_secret_is_encrypted_in_the_database(record):
    pbx = Pbx(name="Lab", host="127.0.0.1", username="relcanary")
    pbx.set_secret(CANARY_SECRET)
    pbx.save()
    row = raw_row(pbx.pk)
    assert not any(CANARY_SECRET in str(value) for value in row.values()), row
    token = row["secret_encrypted"]
    assert token.startswith("gAAAA")  # a Fernet token
    from django.conf import settings

    key = Fernet(settings.FCMDASH_ENCRYPTION_KEYS[0].encode())
    assert key.decrypt(token.encode()).decode() == CANARY_SECRET
    record(SECURITY, "AMI secret looked for in the raw database column", "refused")


def everything_a_person_or_a_script_sees(pbx_id: int) -> dict[str, str]:
    root = User.objects.create_superuser("root", password="x" * 12)
    admin, viewer, supervisor, anonymous = Client(), Client(), Client(), Client()
    admin.force_login(root)
    viewer.force_login(make_user("bob", "Viewers"))
    supervisor.force_login(make_user("carol", "Supervisors"))
    link = KioskLink(name="TV")
    token = link.issue()
    link.save()
    pages = {
        "admin PBX list": admin.get("/admin/monitor/pbx/"),
        "admin PBX change page": admin.get(f"/admin/monitor/pbx/{pbx_id}/change/"),
        "wallboard": viewer.get("/"),
        "calls page": viewer.get("/calls/"),
        "originate form": supervisor.get("/originate/"),
        "kiosk link": anonymous.get(f"/kiosk/{token}/"),
        "state API": viewer.get("/api/v1/state"),
        "healthz": anonymous.get("/healthz"),
        "metrics": anonymous.get("/metrics"),
    }
    return {name: r.content.decode() for name, r in pages.items()}


async def test_the_secret_is_never_shown_anywhere(sim, record):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id, stats_interval=0.2):
        await mirrored(sim, pbx_id)
        seen = await asyncio.to_thread(everything_a_person_or_a_script_sees, pbx_id)
        assert "relcanary" in seen["admin PBX change page"]  # the right page was read
        # And while the login fails, with the reason on show.
        sim.faults.fail_logins(True)
        sim.faults.drop_all(rst=True)
        await eventually(lambda: "Authentication failed" in Pbx.objects.get(pk=pbx_id).last_error)
        failing = await asyncio.to_thread(everything_a_person_or_a_script_sees_again, pbx_id)
        sim.faults.fail_logins(False)
    for name, text in {**seen, **{f"{k} (login failing)": v for k, v in failing.items()}}.items():
        assert CANARY_SECRET not in text, name
        record(
            SECURITY, "AMI secret looked for in pages, admin, API, health and metrics", "refused"
        )


def everything_a_person_or_a_script_sees_again(pbx_id: int) -> dict[str, str]:
    User.objects.filter(username__in=("root", "bob", "carol")).delete()
    KioskLink.objects.all().delete()
    return everything_a_person_or_a_script_sees(pbx_id)


async def test_error_messages_never_carry_the_secret(sim, record):
    wrong = CANARY_SECRET + "-wrong"
    pbx_id = await make_pbx(sim.port, secret=wrong)
    pbx = await sync_to_async(Pbx.objects.get)(pk=pbx_id)
    with pytest.raises(AuthenticationFailed) as failed:
        await admin_test_connection(pbx)  # what the admin's "Test connection" runs
    assert CANARY_SECRET not in str(failed.value) and "Authentication failed" in str(failed.value)
    # The admin action's message, as the admin sees it.
    root = await sync_to_async(User.objects.create_superuser)("root", password="x" * 12)

    def run_action() -> str:
        client = Client()
        client.force_login(root)
        data = {"action": "test_connection", "_selected_action": [pbx_id]}
        return client.post("/admin/monitor/pbx/", data, follow=True).content.decode()

    page = await asyncio.to_thread(run_action)
    assert "Authentication failed" in page and CANARY_SECRET not in page
    record(
        SECURITY,
        "AMI secret looked for in error messages (failed login, Test connection)",
        "refused",
        times=2,
    )


# -- the README's key change, as written --------------------------------------------------------
SETUP = """
import django
django.setup()
from django.core.management import call_command
from monitor.models import Pbx
call_command("migrate", verbosity=0)
pbx = Pbx(name="Main", host="127.0.0.1", username="relcanary")
pbx.set_secret({secret!r})
pbx.save()
print(pbx.secret_encrypted)
"""
READ = """
import django
django.setup()
from monitor.crypto import SecretUnreadable
from monitor.models import Pbx
pbx = Pbx.objects.get(name="Main")
try:
    print("read" if pbx.get_secret() == {secret!r} else "wrong", pbx.secret_encrypted)
except SecretUnreadable as exc:
    print("unreadable", exc)
"""


def run(code: str, env: dict[str, str], *args: str) -> str:
    argv = [sys.executable, *(["manage.py", *args] if args else ["-c", code])]
    done = subprocess.run(argv, cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert CANARY_SECRET not in output
    if args == ("rotate_secrets",) and env.get("EXPECT_FAILURE"):
        return output
    assert done.returncode == 0, output
    return done.stdout.strip()


def test_changing_the_encryption_key_as_the_readme_says(tmp_path, record):
    base = {k: v for k, v in os.environ.items() if not k.startswith("FCMDASH_")}
    base.pop("DATABASE_URL", None)
    base.update(FCMDASH_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="fcmdash.settings")
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    setup = SETUP.format(secret=CANARY_SECRET)
    stored = run(setup, {**base, "FCMDASH_ENCRYPTION_KEYS": old}).splitlines()[-1]
    # 1-2: the new key first, the old one after it; 3: rotate_secrets.
    both = {**base, "FCMDASH_ENCRYPTION_KEYS": f"{new},{old}"}
    assert "re-encrypted 1 secret" in run("", both, "rotate_secrets")
    # 4: the old key removed: the secret still reads, and was encrypted anew.
    state, token = run(
        READ.format(secret=CANARY_SECRET), {**base, "FCMDASH_ENCRYPTION_KEYS": new}
    ).split(maxsplit=1)
    assert state == "read" and token != stored
    # With the old key alone it no longer reads, and says why.
    state, text = run(
        READ.format(secret=CANARY_SECRET), {**base, "FCMDASH_ENCRYPTION_KEYS": old}
    ).split(maxsplit=1)
    assert state == "unreadable" and "rotate_secrets" in text
    # Rotating with a key set that cannot read the secret changes nothing and says so.
    other = {
        **base,
        "FCMDASH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "EXPECT_FAILURE": "1",
    }
    assert "nothing was changed" in run("", other, "rotate_secrets")
    state, after = run(
        READ.format(secret=CANARY_SECRET), {**base, "FCMDASH_ENCRYPTION_KEYS": new}
    ).split(maxsplit=1)
    assert state == "read" and after == token
    record(
        SECURITY, "encryption key changed per the README (two keys, rotate_secrets)", "nothing lost"
    )
