"""Admin: the PBX secret is write-only, "Test connection" probes a real (simulated) PBX, tokens
are shown once, the audit log is read-only; and the rotate_secrets command."""

from __future__ import annotations

import asyncio
import threading

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from monitor.models import Pbx
from monitor.web_models import ApiToken, AuditEntry, KioskLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    user = User.objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sim_port():
    """The PBX simulator on its own event loop in a thread (the admin is sync code)."""
    server = pytest.importorskip("monitor.sim.server")
    loop = asyncio.new_event_loop()
    sim = server.PbxSimulator(auth_fail_delay=0.05)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(10)
    yield sim.port
    asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def pbx_form(**overrides) -> dict:
    data = {
        "name": "Lab",
        "host": "127.0.0.1",
        "port": "7777",
        "tls": "off",
        "username": "wallboard1",
        "secret": "wb1pass9",
        "auth": "plain",
        "enabled": "on",
        "keepalive": "20",
        "originate-TOTAL_FORMS": "1",
        "originate-INITIAL_FORMS": "0",
        "originate-MIN_NUM_FORMS": "0",
        "originate-MAX_NUM_FORMS": "1",
        "originate-0-context": "from-office",
        "originate-0-timeout": "30",
    }
    data.update(overrides)
    return data


def test_pbx_secret_is_encrypted_and_never_rendered_back(admin_client):
    response = admin_client.post("/admin/monitor/pbx/add/", pbx_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    pbx = Pbx.objects.get(name="Lab")
    assert pbx.get_secret() == "wb1pass9" and "wb1pass9" not in pbx.secret_encrypted
    page = admin_client.get(f"/admin/monitor/pbx/{pbx.pk}/change/").content.decode()
    assert "wb1pass9" not in page and pbx.secret_encrypted not in page
    assert "Leave empty to keep" in page
    assert pbx.originate.context == "from-office"


def test_empty_secret_keeps_the_stored_one(admin_client):
    admin_client.post("/admin/monitor/pbx/add/", pbx_form())
    pbx = Pbx.objects.get(name="Lab")
    data = pbx_form(secret="", host="127.0.0.2")
    data.update({"originate-INITIAL_FORMS": "1", "originate-0-pbx": str(pbx.pk)})
    response = admin_client.post(f"/admin/monitor/pbx/{pbx.pk}/change/", data)
    assert response.status_code == 302
    pbx.refresh_from_db()
    assert pbx.host == "127.0.0.2" and pbx.get_secret() == "wb1pass9"


def test_new_pbx_needs_a_secret(admin_client):
    response = admin_client.post("/admin/monitor/pbx/add/", pbx_form(secret=""))
    assert response.status_code == 200
    assert "secret is required" in response.content.decode()


def test_test_connection_reports_banner_and_actions(admin_client, sim_port):
    pbx = Pbx(name="Sim", host="127.0.0.1", port=sim_port, username="wallboard1")
    pbx.set_secret("wb1pass9")
    pbx.save()
    response = admin_client.post(
        "/admin/monitor/pbx/",
        {"action": "test_connection", "_selected_action": [pbx.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Asterisk Call Manager" in text
    assert "usable:" in text and "Originate" in text and "endpoints" in text


def test_test_connection_shows_a_refused_login(admin_client, sim_port):
    pbx = Pbx(name="Sim", host="127.0.0.1", port=sim_port, username="wallboard1")
    pbx.set_secret("wrong")
    pbx.save()
    response = admin_client.post(
        "/admin/monitor/pbx/",
        {"action": "test_connection", "_selected_action": [pbx.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in response.context["messages"])
    assert "login as 'wallboard1'" in text and "failed" in text


def test_kiosk_link_is_shown_once_and_revocable(admin_client):
    response = admin_client.post(
        "/admin/monitor/kiosklink/add/", {"name": "Hall", "turn_seconds": 15}, follow=True
    )
    text = " ".join(str(m) for m in response.context["messages"])
    token = text.split("/kiosk/")[1].split("/")[0]
    link = KioskLink.objects.get(name="Hall")
    assert KioskLink.find(token) == link and link.created_by == "root"
    page = admin_client.get(f"/admin/monitor/kiosklink/{link.pk}/change/").content.decode()
    assert token not in page
    admin_client.post(
        "/admin/monitor/kiosklink/", {"action": "revoke", "_selected_action": [link.pk]}
    )
    assert KioskLink.find(token) is None


def test_kiosk_link_says_what_its_screen_shows(admin_client, pbx):
    from monitor.web_models import ExtensionGroup

    sales = ExtensionGroup.objects.create(pbx=pbx, name="Sales", extensions="1001-1002")
    form = admin_client.get("/admin/monitor/kiosklink/add/").content.decode()
    assert 'name="turn_seconds"' in form and 'value="15"' in form and ">Sales</option>" in form
    response = admin_client.post(
        "/admin/monitor/kiosklink/add/",
        {
            "name": "Sales TV",
            "pbx": pbx.pk,
            "queues": "6500, 6501",
            "groups": [sales.pk],
            "turn_seconds": 20,
        },
    )
    assert response.status_code == 302
    link = KioskLink.objects.get(name="Sales TV")
    assert link.queue_names() == {"6500", "6501"} and link.turn_seconds == 20
    assert list(link.groups.all()) == [sales]


def test_kiosk_link_refuses_another_pbxs_group_and_a_short_turn(admin_client, pbx):
    from monitor.web_models import ExtensionGroup
    from tests.web.conftest import build_pbx

    branch = ExtensionGroup.objects.create(pbx=build_pbx("Branch"), name="B", extensions="1")
    response = admin_client.post(
        "/admin/monitor/kiosklink/add/",
        {"name": "TV", "pbx": pbx.pk, "groups": [branch.pk], "turn_seconds": 1},
    )
    form = response.context["adminform"].form
    assert "Not groups of Main: B." in form.errors["groups"][0]
    assert "turn_seconds" in form.errors
    assert not KioskLink.objects.exists()


def test_extension_group_is_edited_in_the_admin(admin_client, pbx):
    from monitor.web_models import ExtensionGroup

    url = "/admin/monitor/extensiongroup/add/"
    response = admin_client.post(url, {"pbx": pbx.pk, "name": "Sales", "extensions": "1005-1001"})
    assert "a range is two numbers, low-high" in response.content.decode()
    response = admin_client.post(url, {"pbx": pbx.pk, "name": "Sales", "extensions": "1001 1003"})
    assert response.status_code == 302
    assert ExtensionGroup.objects.get(name="Sales").resources() == {"1001", "1003"}
    assert admin_client.get("/admin/monitor/extensiongroup/").status_code == 200


def test_api_token_is_shown_once(admin_client):
    response = admin_client.post("/admin/monitor/apitoken/add/", {"name": "bi"}, follow=True)
    text = " ".join(str(m) for m in response.context["messages"])
    token = text.split("API token bi: ")[1].split(" ")[0]
    assert ApiToken.find(token).name == "bi"


def test_audit_log_is_read_only(admin_client, alice):
    entry = AuditEntry.objects.create(user=alice, username="alice", kind="hangup", ok=True)
    assert admin_client.get("/admin/monitor/auditentry/").status_code == 200
    assert admin_client.get("/admin/monitor/auditentry/add/").status_code == 403
    page = admin_client.get(f"/admin/monitor/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"/admin/monitor/auditentry/{entry.pk}/delete/").status_code == 403


def test_owner_viewer_and_stranger_cannot_use_the_admin(owner, viewer, stranger):
    for client in (owner, viewer, stranger):
        for page in ("pbx", "kiosklink", "extensiongroup"):
            assert client.get(f"/admin/monitor/{page}/").status_code == 302


def test_rotate_secrets_reencrypts_with_the_first_key(pbx, settings, capsys):
    old = pbx.secret_encrypted
    settings.FCMDASH_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FCMDASH_ENCRYPTION_KEYS,
    ]
    call_command("rotate_secrets")
    assert "re-encrypted 1 secret" in capsys.readouterr().out
    pbx.refresh_from_db()
    assert pbx.secret_encrypted != old
    settings.FCMDASH_ENCRYPTION_KEYS = settings.FCMDASH_ENCRYPTION_KEYS[:1]
    assert pbx.get_secret() == "s3cret"  # readable with the new key alone
