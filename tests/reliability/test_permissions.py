"""Everyone who may not act tries anyway, with a live worker serving a simulated PBX: a viewer,
a stranger, an anonymous visitor, a kiosk screen, an API token, a socket without a session or
from another site, a form without its CSRF token, someone reading another user's audit
entries. Each is refused, and the PBX receives nothing.

``tests/web`` checks each rule on its own (views with a stand-in worker, the consumers); here
they run as attacks on the whole, with the PBX's own log of received actions as the witness.
"""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import AsyncClient, Client

from fcmdash.asgi import application
from monitor.models import Call, QueueMember
from monitor.web_models import ApiToken, AuditEntry, KioskLink
from tests.web.conftest import make_user

from .test_injection import live_pbx, sent_since

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"
CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')


async def client_for(user: User | None, *, csrf: bool = True) -> tuple[AsyncClient, dict]:
    """A client that enforces CSRF as a browser does, and the headers a page's htmx sends."""
    client = AsyncClient(enforce_csrf_checks=True)
    if user is None:
        return client, {"HX-Request": "true"}
    await client.aforce_login(user)
    page = await client.get("/")
    found = CSRF.search(page.content.decode())
    headers = {"HX-Request": "true"}
    if csrf and found:
        headers["X-CSRFToken"] = found.group(1)
    return client, headers


async def writes(pbx_id: int) -> dict[str, dict]:
    member = await QueueMember.objects.filter(pbx_id=pbx_id).afirst()
    call = await Call.objects.filter(pbx_id=pbx_id).afirst()
    return {
        "/actions/hangup/": {"call": call.pk},
        "/actions/originate/": {"extension": "1001", "number": "1004"},
        "/actions/pause/": {"member": member.pk, "paused": "1", "reason": "x"},
    }


async def refused_everywhere(spy, pbx_id: int, client, headers, what: str, record) -> None:  # noqa: ANN001
    mark = len(spy.received)
    for path, data in (await writes(pbx_id)).items():
        response = await client.post(path, data, headers=headers)
        assert response.status_code in (401, 403), (what, path, response.status_code)
        record(SECURITY, what, "refused")
    assert sent_since(spy, mark) == [], what
    assert not await AuditEntry.objects.aexists()  # not even counted as an attempt to act


async def test_people_without_the_right_cannot_act(sim, spy, record):
    async with live_pbx(sim) as (pbx_id, _):
        viewer = await sync_to_async(make_user)("bob", "Viewers")
        stranger = await sync_to_async(make_user)("charlie")
        for user, what in (
            (viewer, "viewer's POST to an action"),
            (stranger, "logged-in user without a group: POST to an action"),
            (None, "anonymous POST to an action"),
        ):
            client, headers = await client_for(user)
            await refused_everywhere(spy, pbx_id, client, headers, what, record)
        # The same request by a supervisor goes through: the refusals are not an accident.
        alice = await sync_to_async(make_user)("alice", "Supervisors")
        client, headers = await client_for(alice)
        mark = len(spy.received)
        data = (await writes(pbx_id))["/actions/pause/"]
        response = await client.post("/actions/pause/", data, headers=headers)
        assert response.status_code == 200 and "queuepause" in sent_since(spy, mark)


async def test_a_kiosk_link_or_an_api_token_cannot_be_used_for_a_write(sim, spy, record):
    async with live_pbx(sim) as (pbx_id, _):
        link = KioskLink(name="Hall TV")
        kiosk_token = link.issue()
        await link.asave()
        api = ApiToken(name="scripts")
        api_token = api.issue()
        await api.asave()
        # A screen that opened its kiosk link has no session to act with.
        screen = AsyncClient(enforce_csrf_checks=True)
        assert (await screen.get(f"/kiosk/{kiosk_token}/")).status_code == 200
        await refused_everywhere(
            spy, pbx_id, screen, {"HX-Request": "true"}, "kiosk screen: POST to an action", record
        )
        for token, what in ((kiosk_token, "kiosk token"), (api_token, "API token")):
            bearer = {"HX-Request": "true", "Authorization": f"Bearer {token}"}
            await refused_everywhere(
                spy, pbx_id, AsyncClient(), bearer, f"{what} as Bearer on an action", record
            )
        # The kiosk socket: whatever the screen sends is never acted on.
        communicator = WebsocketCommunicator(
            application, f"/ws/kiosk/{kiosk_token}/", headers=[(b"origin", b"http://127.0.0.1")]
        )
        assert (await communicator.connect())[0]
        mark = len(spy.received)
        for frame in (
            '{"kind": "hangup", "channels": ["PJSIP/1005-00000001"]}',
            '{"HEADERS": {"HX-Request": "true"}, "call": "1"}',
        ):
            await communicator.send_to(text_data=frame)
            record(SECURITY, "kiosk WebSocket sending an action", "refused")
        assert await communicator.receive_nothing(0.3)
        await communicator.disconnect()
        assert sent_since(spy, mark) == []


def _session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def test_sockets_without_a_session_from_another_site_or_revoked_are_refused(sim, record):
    async with live_pbx(sim) as (pbx_id, _):
        bob = await sync_to_async(make_user)("bob", "Viewers")
        charlie = await sync_to_async(make_user)("charlie")
        cookie = await sync_to_async(_session_cookie)(bob)
        stranger_cookie = await sync_to_async(_session_cookie)(charlie)
        revoked = KioskLink(name="old TV")
        revoked_token = revoked.issue()
        revoked.revoked_at = revoked.created_at
        await revoked.asave()
        live = f"/ws/live/?pbx={pbx_id}"
        here = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")]
        attempts = {
            "WebSocket without a session": (live, here),
            "WebSocket of a user without the view permission": (
                live,
                [*here, (b"cookie", stranger_cookie)],
            ),
            "cross-origin WebSocket (another site)": (
                live,
                [
                    (b"host", b"127.0.0.1:8000"),
                    (b"origin", b"http://evil.example"),
                    (b"cookie", cookie),
                ],
            ),
            "cross-origin WebSocket (same host, another port)": (
                live,
                [
                    (b"host", b"127.0.0.1:8000"),
                    (b"origin", b"http://127.0.0.1:9999"),
                    (b"cookie", cookie),
                ],
            ),
            "WebSocket without an Origin": (
                live,
                [(b"host", b"127.0.0.1:8000"), (b"cookie", cookie)],
            ),
            "WebSocket with a revoked kiosk token": (f"/ws/kiosk/{revoked_token}/", here),
            "WebSocket with a made-up kiosk token": ("/ws/kiosk/kiosk_guess/", here),
        }
        for what, (path, headers) in attempts.items():
            communicator = WebsocketCommunicator(application, path, headers=headers)
            connected, _ = await communicator.connect()
            assert not connected, what
            record(SECURITY, what, "refused")
        # With the session, from the site itself: accepted.
        ok = WebsocketCommunicator(application, live, headers=[*here, (b"cookie", cookie)])
        assert (await ok.connect())[0]
        await ok.disconnect()


async def test_a_form_without_its_csrf_token_is_refused(sim, spy, record):
    async with live_pbx(sim) as (pbx_id, _):
        alice = await sync_to_async(make_user)("alice", "Supervisors")
        client, headers = await client_for(alice, csrf=False)
        await refused_everywhere(
            spy, pbx_id, client, headers, "supervisor's POST without CSRF token", record
        )
        forged = {**headers, "X-CSRFToken": "x" * 64}
        await refused_everywhere(
            spy, pbx_id, client, forged, "supervisor's POST with a forged CSRF token", record
        )


def test_nobody_reads_another_users_audit_entries(record, db):
    alice = make_user("alice", "Supervisors")
    bob = make_user("bob", "Viewers")
    clerk = User.objects.create_user("clerk", password="x" * 12, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_pbx"))
    entry = AuditEntry.objects.create(
        user=alice,
        username="alice",
        kind="hangup",
        params={"channels": ["PJSIP/1001-1"]},
        answer="ok",
    )
    for user, expected in ((bob, (302,)), (alice, (302,)), (clerk, (403,)), (None, (302,))):
        client = Client()
        if user is not None:
            client.force_login(user)
        for path in ("/admin/monitor/auditentry/", f"/admin/monitor/auditentry/{entry.pk}/change/"):
            response = client.get(path)
            assert response.status_code in expected, (user, path, response.status_code)
            assert "PJSIP/1001-1" not in response.content.decode()
        # Nor through the state API, which has no audit entries at all.
        if user is not None:
            assert "PJSIP/1001-1" not in client.get("/api/v1/state").content.decode()
        record(SECURITY, "reading another user's audit entries", "refused", times=2)
