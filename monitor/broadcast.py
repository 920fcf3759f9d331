"""Live updates: the tiles a flush changed, rendered once per group and sent to the pages.

The worker calls :func:`publish` after each database flush with the flush's summary. Every
page showing a PBX is in one of its four groups:

- ``pbx.<id>``: read-only tiles (viewers);
- ``pbx.<id>.control``: the same tiles with supervisor controls;
- ``pbx.<id>.board`` and ``pbx.<id>.board.control``: the same for wallboards and kiosk screens,
  which show the PBX's status, queues and extensions only. A call, a member or a waiting caller
  changes several times per call; leaving those tiles out of the wallboards' messages made them
  about half as big, and every byte goes through Redis and Daphne once per open socket
  (bench/pipeline.py).

The message is htmx out-of-band HTML: htmx's ws extension swaps each top-level element into the
element with its id. A tile whose id is not on the page yet is inserted into the first of its
``data-parent`` containers that is (``static/js/fcmdash.js``); a removed row is an element with
``hx-swap-oob="delete"``. After a resync (``full``) every tile of the PBX is sent, with a
``data-full-pbx`` marker: the page then drops the tiles of that PBX that the message left out.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils.html import format_html

from . import tiles
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
_layer_down = False
# Characters per WebSocket message: at most 4 UTF-8 bytes each, so well under Daphne's 1 MiB.
MAX_MESSAGE_CHARS = 200_000
_FULL_TOKEN = re.compile(r'data-full-token="([^"]+)"')


# The tile kinds (and removals) a wallboard shows; other pages may show any.
BOARD_KINDS = frozenset({"pbx", "endpoint", "queue"})


def view_group(pbx_id: int, *, board: bool = False) -> str:
    return f"pbx.{pbx_id}.board" if board else f"pbx.{pbx_id}"


def control_group(pbx_id: int, *, board: bool = False) -> str:
    return f"pbx.{pbx_id}.board.control" if board else f"pbx.{pbx_id}.control"


async def publish(pbx_id: int, summary: dict[str, Any]) -> bool:
    """Render what ``summary`` names and send it to the PBX's groups. Never raises.

    Returns False when open pages may have missed it (rendering or the channel layer failed):
    the caller then sends ``{"full": True}`` later, which renders every tile of the PBX.
    """
    global _layer_down
    try:
        messages = await database_sync_to_async(render_parts)(pbx_id, summary)
    except Exception:
        log.exception("PBX %s: rendering the live update failed", pbx_id)
        return False
    layer = get_channel_layer()
    if layer is None or not messages:
        return True
    try:
        for group, parts in messages.items():
            for html in split(parts):
                await layer.group_send(group, {"type": "tiles.update", "html": html})
    except Exception as exc:
        if not _layer_down:
            log.warning("live updates stopped: the channel layer is not reachable: %s", exc)
        _layer_down = True
        return False
    if _layer_down:
        log.info("live updates flow again")
    _layer_down = False
    return True


def render_summary(pbx_id: int, summary: dict[str, Any]) -> dict[str, str]:
    """``{group: html}`` for one flush; {} when nothing on a page changed."""
    return {group: "\n".join(parts) for group, parts in render_parts(pbx_id, summary).items()}


def render_parts(pbx_id: int, summary: dict[str, Any]) -> dict[str, list[str]]:
    """``{group: [element html, ...]}`` for one flush; {} when nothing on a page changed.

    Each tile is rendered once (twice where controls differ) and goes into every group whose
    pages show its kind; a group none of whose tiles changed gets no message.
    """
    pbx = Pbx.objects.filter(pk=pbx_id).first()
    if pbx is None:
        return {}
    full = bool(summary.get("full"))
    # (kind, read-only html, html with controls) in the order the pages get them
    rendered: list[tuple[str, str, str]] = []
    if full or summary.get("status"):
        html = tiles.render("pbx", pbx, controls=False)
        rendered.append(("pbx", html, html))
    for kind, rows in _changed_rows(pbx, summary, full):
        for row in rows:
            view = tiles.render(kind, row, controls=False)
            with_controls = view if kind in SAME_FOR_ALL else tiles.render(kind, row, controls=True)
            rendered.append((kind, view, with_controls))
    if not full:
        rendered.extend((kind, html, html) for kind, html in _removals(summary))
    marker = ""
    if full:
        token = f"{pbx_id}-{uuid.uuid4().hex[:12]}"
        marker = format_html(
            '<template id="full-pbx-{}" data-full-pbx="{}" data-full-token="{}"></template>',
            pbx_id,
            pbx_id,
            token,
        )
    messages: dict[str, list[str]] = {}
    for board in (False, True):
        kept = [r for r in rendered if not board or r[0] in BOARD_KINDS]
        if not kept:
            continue
        view_parts = [view for _, view, _ in kept]
        control_parts = [with_controls for _, _, with_controls in kept]
        if marker:
            view_parts.append(marker)
            control_parts.append(marker)
        messages[view_group(pbx_id, board=board)] = view_parts
        messages[control_group(pbx_id, board=board)] = control_parts
    return messages


def split(parts: list[str], limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """The messages that carry ``parts`` in order, each under ``limit`` characters.

    Daphne (autobahn) refuses to send a WebSocket message over 1 MiB and closes the socket: the
    full update after a resync of ~1,400 extensions is that big. A full update's marker stays
    last; the messages before it carry a part marker with its token, so that the page collects
    the tile ids of every part before it drops the tiles none of them named.
    """
    token = _full_token(parts[-1]) if parts else None
    messages: list[list[str]] = [[]]
    size = 0
    for part in parts:
        if messages[-1] and size + len(part) > limit:
            messages.append([])
            size = 0
        messages[-1].append(part)
        size += len(part) + 1
    if token is not None:
        for i, message in enumerate(messages[:-1]):
            message.append(
                format_html(
                    '<template id="full-part-{}-{}" data-full-part="{}"></template>',
                    token,
                    i,
                    token,
                )
            )
    return ["\n".join(message) for message in messages]


def _full_token(part: str) -> str | None:
    match = _FULL_TOKEN.search(part) if part.startswith("<template") else None
    return match.group(1) if match else None


def _changed_rows(pbx: Pbx, summary: dict[str, Any], full: bool) -> Iterable[tuple[str, list]]:
    def pick(model: Any, key: str) -> Any:
        rows = model.objects.filter(pbx_id=pbx.pk)
        return rows if full else rows.filter(pk__in=summary.get(key) or [])

    def with_pbx(rows: Any) -> list:
        rows = list(rows)
        for row in rows:
            row.pbx = pbx  # one PBX for all: no join, and its privileges decide the buttons
        return rows

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


def _removals(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """``(kind, element)`` for each removed row; a call row goes with its conversation's last
    channel."""
    removed = [
        (kind, format_html('<div id="{}-{}" hx-swap-oob="delete"></div>', kind, pk))
        for key, kind in REMOVALS.items()
        for pk in summary.get(key) or []
    ]
    for key in summary.get("conversations_removed") or []:
        dom_id = conversations.dom_id(summary["pbx"], key)
        removed.append(("call", format_html('<div id="{}" hx-swap-oob="delete"></div>', dom_id)))
    return removed
