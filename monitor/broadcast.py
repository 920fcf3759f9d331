"""Live updates: the tiles a flush changed, rendered once per group and sent to the pages.

The worker calls :func:`publish` after each database flush with the flush's summary. A page's
socket joins one group per PBX, named for what the page shows and whether it has supervisor
controls (:func:`group`):

- ``pbx.<id>.board``: wallboards and kiosk screens: the PBX's status, queues and extensions;
- ``pbx.<id>.calls``: the calls page: the status and the calls;
- ``pbx.<id>.detail``: queue and extension pages: every kind of tile (the socket keeps those of
  its queue or extension, :mod:`monitor.consumers`);
- ``pbx.<id>.status``: pages without live tiles: the status alone;

each with a ``.control`` twin whose tiles carry the supervisor buttons. A call, a member or a
waiting caller changes several times per call; leaving those tiles out of the messages of the
pages that do not show them made a wallboard's about half as big, and every byte goes through
Redis and Daphne once per open socket (bench/pipeline.py).

A message is ``{"type": "tiles.update", "items": [[id, tags, html], ...], "full": token}``:
``tags`` is ``None`` (every page of the group shows it) or ``[queue pks, endpoint pks]``, which
a socket limited to some queues or extensions compares with its own (a kiosk link limited to a
queue receives nothing of another queue). The consumer turns items into the socket's messages:
htmx-style out-of-band HTML, one top-level element per tile with the id of the element it
replaces. A tile whose id is not on the page yet is inserted into the first of its
``data-parent`` containers that is (``static/js/fcmdash.js``); a removed row is an element with
``hx-swap-oob="delete"``. After a resync (``full``) every tile of the PBX is sent, and the page
then drops the tiles of that PBX that the update did not name.

A PBX's day (the Today page's and the agent board's tile, one per PBX, and the queue cards'
numbers of the day) is rendered when the recorder wrote rows (the summary's ``"history"``), at
most every :data:`DAY_INTERVAL` seconds per PBX, and never more than half the time
(:func:`day_changed`): a busy PBX writes rows at
every flush, and a day's tile reads all of its calls. Its groups are ``pbx.<id>.today`` and
``pbx.<id>.agents`` (no controls on either); a Today page of a past day joins neither.

Only tiles whose HTML changed are sent: a flush names every row it wrote, and most writes (a
device state event that says what the row says, a member's counter the wallboard does not show)
leave the tile's HTML as it was. :class:`Sent` remembers a digest and the tags of each tile sent
per PBX, which also gives a removed row's tags (its row is gone from the database by then).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from django.utils.html import format_html

from . import tiles
from .history.days import today_window
from .history.sections import agent_board, today_section
from .history_models import ReportSettings
from .models import Call, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from .state import conversations

log = logging.getLogger(__name__)

# summary key of the removed rows -> their kind, the id prefix of their elements
REMOVALS = {
    "endpoints_removed": "endpoint",
    "queues_removed": "queue",
    "members_removed": "member",
    "callers_removed": "caller",
}
# Kinds whose tiles have no controls: rendered once for both groups.
SAME_FOR_ALL = frozenset({"pbx", "queue", "caller"})
# What each view's pages show.
VIEWS: dict[str, frozenset[str]] = {
    "board": frozenset({"pbx", "endpoint", "queue"}),
    "calls": frozenset({"pbx", "call"}),
    "detail": frozenset({"pbx", "endpoint", "queue", "member", "caller", "call"}),
    "status": frozenset({"pbx"}),
}
# The day's views: their one tile per PBX, rendered by render_day_messages.
DAY_VIEWS = ("today", "agents")
DAY_INTERVAL = 2.0  # seconds between two renders of a PBX's day
_layer_down = False

Tags = tuple[tuple[int, ...], tuple[int, ...]] | None


def group(pbx_id: int, view: str, *, controls: bool) -> str:
    return f"pbx.{pbx_id}.{view}" + (".control" if controls else "")


@dataclass
class Item:
    """One tile (or removal) of a flush."""

    id: str
    kind: str
    tags: Tags
    view: str  # read-only HTML
    control: str  # with supervisor controls


@dataclass
class Sent:
    """Per PBX: a digest of each tile's last sent HTML, and its tags."""

    digests: dict[str, bytes] = field(default_factory=dict)
    tags: dict[str, Tags] = field(default_factory=dict)

    def changed(self, item: Item) -> bool:
        """Whether ``item`` differs from what was sent last for its id; remembers it."""
        digest = hashlib.blake2b(item.view.encode(), digest_size=8)
        if item.control is not item.view:
            digest.update(item.control.encode())
        value = digest.digest()
        if self.digests.get(item.id) == value:
            return False
        self.digests[item.id] = value
        self.tags[item.id] = item.tags
        return True

    def forget(self, tile_id: str) -> Tags:
        """Drop ``tile_id``; its last tags (None when it was never sent: every page)."""
        self.digests.pop(tile_id, None)
        return self.tags.pop(tile_id, None)


_sent: dict[int, Sent] = {}


async def publish(pbx_id: int, summary: dict[str, Any]) -> bool:
    """Render what ``summary`` names and send it to the PBX's groups. Never raises.

    Returns False when open pages may have missed it (rendering or the channel layer failed):
    the caller then sends ``{"full": True}`` later, which renders every tile of the PBX.
    """
    if summary.get("history") or summary.get("full"):
        day_changed(pbx_id)
    try:
        messages = await database_sync_to_async(render_messages)(pbx_id, summary)
    except Exception:
        log.exception("PBX %s: rendering the live update failed", pbx_id)
        return False
    return await _send(messages)


async def _send(messages: dict[str, dict[str, Any]]) -> bool:
    """Send each group its message; False when the channel layer failed. Never raises."""
    global _layer_down
    layer = get_channel_layer()
    if layer is None or not messages:
        return True
    try:
        for name, message in messages.items():
            await layer.group_send(name, message)
    except Exception as exc:
        if not _layer_down:
            log.warning("live updates stopped: the channel layer is not reachable: %s", exc)
        _layer_down = True
        return False
    if _layer_down:
        log.info("live updates flow again")
    _layer_down = False
    return True


def render_messages(pbx_id: int, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{group: channel layer message}`` for one flush; {} when nothing on a page changed."""
    full = bool(summary.get("full"))
    items, regrouped = render_items(pbx_id, summary)
    token = f"{pbx_id}-{uuid.uuid4().hex[:12]}" if full else None
    messages: dict[str, dict[str, Any]] = {}
    for view, kinds in VIEWS.items():
        kept = [item for item in items if item.kind in kinds]
        # A wallboard limited to a queue shows its members' extensions: it hears who joined.
        moved = sorted(regrouped) if view == "board" else []
        if not kept and not full and not moved:
            continue
        for controls in (False, True):
            messages[group(pbx_id, view, controls=controls)] = {
                "type": "tiles.update",
                "items": [
                    [item.id, item.tags, item.control if controls else item.view] for item in kept
                ],
                "full": token,
                "regrouped": moved,
            }
    return messages


_day_pending: dict[int, asyncio.Task[None]] = {}
_day_next: dict[int, float] = {}  # loop time before which the PBX's day is not rendered again
_day_sent: dict[int, dict[str, bytes]] = {}


def day_changed(pbx_id: int) -> None:
    """Render and send the PBX's day soon: now when the last render is more than
    :data:`DAY_INTERVAL` seconds old, else then. One render is pending per PBX at most."""
    if pbx_id in _day_pending:
        return  # that render reads the rows as they are when it runs: these ones too
    loop = asyncio.get_running_loop()
    wait = max(0.0, _day_next.get(pbx_id, -math.inf) - loop.time())
    task = loop.create_task(_send_day(pbx_id, wait), name=f"day{pbx_id}")
    _day_pending[pbx_id] = task

    def forget(done: asyncio.Task[None]) -> None:
        # Cancelled while it waited (its loop closed): the next rows must not find it pending.
        if _day_pending.get(pbx_id) is done:
            del _day_pending[pbx_id]

    task.add_done_callback(forget)


async def _send_day(pbx_id: int, wait: float) -> None:
    await asyncio.sleep(wait)
    # Rows written from here on ask for the next render: this one may read them or not.
    _day_pending.pop(pbx_id, None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    _day_next[pbx_id] = started + DAY_INTERVAL
    try:
        # In a thread of its own, not the one the worker's flushes take turns in: a busy
        # day's render reads every call and span of the day (bench/today.py).
        render = database_sync_to_async(render_day_messages, thread_sensitive=False)
        messages = await render(pbx_id)
    except Exception:
        log.exception("PBX %s: rendering the day's live update failed", pbx_id)
        return
    finally:
        # A render that takes long (a very busy day) leaves the database as long between two.
        took = loop.time() - started
        _day_next[pbx_id] = max(_day_next[pbx_id], loop.time() + took)
    await _send(messages)


def render_day_messages(pbx_id: int) -> dict[str, dict[str, Any]]:
    """``{group: message}`` of the PBX's day: its Today tile, its agent board, and the queue
    cards (today's numbers on them); only what changed since it was last sent."""
    pbx = Pbx.objects.filter(pk=pbx_id).first()
    if pbx is None:
        _day_sent.pop(pbx_id, None)
        return {}
    report = ReportSettings.current()
    now = timezone.now()
    section = today_section(pbx, today_window(report, now), now, report)
    board = agent_board(pbx, now, report)
    sent = _day_sent.setdefault(pbx_id, {})
    messages: dict[str, dict[str, Any]] = {}
    for view, tile_id, html in (
        ("today", f"today-pbx-{pbx_id}", tiles.render("today", section, controls=False)),
        ("agents", f"agents-pbx-{pbx_id}", tiles.render("agents", board, controls=False)),
    ):
        digest = hashlib.blake2b(html.encode(), digest_size=8).digest()
        if sent.get(tile_id) == digest:
            continue
        sent[tile_id] = digest
        messages[group(pbx_id, view, controls=False)] = {
            "type": "tiles.update",
            "items": [[tile_id, None, html]],
            "full": None,
            "regrouped": [],
        }
    queues = list(Queue.objects.filter(pbx_id=pbx_id).values_list("pk", flat=True))
    messages.update(render_messages(pbx_id, {"pbx": pbx_id, "queues": queues}))
    return messages


def render_summary(pbx_id: int, summary: dict[str, Any]) -> dict[str, str]:
    """``{group: html}``: every item of each group's message joined, as a page that shows
    them all would get it; {} when nothing on a page changed."""
    return {
        name: "\n".join(html for _, _, html in message["items"])
        for name, message in render_messages(pbx_id, summary).items()
        if message["items"]
    }


def render_items(pbx_id: int, summary: dict[str, Any]) -> tuple[list[Item], set[int]]:
    """The tiles of one flush whose HTML changed and its removals, in the order pages get
    them; and the queues that members joined or left.

    Each tile is rendered once (twice where controls differ). A full update sends every tile
    and forgets what was sent before.
    """
    pbx = Pbx.objects.filter(pk=pbx_id).first()
    if pbx is None:
        _sent.pop(pbx_id, None)
        return [], set()
    full = bool(summary.get("full"))
    known = not full and pbx_id in _sent  # else every member is new to it, not new to its queue
    if not known:
        _sent[pbx_id] = Sent()
    sent = _sent[pbx_id]
    items: list[Item] = []
    if full or summary.get("status"):
        html = tiles.render("pbx", pbx, controls=False)
        items.append(Item(f"pbx-status-{pbx_id}", "pbx", None, html, html))
    for kind, rows in _changed_rows(pbx, summary, full):
        for row in rows:
            view = tiles.render(kind, row, controls=False)
            control = view if kind in SAME_FOR_ALL else tiles.render(kind, row, controls=True)
            tile_id = row.dom_id if kind == "call" else f"{kind}-{row.pk}"
            items.append(Item(tile_id, kind, tags_of(kind, row), view, control))
    regrouped = {
        item.tags[0][0]
        for item in items
        if known and item.kind == "member" and item.tags and item.id not in sent.digests
    }
    items = [item for item in items if sent.changed(item) or full]
    if not full:
        removals = _removals(summary, sent)
        regrouped |= {r.tags[0][0] for r in removals if r.kind == "member" and r.tags}
        items.extend(removals)
    return items, regrouped


def tags_of(kind: str, row: Any) -> Tags:
    """The queues and extensions a tile belongs to: a page limited to some of them shows it
    when one of its own is among them."""
    if kind == "endpoint":
        return ((), (row.pk,))
    if kind == "queue":
        return ((row.pk,), ())
    if kind == "member":
        return ((row.queue_id,), (row.endpoint_pk,) if row.endpoint_pk else ())
    if kind == "caller":
        return ((row.queue_id,), ())
    if kind == "call":  # a conversation: the queue it came through, its parties' extensions
        parties = (row.caller, row.callee, *row.others)
        endpoints = tuple(p.endpoint_pk for p in parties if p is not None and p.endpoint_pk)
        return ((row.queue_pk,) if row.queue_pk else (), endpoints)
    return None


def full_marker(pbx_id: int, token: str) -> str:
    """The last element of a full update: the page then drops the PBX's tiles it did not name."""
    return format_html(
        '<template id="full-pbx-{}" data-full-pbx="{}" data-full-token="{}"></template>',
        pbx_id,
        pbx_id,
        token,
    )


def part_marker(token: str, n: int) -> str:
    """Ends each message of a full update but the last: its ids count for the sweep."""
    return format_html(
        '<template id="full-part-{}-{}" data-full-part="{}"></template>', token, n, token
    )


def _changed_rows(pbx: Pbx, summary: dict[str, Any], full: bool) -> Iterable[tuple[str, list]]:
    def pick(model: Any, key: str) -> Any:
        rows = model.objects.filter(pbx_id=pbx.pk)
        return rows if full else rows.filter(pk__in=summary.get(key) or [])

    def with_pbx(rows: Any) -> list:
        return tiles.with_pbx(rows, pbx)

    endpoints = with_pbx(pick(Endpoint, "endpoints")) if full or summary.get("endpoints") else []
    calls: list[Call] = []
    if full or endpoints:
        # The calls the changed extensions show, with their peers loaded once.
        rows = Call.objects.filter(pbx_id=pbx.pk)
        if not full:
            rows = rows.filter(endpoint_resource__in=[e.resource for e in endpoints])
        calls = tiles.load_calls(with_pbx(rows), with_endpoints=False)
    if endpoints:
        yield "endpoint", tiles.load_endpoints(endpoints, calls=calls)
    if full or summary.get("queues"):
        yield "queue", tiles.load_queues(with_pbx(pick(Queue, "queues")))
    if full or summary.get("members"):
        members = with_pbx(pick(QueueMember, "members").select_related("queue"))
        yield "member", tiles.load_members(members)
    if full or summary.get("callers"):
        yield "caller", with_pbx(pick(QueueCaller, "callers"))
    # A call row is a conversation: rendered again, with every channel of it, when any of its
    # channels changed.
    if full:
        yield "call", tiles.load_conversations(calls)  # the PBX's every channel, loaded above
    elif summary.get("conversations"):
        rows = tiles.conversation_rows(pbx, summary["conversations"])
        yield "call", tiles.load_conversations(rows)


def _removals(summary: dict[str, Any], sent: Sent) -> list[Item]:
    """A delete element for each removed row, with the tags its tile was last sent with; a
    call row goes with its conversation's last channel."""
    removed = [
        (kind, f"{kind}-{pk}") for key, kind in REMOVALS.items() for pk in summary.get(key) or []
    ]
    removed += [
        ("call", conversations.dom_id(summary["pbx"], key))
        for key in summary.get("conversations_removed") or []
    ]
    items = []
    for kind, tile_id in removed:
        html = format_html('<div id="{}" hx-swap-oob="delete"></div>', tile_id)
        items.append(Item(tile_id, kind, sent.forget(tile_id), html, html))
    return items
