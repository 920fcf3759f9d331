"""``publish``: the changed tiles, rendered once per group from the pages' partials."""

from __future__ import annotations

import logging

import pytest

from monitor import broadcast, tiles
from monitor.models import Endpoint, Queue, QueueMember

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingLayer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.fail = fail

    async def group_send(self, group: str, message: dict) -> None:
        if self.fail:
            raise ConnectionError("Redis is away")
        self.sent.append((group, message))


@pytest.fixture
def layer(monkeypatch):
    recording = RecordingLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: recording)
    return recording


def summary(pbx, **changes) -> dict:
    return {"pbx": pbx.pk, "full": False, "status": False, **changes}


def joined(message: dict) -> str:
    return "\n".join(html for _, _, html in message["items"])


async def test_publish_sends_once_per_group_that_shows_the_tile(pbx, layer):
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    await broadcast.publish(pbx.pk, summary(pbx, endpoints=[endpoint.pk]))
    assert [group for group, _ in layer.sent] == [
        f"pbx.{pbx.pk}.board",
        f"pbx.{pbx.pk}.board.control",
        f"pbx.{pbx.pk}.detail",
        f"pbx.{pbx.pk}.detail.control",
    ]
    assert all(m["type"] == "tiles.update" for _, m in layer.sent)
    tile_id, tags, html = layer.sent[0][1]["items"][0]
    assert tile_id == f"endpoint-{endpoint.pk}" and list(tags[1]) == [endpoint.pk]
    assert html.startswith(f'<article id="endpoint-{endpoint.pk}"')


def test_wallboard_groups_get_only_what_a_wallboard_shows(pbx, owner):
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1001")
    queue = Queue.objects.get(pbx=pbx)
    member = QueueMember.objects.get(interface="PJSIP/1001")
    changes = summary(
        pbx,
        endpoints=[endpoint.pk],
        queues=[queue.pk],
        members=[member.pk],
        conversations=["1700000000.2"],
        conversations_removed=["1700000000.99"],
        endpoints_removed=[88888],
    )
    html = broadcast.render_summary(pbx.pk, changes)
    board = html[f"pbx.{pbx.pk}.board.control"]
    everything = html[f"pbx.{pbx.pk}.detail.control"]
    for wanted in (f'id="endpoint-{endpoint.pk}"', f'id="queue-{queue.pk}"', 'id="endpoint-88888"'):
        assert wanted in board and wanted in everything
    calls = (f'id="call-{pbx.pk}-1700000000_2"', f'id="call-{pbx.pk}-1700000000_99"')
    for left_out in (f'id="member-{member.pk}"', *calls):
        assert left_out not in board and left_out in everything
    calls = html[f"pbx.{pbx.pk}.calls.control"]
    assert f'id="call-{pbx.pk}-1700000000_2"' in calls and '<article id="endpoint-' not in calls
    assert "Call&#8230;" in board  # still the supervisor's tiles
    assert "Call&#8230;" not in html[f"pbx.{pbx.pk}.board"]
    # what the board groups get is what the wallboard page shows
    page = owner.get("/").content.decode()
    for fragment in board.split("\n<"):
        fragment = fragment if fragment.startswith("<") else "<" + fragment
        if "hx-swap-oob" not in fragment:
            assert fragment in page


def test_a_flush_with_nothing_for_wallboards_sends_them_nothing(pbx):
    member = QueueMember.objects.get(interface="PJSIP/1001")
    html = broadcast.render_summary(pbx.pk, summary(pbx, members=[member.pk]))
    assert set(html) == {f"pbx.{pbx.pk}.detail", f"pbx.{pbx.pk}.detail.control"}


def test_update_is_the_pages_partial(pbx, owner, viewer):
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1001")
    html = broadcast.render_summary(pbx.pk, summary(pbx, endpoints=[endpoint.pk]))
    loaded = tiles.load_endpoints([endpoint])[0]
    view_tile = tiles.render("endpoint", loaded, controls=False)
    control_tile = tiles.render("endpoint", loaded, controls=True)
    assert html[f"pbx.{pbx.pk}.board"] == view_tile
    assert html[f"pbx.{pbx.pk}.detail.control"] == control_tile
    assert view_tile in viewer.get("/").content.decode()
    assert control_tile in owner.get("/").content.decode()
    assert "Call&#8230;" in control_tile and "Call&#8230;" not in view_tile


def test_queue_and_member_updates_match_the_queue_page(pbx, owner):
    queue = Queue.objects.get(pbx=pbx)
    member = QueueMember.objects.get(interface="PJSIP/1001")
    html = broadcast.render_summary(pbx.pk, summary(pbx, queues=[queue.pk], members=[member.pk]))[
        f"pbx.{pbx.pk}.detail.control"
    ]
    page = owner.get(f"/queues/{queue.pk}/").content.decode()
    for fragment in html.split("\n<"):
        fragment = fragment if fragment.startswith("<") else "<" + fragment
        assert fragment in page


def test_a_tile_is_sent_again_only_when_its_html_changed(pbx):
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1001")
    changes = summary(pbx, endpoints=[endpoint.pk])
    assert broadcast.render_summary(pbx.pk, changes)
    # The worker wrote the row again, saying what it said: nothing for the pages.
    assert broadcast.render_summary(pbx.pk, changes) == {}
    endpoint.name = "Reception desk"
    endpoint.save()
    html = broadcast.render_summary(pbx.pk, changes)[f"pbx.{pbx.pk}.board"]
    assert "Reception desk" in html
    # After a resync every tile goes out again, changed or not.
    full = broadcast.render_summary(pbx.pk, {"pbx": pbx.pk, "full": True})[f"pbx.{pbx.pk}.board"]
    assert f'id="endpoint-{endpoint.pk}"' in full


def test_a_removal_carries_the_tags_its_tile_was_sent_with(pbx):
    member = QueueMember.objects.get(interface="PJSIP/1001")
    items, _ = broadcast.render_items(pbx.pk, summary(pbx, members=[member.pk]))
    sent_tags = items[0].tags
    assert sent_tags[0] == (member.queue_id,)
    items, regrouped = broadcast.render_items(pbx.pk, summary(pbx, members_removed=[member.pk]))
    assert [(i.id, i.tags) for i in items] == [(f"member-{member.pk}", sent_tags)]
    assert regrouped == {member.queue_id}  # a member left: boards of that queue follow


def test_a_member_joining_a_queue_tells_the_boards(pbx):
    broadcast.render_messages(pbx.pk, {"pbx": pbx.pk, "full": True})
    queue = Queue.objects.get(pbx=pbx)
    member = QueueMember.objects.create(pbx=pbx, queue=queue, interface="PJSIP/1003")
    messages = broadcast.render_messages(pbx.pk, summary(pbx, members=[member.pk]))
    assert messages[f"pbx.{pbx.pk}.board"]["regrouped"] == [member.queue_id]
    assert messages[f"pbx.{pbx.pk}.board"]["items"] == []
    # Known now: a change of its state alone is not news for the boards.
    member.paused = True
    member.save()
    messages = broadcast.render_messages(pbx.pk, summary(pbx, members=[member.pk]))
    assert f"pbx.{pbx.pk}.board" not in messages and f"pbx.{pbx.pk}.detail" in messages


def test_removals_are_oob_deletes(pbx):
    changes = summary(
        pbx,
        calls_removed=[41],
        conversations_removed=["pbx1-1700000000.7"],
        endpoints_removed=[7],
        callers_removed=[3],
    )
    html = broadcast.render_summary(pbx.pk, changes)[f"pbx.{pbx.pk}.detail"]
    assert '<div id="endpoint-7" hx-swap-oob="delete"></div>' in html
    assert '<div id="caller-3" hx-swap-oob="delete"></div>' in html
    # A call row goes with its conversation, not with one of its channels.
    assert f'<div id="call-{pbx.pk}-pbx1-1700000000_7" hx-swap-oob="delete"></div>' in html
    assert 'id="call-41"' not in html


def test_status_change_sends_the_banner_to_every_page(pbx):
    pbx.connected = False
    pbx.stale_since = pbx.synced_at
    pbx.save()
    html = broadcast.render_summary(pbx.pk, summary(pbx, status=True))
    assert set(html) == {
        f"pbx.{pbx.pk}.{view}{controls}"
        for view in broadcast.VIEWS
        for controls in ("", ".control")
    }
    status = html[f"pbx.{pbx.pk}.status"]
    assert status.startswith(f'<div id="pbx-status-{pbx.pk}"')
    assert "unreachable since" in status and "data-stale" in status


def test_full_sends_every_tile_with_its_token(pbx):
    messages = broadcast.render_messages(pbx.pk, {"pbx": pbx.pk, "full": True})
    message = messages[f"pbx.{pbx.pk}.detail"]
    html = joined(message)
    for endpoint in Endpoint.objects.filter(pbx=pbx):
        assert f'id="endpoint-{endpoint.pk}"' in html
    assert html.count('class="row row--call ') == 1  # two channels, one conversation
    assert f'id="call-{pbx.pk}-1700000000_2"' in html
    assert f'id="pbx-status-{pbx.pk}"' in html
    assert message["full"].startswith(f"{pbx.pk}-")
    assert {m["full"] for m in messages.values()} == {message["full"]}


def test_nothing_changed_sends_nothing(pbx):
    assert broadcast.render_summary(pbx.pk, summary(pbx)) == {}
    assert broadcast.render_summary(99999, summary(pbx, endpoints=[1])) == {}


async def test_publish_survives_a_dead_channel_layer_and_logs_once(pbx, monkeypatch, caplog):
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: RecordingLayer(fail=True))
    monkeypatch.setattr(broadcast, "_layer_down", False)
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    with caplog.at_level(logging.WARNING, logger="monitor.broadcast"):
        await broadcast.publish(pbx.pk, summary(pbx, endpoints=[endpoint.pk]))
        await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "full": True})
    assert len([r for r in caplog.records if "channel layer" in r.getMessage()]) == 1


async def test_publish_renders_new_calls_for_the_calls_extension_and_queue_pages(pbx, layer):
    trunk = await Endpoint.objects.acreate(pbx=pbx, resource="trunk_1")
    endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
    queue = await Queue.objects.aget(pbx=pbx, name="6500")
    await broadcast.publish(pbx.pk, summary(pbx, calls=[1], conversations=["1700000000.2"]))
    groups = dict(layer.sent)
    html = joined(groups[f"pbx.{pbx.pk}.calls.control"])
    parents = f"calls-pbx-{pbx.pk} endpoint-{trunk.pk}-calls endpoint-{endpoint.pk}-calls"
    assert f'data-parent="{parents} queue-{queue.pk}-calls"' in html
    assert ">Hang up</button>" in html
    assert ">Hang up</button>" not in joined(groups[f"pbx.{pbx.pk}.calls"])
    assert joined(groups[f"pbx.{pbx.pk}.detail.control"]) == html
    tags = groups[f"pbx.{pbx.pk}.calls"]["items"][0][1]
    assert tuple(tags[0]) == (queue.pk,) and set(tags[1]) == {trunk.pk, endpoint.pk}


def test_a_channel_change_renders_its_whole_conversation_once(pbx):
    # Only the agent's channel changed: the row still names both parties.
    html = broadcast.render_summary(pbx.pk, summary(pbx, conversations=["1700000000.2"]))
    row = html[f"pbx.{pbx.pk}.calls"]
    assert row.count('class="row row--call ') == 1
    assert "Customer" in row and "0309876543" in row and "Agent 1001" in row
