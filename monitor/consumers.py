"""WebSocket consumers: join the groups of what a page shows, send each socket its tiles.

Nothing is rendered here (``monitor.broadcast`` renders once per group); a socket keeps the
items of its groups' messages that its page shows and sends them through its
:class:`~monitor.outbox.Outbox`, which bounds what it holds whatever the reader does.

- ``/ws/live/?pbx=1,2[&readonly=1][&board=1 | &page=...]``: a logged-in user with the view
  permission. ``board=1``: a wallboard (its filters, ``queue=<name>``, as on the page);
  ``page=calls``, ``page=queue:<pk>``, ``page=extension:<pk>``: those pages (the socket keeps
  the tiles of that queue or extension); ``page=status``: a page without live tiles; none: every
  tile. Users with an action permission get the tiles with controls unless ``readonly``.
- ``/ws/kiosk/<token>/``: a kiosk link instead of a session; always read-only, always a
  wallboard, limited as its link says. Revoking the link closes its open sockets (group
  ``kiosk.<link id>``).
- Both only from a page of this site (:func:`same_origin`).

The page acknowledges each message (``monitor/outbox.py``); anything else it sends is ignored.
Refusing a socket closes it before the handshake completes (HTTP 403 to the browser).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.http import is_same_domain

from . import outbox, tiles
from .broadcast import group
from .models import Endpoint, Pbx, Queue, QueueMember
from .views.access import can_view, control_classes
from .web_models import KioskLink

# Longest acknowledgement a page sends: "<seq> <nonce>".
MAX_ACK_CHARS = 40


@dataclass
class Limit:
    """The queues and extensions a socket's page shows, when it shows only some; ``board``: a
    wallboard limited to queues, whose extensions follow those queues' members."""

    queues: set[int] = field(default_factory=set)
    endpoints: set[int] = field(default_factory=set)
    board_queues: dict[int, str] = field(default_factory=dict)  # pbx -> queue name (boards)

    def shows(self, tags: Any) -> bool:
        if tags is None:
            return True
        queues, endpoints = tags
        return any(q in self.queues for q in queues) or any(e in self.endpoints for e in endpoints)


@dataclass
class Plan:
    """What a socket joins and keeps."""

    groups: list[str]
    limit: Limit | None = None


class TilesConsumer(AsyncWebsocketConsumer):
    """Shared part: the groups joined, the limit, the outbox."""

    groups_joined: list[str]
    limit: Limit | None = None
    closing = False

    async def join(self, plan: Plan) -> None:
        self.groups_joined = plan.groups
        self.limit = plan.limit
        self.outbox = outbox.Outbox()
        self.stall_timer: asyncio.TimerHandle | None = None
        for name in plan.groups:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if getattr(self, "stall_timer", None) is not None:
            self.stall_timer.cancel()
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data and len(text_data) <= MAX_ACK_CHARS and self.outbox.ack(text_data):
            await self.pump()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, in a thread of its
        # own; forwarding tiles and taking acknowledgements need no database, and with hundreds
        # of sockets per process that thread hop per socket and message was 15% of Daphne's
        # time (bench/pipeline.py).
        kind = message["type"]
        if kind == "tiles.update":
            await self.tiles_update(message)
        elif kind == "websocket.receive":
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def tiles_update(self, event: dict[str, Any]) -> None:
        if self.closing or not hasattr(self, "outbox"):
            return
        items = event["items"]
        limit = self.limit
        if limit is not None:
            regrouped = event.get("regrouped") or ()
            if limit.board_queues and (
                event.get("full") or any(q in limit.queues for q in regrouped)
            ):
                # Members joined or left a queue this board follows: its extensions change.
                # A full update brings their tiles; otherwise the page fetches them.
                await database_sync_to_async(_follow_queues)(limit)
                self.outbox.refresh = self.outbox.refresh or not event.get("full")
            items = [item for item in items if limit.shows(item[1])]
        if not items and not event.get("full"):
            if self.outbox.refresh:
                await self.pump()
            return
        self.outbox.add(items, full=event.get("full"))
        await self.pump()

    async def pump(self) -> None:
        """Send what the window allows; close a socket whose reader stopped."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.outbox.stalled(now):
            await self.stall()
            return
        for message in self.outbox.take(now):
            await self.send(text_data=message)
        if self.stall_timer is None and self.outbox.inflight:
            self.stall_timer = loop.call_later(outbox.STALL_SECONDS + 1, self._check_stall)

    def _check_stall(self) -> None:
        self.stall_timer = None
        if self.closing:
            return
        oldest = self.outbox.oldest_sent()
        if oldest is None:
            return
        loop = asyncio.get_running_loop()
        if self.outbox.stalled(loop.time()):
            loop.create_task(self.stall())
        else:
            wait = oldest + outbox.STALL_SECONDS + 1 - loop.time()
            self.stall_timer = loop.call_later(max(0.1, wait), self._check_stall)

    async def stall(self) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=outbox.CLOSE_STALLED)


class LiveConsumer(TilesConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        plan = None
        if same_origin(self.scope):
            plan = await database_sync_to_async(_live_plan)(user, query)
        if plan is None:
            await self.close()
            return
        await self.join(plan)


class KioskConsumer(TilesConsumer):
    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        plan = None
        if same_origin(self.scope):
            plan = await database_sync_to_async(_kiosk_plan)(token)
        if plan is None:
            await self.close()
            return
        await self.join(plan)

    async def kiosk_revoked(self, event: dict[str, Any]) -> None:
        self.closing = True
        await self.close(code=4403)


def same_origin(scope: dict[str, Any]) -> bool:
    """Whether the handshake comes from a page of this site, as Django's CSRF check decides for
    a form: its Origin is the scheme, host and port the browser reached us at (``Host``), or one
    of ``CSRF_TRUSTED_ORIGINS``.

    ``AllowedHostsOriginValidator`` (``fcmdash/asgi.py``) compares only the Origin's host name
    with ALLOWED_HOSTS: a page of another service on the same host, on another port, passed it,
    and as the same site it has the session cookie sent along. A handshake without ``Host``
    (every browser sends one) is left to that check.
    """
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1").lower()
    origin = headers.get(b"origin", b"").decode("latin-1").lower()
    if not host:
        return True
    scheme, _, netloc = origin.partition("://")
    if _trusted(scheme, netloc):
        return True
    secure = _secure(scope, headers)
    return netloc == host and (secure is None or scheme == ("https" if secure else "http"))


def _trusted(scheme: str, netloc: str) -> bool:
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        t_scheme, _, t_netloc = trusted.lower().partition("://")
        if t_scheme == scheme and (
            t_netloc == netloc or (t_netloc[:1] == "*" and is_same_domain(netloc, t_netloc[1:]))
        ):
            return True
    return False


def _secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool | None:
    """Whether the browser came over TLS, as ``HttpRequest.is_secure``; None when unknown
    (Daphne puts no ``scheme`` into a WebSocket's scope)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower().encode())
        if value is not None:
            return value.decode("latin-1").split(",", 1)[0].strip() == secure_value
    if "scheme" in scope:
        return scope["scheme"] == "wss"
    return None


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()][:100]


def _live_plan(user: Any, query: dict[str, list[str]]) -> Plan | None:
    """Groups and limit of a session's socket; None to refuse it."""
    if user is None or not can_view(user):
        return None
    first = {key: values[0][:200] for key, values in query.items() if values}
    pbx_ids = _enabled(_ids(first.get("pbx", "")))
    controls = bool(control_classes(user)) and first.get("readonly") != "1"
    if first.get("board") == "1":
        return _board_plan(pbx_ids, first.get("queue", ""), controls=controls)
    kind, _, pk = first.get("page", "").partition(":")
    if kind in ("calls", "status"):
        return Plan([group(p, kind, controls=controls) for p in pbx_ids])
    limit = None
    if kind == "queue" and pk.isdigit():
        rows = Queue.objects.filter(pk=int(pk), pbx_id__in=pbx_ids)
        limit = Limit(queues=set(rows.values_list("pk", flat=True)))
    elif kind == "extension" and pk.isdigit():
        rows = Endpoint.objects.filter(pk=int(pk), pbx_id__in=pbx_ids)
        limit = Limit(endpoints=set(rows.values_list("pk", flat=True)))
    return Plan([group(p, "detail", controls=controls) for p in pbx_ids], limit)


def _kiosk_plan(token: str) -> Plan | None:
    link = KioskLink.find(token)
    if link is None:
        return None
    pbx_ids = _enabled([link.pbx_id] if link.pbx_id else [])
    plan = _board_plan(pbx_ids, link.queue, controls=False)
    plan.groups.append(f"kiosk.{link.pk}")
    return plan


def _board_plan(pbx_ids: list[int], queue: str, *, controls: bool) -> Plan:
    """A wallboard's groups; limited to ``queue`` (a name) and its members' extensions."""
    groups = [group(p, "board", controls=controls) for p in pbx_ids]
    if not queue:
        return Plan(groups)
    limit = Limit(board_queues=dict.fromkeys(pbx_ids, queue))
    _follow_queues(limit)
    return Plan(groups, limit)


def _follow_queues(limit: Limit) -> None:
    """``limit``'s queues and their members' extensions, as the database has them now."""
    queues = Queue.objects.none()
    for pbx_id, name in limit.board_queues.items():
        queues |= Queue.objects.filter(pbx_id=pbx_id, name=name)
    limit.queues = set(queues.values_list("pk", flat=True))
    endpoints: set[int] = set()
    members = QueueMember.objects.filter(queue_id__in=limit.queues)
    wanted: dict[int, set[str]] = {}
    for pbx_id, interface, state_interface in members.values_list(
        "pbx_id", "interface", "state_interface"
    ):
        names = wanted.setdefault(pbx_id, set())
        names |= {tiles.resource_of(interface), tiles.resource_of(state_interface)}
    for pbx_id, names in wanted.items():
        rows = Endpoint.objects.filter(pbx_id=pbx_id, resource__in=names - {""})
        endpoints |= set(rows.values_list("pk", flat=True))
    limit.endpoints = endpoints


def _enabled(wanted: list[int]) -> list[int]:
    """The enabled PBX ids among ``wanted``; every enabled PBX when ``wanted`` is empty."""
    rows = Pbx.objects.filter(enabled=True)
    if wanted:
        rows = rows.filter(pk__in=wanted)
    return list(rows.values_list("pk", flat=True))
