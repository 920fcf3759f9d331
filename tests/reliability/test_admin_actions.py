"""Admin actions against a staff user who may only look (issue 11, item 3): *Revoke* on kiosk
links and API tokens and *Test connection* on PBXes are not offered to them, and a forged POST
of each changes nothing and reaches no PBX. A staff user with the change permissions runs them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from monitor.models import Pbx
from monitor.web_models import ApiToken, KioskLink
from tests.web.test_admin import sim_port  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db
SECURITY = "security"
MODELS = ("pbx", "kiosklink", "apitoken")


def staff(username: str, *actions: str) -> Client:
    """A logged-in staff user holding ``<action>_<model>`` for each of :data:`MODELS`."""
    user = User.objects.create_user(username, password="x" * 12, is_staff=True)
    codenames = [f"{action}_{model}" for action in actions for model in MODELS]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that records whether anything connected: a PBX address nobody may dial."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.setblocking(False)
        yield sock


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def targets(port: int) -> dict[str, tuple[str, str, int]]:
    """changelist URL, action and the row it acts on, per admin action."""
    pbx = Pbx(name="Lab", host="127.0.0.1", port=port, username="wallboard1")
    pbx.set_secret("wb1pass9")
    pbx.save()
    link, token = KioskLink(name="Hall"), ApiToken(name="script")
    for obj in (link, token):
        obj.issue()
        obj.save()
    return {
        "Test connection": ("/admin/monitor/pbx/", "test_connection", pbx.pk),
        "Revoke kiosk link": ("/admin/monitor/kiosklink/", "revoke", link.pk),
        "Revoke API token": ("/admin/monitor/apitoken/", "revoke", token.pk),
    }


def messages_of(response) -> str:  # noqa: ANN001
    return " ".join(str(m) for m in response.context["messages"])


def test_a_view_only_staff_user_is_neither_offered_nor_allowed_the_actions(listener, record):
    viewer = staff("looker", "view")
    for what, (url, action, pk) in targets(listener.getsockname()[1]).items():
        page = viewer.get(url)
        assert page.status_code == 200, what
        assert f'value="{action}"' not in page.content.decode(), what
        forged = viewer.post(url, {"action": action, "_selected_action": [pk]}, follow=True)
        # Without an action it may run, the changelist is just shown again.
        assert forged.status_code == 200, what
        assert "Revoked" not in messages_of(forged) and "Lab:" not in messages_of(forged), what
        assert not connected(listener), what
        record(SECURITY, "view-only staff user's forged POST of an admin action", "refused")
    assert not KioskLink.objects.exclude(revoked_at=None).exists()
    assert not ApiToken.objects.exclude(revoked_at=None).exists()


def test_a_staff_user_who_may_change_runs_the_actions(sim_port):  # noqa: F811
    editor = staff("editor", "view", "change")
    for what, (url, action, pk) in targets(sim_port).items():
        assert f'value="{action}"' in editor.get(url).content.decode(), what
        done = editor.post(url, {"action": action, "_selected_action": [pk]}, follow=True)
        text = messages_of(done)
        assert ("Revoked 1." in text) if action == "revoke" else ("usable:" in text), what
    assert not KioskLink.objects.filter(revoked_at=None).exists()
    assert not ApiToken.objects.filter(revoked_at=None).exists()
