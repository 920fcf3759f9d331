"""WebSockets through the real ASGI application: origin check, session or kiosk token, groups,
and forwarding of what ``publish`` rendered."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from fcmdash.asgi import application
from monitor import broadcast
from monitor.models import Endpoint, QueueMember
from monitor.web_models import KioskLink

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://127.0.0.1")


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]


async def open_socket(path: str, headers) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def test_socket_without_session_is_refused(pbx):
    communicator, connected = await open_socket(f"/ws/live/?pbx={pbx.pk}", [ORIGIN])
    assert not connected


async def test_cross_origin_socket_is_refused(pbx, bob):
    headers = await sync_to_async(session_headers)(bob)
    headers = [(b"origin", b"http://evil.example")] + headers[1:]
    communicator, connected = await open_socket(f"/ws/live/?pbx={pbx.pk}", headers)
    assert not connected


async def test_stranger_socket_is_refused(pbx, charlie):
    headers = await sync_to_async(session_headers)(charlie)
    communicator, connected = await open_socket(f"/ws/live/?pbx={pbx.pk}", headers)
    assert not connected


async def test_viewer_gets_read_only_tiles_and_owner_gets_controls(pbx, alice, bob):
    viewer, ok1 = await open_socket(
        f"/ws/live/?pbx={pbx.pk}", await sync_to_async(session_headers)(bob)
    )
    owner, ok2 = await open_socket(
        f"/ws/live/?pbx={pbx.pk}", await sync_to_async(session_headers)(alice)
    )
    assert ok1 and ok2
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [endpoint.pk]})
    seen_by_viewer = await viewer.receive_from()
    seen_by_owner = await owner.receive_from()
    assert f'id="endpoint-{endpoint.pk}"' in seen_by_viewer and "Call&#8230;" not in seen_by_viewer
    assert "Call&#8230;" in seen_by_owner
    await viewer.disconnect()
    await owner.disconnect()


async def test_readonly_socket_of_a_supervisor_gets_no_controls(pbx, alice):
    headers = await sync_to_async(session_headers)(alice)
    kiosk, ok = await open_socket(f"/ws/live/?pbx={pbx.pk}&readonly=1", headers)
    assert ok
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [endpoint.pk]})
    assert "Call&#8230;" not in await kiosk.receive_from()
    await kiosk.disconnect()


async def test_wallboard_socket_hears_the_board_groups_only(pbx, alice):
    headers = await sync_to_async(session_headers)(alice)
    board, ok1 = await open_socket(f"/ws/live/?pbx={pbx.pk}&board=1", headers)
    page, ok2 = await open_socket(f"/ws/live/?pbx={pbx.pk}", headers)
    assert ok1 and ok2
    member = await QueueMember.objects.aget(interface="PJSIP/1001")
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "members": [member.pk]})
    assert f'id="member-{member.pk}"' in await page.receive_from()
    assert await board.receive_nothing(timeout=0.2)
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [endpoint.pk]})
    seen = await board.receive_from()
    assert f'id="endpoint-{endpoint.pk}"' in seen and "Call&#8230;" in seen
    await board.disconnect()
    await page.disconnect()


async def test_socket_only_hears_the_pbxes_it_asked_for(pbx, bob):
    from tests.web.conftest import build_pbx

    other = await sync_to_async(build_pbx)("Branch")
    headers = await sync_to_async(session_headers)(bob)
    communicator, ok = await open_socket(f"/ws/live/?pbx={other.pk}", headers)
    assert ok
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [endpoint.pk]})
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_kiosk_token_opens_a_read_only_socket(pbx):
    link = KioskLink(name="Hall TV")
    token = link.issue()
    await link.asave()
    communicator, ok = await open_socket(f"/ws/kiosk/{token}/", [ORIGIN])
    assert ok
    await get_channel_layer().group_send(
        f"pbx.{pbx.pk}.board", {"type": "tiles.update", "html": "<p id='x'>hi</p>"}
    )
    assert await communicator.receive_from() == "<p id='x'>hi</p>"
    await communicator.disconnect()


async def test_bad_or_revoked_kiosk_token_is_refused(pbx):
    link = KioskLink(name="Hall TV", revoked_at=timezone.now())
    token = link.issue()
    await link.asave()
    for path in (f"/ws/kiosk/{token}/", "/ws/kiosk/nope/"):
        communicator, ok = await open_socket(path, [ORIGIN])
        assert not ok


async def test_revoking_a_kiosk_link_closes_its_sockets(pbx):
    from monitor.admin import close_kiosk_sockets

    link = KioskLink(name="Hall TV")
    token = link.issue()
    await link.asave()
    communicator, ok = await open_socket(f"/ws/kiosk/{token}/", [ORIGIN])
    assert ok
    await sync_to_async(close_kiosk_sockets)(link.pk)
    output = await communicator.receive_output()
    assert output == {"type": "websocket.close", "code": 4403}
