"""WebSockets through the real ASGI application: origin check, session or kiosk token, groups,
and forwarding of what ``publish`` rendered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from fcmdash.asgi import application
from monitor import broadcast, outbox
from monitor.models import DeviceState, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from monitor.web_models import KioskLink
from tests.support.websocket import ack_of, body

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
        f"pbx.{pbx.pk}.board",
        {"type": "tiles.update", "items": [["x", None, "<p id='x'>hi</p>"]], "full": None},
    )
    assert body(await communicator.receive_from()) == "<p id='x'>hi</p>"
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


def second_queue(pbx: Pbx) -> Queue:
    """Queue "sales" with 1003 as its member and a caller of its own waiting."""
    queue = Queue.objects.create(pbx=pbx, name="sales")
    QueueMember.objects.create(
        pbx=pbx, queue=queue, interface="PJSIP/1003", status=DeviceState.UNAVAILABLE
    )
    QueueCaller.objects.create(
        pbx=pbx,
        queue=queue,
        uniqueid="1700000000.77",
        channel="PJSIP/trunk_1-00000077",
        position=1,
        caller_id_num="0611111111",
        joined_at=timezone.now() - timedelta(seconds=5),
    )
    return queue


async def everything_changed(pbx: Pbx) -> None:
    """Publish every tile of the PBX as changed, as a busy flush would."""

    def ids(model):
        return list(model.objects.filter(pbx=pbx).values_list("pk", flat=True))

    changes = {"pbx": pbx.pk, "status": True}
    for key, model in (
        ("endpoints", Endpoint),
        ("queues", Queue),
        ("members", QueueMember),
        ("callers", QueueCaller),
    ):
        changes[key] = await sync_to_async(ids)(model)
    await broadcast.publish(pbx.pk, changes)


async def received(communicator: WebsocketCommunicator) -> str:
    """Everything the socket got until it went quiet, acknowledged as a page does."""
    texts = []
    while not await communicator.receive_nothing(timeout=0.3):
        message = await communicator.receive_from()
        texts.append(body(message))
        await communicator.send_to(text_data=ack_of(message))
    return "\n".join(texts)


async def test_a_kiosk_link_limited_to_a_queue_hears_nothing_of_another_queue(pbx):
    sales = await sync_to_async(second_queue)(pbx)
    support = await Queue.objects.aget(pbx=pbx, name="6500")
    link = KioskLink(name="Sales TV", pbx=pbx, queues="sales")
    token = link.issue()
    await link.asave()
    kiosk, ok = await open_socket(f"/ws/kiosk/{token}/", [ORIGIN])
    assert ok
    await everything_changed(pbx)
    seen = await received(kiosk)
    e1001, e1003 = [await Endpoint.objects.aget(pbx=pbx, resource=r) for r in ("1001", "1003")]
    assert f'id="queue-{sales.pk}"' in seen and f'id="endpoint-{e1003.pk}"' in seen
    assert f'id="pbx-status-{pbx.pk}"' in seen
    # Not the other queue, its waiting caller's number, its members' extensions; no rows.
    for other in (f'id="queue-{support.pk}"', "0301234567", f'id="endpoint-{e1001.pk}"'):
        assert other not in seen
    assert 'id="member-' not in seen and 'id="caller-' not in seen
    await kiosk.disconnect()


async def test_a_queue_page_socket_hears_only_its_queue(pbx, alice):
    sales = await sync_to_async(second_queue)(pbx)
    support = await Queue.objects.aget(pbx=pbx, name="6500")
    headers = await sync_to_async(session_headers)(alice)
    page, ok = await open_socket(f"/ws/live/?pbx={pbx.pk}&page=queue:{support.pk}", headers)
    assert ok
    await everything_changed(pbx)
    seen = await received(page)
    assert f'id="queue-{support.pk}"' in seen and "0301234567" in seen  # its waiting caller
    assert ">Pause</button>" in seen or ">Unpause</button>" in seen  # its members, with controls
    assert f'id="queue-{sales.pk}"' not in seen and "0611111111" not in seen
    assert "PJSIP/1003" not in seen
    await page.disconnect()


async def test_a_wallboard_filtered_by_queue_follows_its_members(pbx, alice):
    sales = await sync_to_async(second_queue)(pbx)
    headers = await sync_to_async(session_headers)(alice)
    board, ok = await open_socket(f"/ws/live/?pbx={pbx.pk}&board=1&queue=sales", headers)
    assert ok
    await everything_changed(pbx)
    await received(board)
    e1002 = await Endpoint.objects.aget(pbx=pbx, resource="1002")
    # 1002 joins sales: the board's page must show it now, so it is told to refresh.
    member = await QueueMember.objects.acreate(
        pbx=pbx, queue=sales, interface="PJSIP/1002", status=DeviceState.NOT_INUSE
    )
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "members": [member.pk]})
    assert outbox.REFRESH in await received(board)
    e1002.name = "Now in sales"
    await e1002.asave()
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [e1002.pk]})
    assert "Now in sales" in await received(board)
    await board.disconnect()


async def test_a_socket_that_never_acknowledges_is_closed_so_the_page_reloads(pbx, monkeypatch):
    monkeypatch.setattr(outbox, "STALL_SECONDS", 0.5)
    link = KioskLink(name="Hall TV")
    token = link.issue()
    await link.asave()
    kiosk, ok = await open_socket(f"/ws/kiosk/{token}/", [ORIGIN])
    assert ok
    await everything_changed(pbx)
    assert await kiosk.receive_from()  # read, never acknowledged
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1002")
    for n in range(3):  # the stall shows at the next update, or by the timer
        endpoint.name = f"Agent {n}"
        await endpoint.asave()
        await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [endpoint.pk]})
    output = await kiosk.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await kiosk.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": outbox.CLOSE_STALLED}


async def test_a_disabled_pbx_is_not_joined(pbx, bob):
    await Pbx.objects.filter(pk=pbx.pk).aupdate(enabled=False)
    headers = await sync_to_async(session_headers)(bob)
    communicator, ok = await open_socket(f"/ws/live/?pbx={pbx.pk}", headers)
    assert ok
    await everything_changed(pbx)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_wallboard_filtered_by_extension_group_hears_only_its_extensions(pbx, bob):
    from monitor.web_models import ExtensionGroup

    group = await ExtensionGroup.objects.acreate(pbx=pbx, name="Front desk", extensions="1002")
    headers = await sync_to_async(session_headers)(bob)
    board, ok = await open_socket(f"/ws/live/?pbx={pbx.pk}&board=1&group={group.pk}", headers)
    assert ok
    await everything_changed(pbx)
    seen = await received(board)
    e1001, e1002 = [await Endpoint.objects.aget(pbx=pbx, resource=r) for r in ("1001", "1002")]
    assert f'id="endpoint-{e1002.pk}"' in seen and f'id="endpoint-{e1001.pk}"' not in seen
    queue = await Queue.objects.aget(pbx=pbx, name="6500")
    assert f'id="queue-{queue.pk}"' in seen  # a department limits the extensions, not the queues
    await board.disconnect()


async def test_an_id_too_big_for_the_database_is_ignored(pbx, bob):
    headers = await sync_to_async(session_headers)(bob)
    huge = "9" * 30
    for path in (
        f"/ws/live/?pbx={huge}",
        f"/ws/live/?pbx={pbx.pk}&page=queue:{huge}",
        f"/ws/live/?pbx={huge}&board=1&group={huge}",
    ):
        communicator, ok = await open_socket(path, headers)
        assert ok
        await communicator.disconnect()
