"""Live updates: the tiles a flush changed, rendered once per group and sent to the pages.

The worker calls :func:`publish` after each database flush with the flush's summary. Every
page showing a PBX is in one of its two groups:

- ``pbx.<id>``: read-only tiles (viewers, kiosk screens);
- ``pbx.<id>.control``: the same tiles with supervisor controls.

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

log = logging.getLogger(__name__)

# summary key of the removed rows -> id prefix of their elements
REMOVALS = {
    "endpoints_removed": "endpoint",
    "queues_removed": "queue",
    "members_removed": "member",
    "callers_removed": "caller",
    "calls_removed": "call",
}
_layer_down = False
# Characters per WebSocket message: at most 4 UTF-8 bytes each, so well under Daphne's 1 MiB.
MAX_MESSAGE_CHARS = 200_000
_FULL_TOKEN = re.compile(r'data-full-token="([^"]+)"')


def view_group(pbx_id: int) -> str:
    return f"pbx.{pbx_id}"


def control_group(pbx_id: int) -> str:
    return f"pbx.{pbx_id}.control"


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
    """``{group: [element html, ...]}`` for one flush; {} when nothing on a page changed."""
    pbx = Pbx.objects.filter(pk=pbx_id).first()
    if pbx is None:
        return {}
    full = bool(summary.get("full"))
    shared: list[str] = []  # the same in both groups
    view: list[str] = []
    control: list[str] = []
    if full or summary.get("status"):
        shared.append(tiles.render("pbx", pbx, controls=False))
    for kind, rows in _changed_rows(pbx, summary, full):
        if kind in ("queue", "caller"):
            shared.extend(tiles.render(kind, row, controls=False) for row in rows)
            continue
        for row in rows:
            view.append(tiles.render(kind, row, controls=False))
            control.append(tiles.render(kind, row, controls=True))
    if not full:
        shared.extend(_removals(summary))
    if not (shared or view):
        return {}
    view_parts, control_parts = [*shared, *view], [*shared, *control]
    if full:
        token = f"{pbx_id}-{uuid.uuid4().hex[:12]}"
        marker = format_html(
            '<template id="full-pbx-{}" data-full-pbx="{}" data-full-token="{}"></template>',
            pbx_id,
            pbx_id,
            token,
        )
        view_parts.append(marker)
        control_parts.append(marker)
    return {view_group(pbx_id): view_parts, control_group(pbx_id): control_parts}


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

    if full or summary.get("endpoints"):
        yield "endpoint", tiles.load_endpoints(with_pbx(pick(Endpoint, "endpoints")))
    if full or summary.get("queues"):
        yield "queue", tiles.load_queues(with_pbx(pick(Queue, "queues")))
    if full or summary.get("members"):
        members = with_pbx(pick(QueueMember, "members").select_related("queue"))
        yield "member", tiles.load_members(members)
    if full or summary.get("callers"):
        yield "caller", with_pbx(pick(QueueCaller, "callers"))
    if full or summary.get("calls"):
        yield "call", tiles.load_calls(with_pbx(pick(Call, "calls")))


def _removals(summary: dict[str, Any]) -> list[str]:
    return [
        format_html('<div id="{}-{}" hx-swap-oob="delete"></div>', prefix, pk)
        for key, prefix in REMOVALS.items()
        for pk in summary.get(key) or []
    ]
