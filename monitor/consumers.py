"""WebSocket consumers: join the groups of what a page shows, send each socket its tiles.

Nothing is rendered here (``monitor.broadcast`` renders once per group); a socket keeps the
items of its groups' messages that its page shows and sends them through its
:class:`~monitor.outbox.Outbox`, which bounds what it holds whatever the reader does.

- ``/ws/live/?pbx=1,2[&readonly=1][&board=1 | &page=...]``: a logged-in user with the view
  permission. ``board=1``: a wallboard (its filters, ``queue=<name>``, as on the page);
  ``page=calls``, ``page=queue:<pk>``, ``page=extension:<pk>``: those pages (the socket keeps
  the tiles of that queue or extension); ``page=status``: a page without live tiles; none: every
  tile; ``page=today`` / ``page=agents`` / ``page=today,agents``: today's Today page, the
  agent board, or a kiosk of both (a kiosk link's socket: ``?show=today,agents``). Users with an
  action permission get the tiles with controls unless ``readonly``.
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

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import QueryDict
from django.utils.http import is_same_domain

from . import outbox
from .broadcast import DAY_VIEWS, group
from .models import Endpoint, Pbx, Queue
from .scope import Scope, scope_from_link, scope_from_query
from .views.access import can_view, control_classes
from .web_models import KioskLink

# Longest acknowledgement a page sends: "<seq> <nonce>".
MAX_ACK_CHARS = 40
MAX_QUERY = 8192  # characters of a socket's query string read


@dataclass
class Limit:
    """The queues and extensions a socket's page shows, when it shows only some of them
    (``all_*``: every one of that kind). ``scope``: a board's, which it follows when members
    join or leave queues (its extensions may be those queues' members)."""

    queues: set[int] = field(default_factory=set)
    endpoints: set[int] = field(default_factory=set)
    all_queues: bool = False
    all_endpoints: bool = False
    scope: Scope | None = None

    def shows(self, tags: Any) -> bool:
        if tags is None:
            return True
        queues, endpoints = tags
        if queues and (self.all_queues or any(q in self.queues for q in queues)):
            return True
        return bool(endpoints) and (
            self.all_endpoints or any(e in self.endpoints for e in endpoints)
        )

    def follow(self) -> bool:
        """Read the board's queues and extensions again; whether they changed."""
        assert self.scope is not None
        was = (self.queues, self.endpoints)
        self.queues, self.endpoints = set(), set()
        for pbx_id in self.scope.pbx_ids:
            self.queues |= self.scope.queue_pks(pbx_id) or set()
            self.endpoints |= self.scope.endpoint_pks(pbx_id) or set()
        return (self.queues, self.endpoints) != was


@dataclass
class Plan:
    """What a socket joins and keeps."""

    groups: list[str]
    limit: Limit | None = None
    rate: float = 0.0  # characters a second on average, 0: no limit (monitor.outbox.Outbox)


class TilesConsumer(AsyncWebsocketConsumer):
    """Shared part: the groups joined, the limit, the outbox."""

    groups_joined: list[str]
    limit: Limit | None = None
    closing = False

    async def join(self, plan: Plan) -> None:
        self.groups_joined = plan.groups
        self.limit = plan.limit
        self.outbox = outbox.Outbox(rate=plan.rate)
        self.stall_timer: asyncio.TimerHandle | None = None
        self.batch_timer: asyncio.TimerHandle | None = None
        for name in plan.groups:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for timer in (getattr(self, "stall_timer", None), getattr(self, "batch_timer", None)):
            if timer is not None:
                timer.cancel()
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
            moved = limit.scope is not None and (event.get("full") or event.get("regrouped"))
            # Members joined or left a queue (or the PBX was read again): a board whose
            # extensions are some queues' members may show others now; its page fetches them
            # (its containers take no new tiles: they may not match its filters).
            if moved and await database_sync_to_async(limit.follow)():
                self.outbox.refresh = True
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
        if self.batch_timer is None and (self.outbox.pending or self.outbox.refresh):
            wait = self.outbox.wait(now)
            if wait > 0:  # the next batch, when its time comes
                self.batch_timer = loop.call_later(wait, self._send_batch)

    def _send_batch(self) -> None:
        self.batch_timer = None
        if not self.closing:
            asyncio.get_running_loop().create_task(self.pump())

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
        query = QueryDict(self.scope.get("query_string", b"").decode("latin-1")[:MAX_QUERY])
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
        query = QueryDict(self.scope.get("query_string", b"").decode("latin-1")[:MAX_QUERY])
        show = [v for v in query.get("show", "")[:40].split(",") if v in DAY_VIEWS]
        plan = None
        if same_origin(self.scope):
            plan = await database_sync_to_async(_kiosk_plan)(token, show)
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
    return [int(part) for part in text.split(",") if is_id(part)][:100]


def is_id(text: str) -> bool:
    """Digits that fit a database key (a longer number made the query fail)."""
    return text.isdigit() and len(text) <= 18


def _live_plan(user: Any, query: QueryDict) -> Plan | None:
    """Groups and limit of a session's socket; None to refuse it."""
    if user is None or not can_view(user):
        return None
    first = {key: query.get(key, "")[:200] for key in ("pbx", "readonly", "board", "page")}
    pbx_ids = _enabled(_ids(first["pbx"]))
    controls = bool(control_classes(user)) and first["readonly"] != "1"
    if first["board"] == "1":
        return _board_plan(scope_from_query(query), controls=controls)
    kind, _, pk = first["page"].partition(":")
    if kind in ("calls", "status"):
        return Plan([group(p, kind, controls=controls) for p in pbx_ids])
    views = [v for v in first["page"].split(",") if v in DAY_VIEWS]
    if views:  # today's pages (or a kiosk of them): their tiles have no controls
        return Plan([group(p, v, controls=False) for p in pbx_ids for v in views])
    limit = None
    if kind == "queue" and is_id(pk):
        rows = Queue.objects.filter(pk=int(pk), pbx_id__in=pbx_ids)
        limit = Limit(queues=set(rows.values_list("pk", flat=True)))
    elif kind == "extension" and is_id(pk):
        rows = Endpoint.objects.filter(pk=int(pk), pbx_id__in=pbx_ids)
        limit = Limit(endpoints=set(rows.values_list("pk", flat=True)))
    return Plan([group(p, "detail", controls=controls) for p in pbx_ids], limit)


def _kiosk_plan(token: str, show: list[str] | None = None) -> Plan | None:
    """A kiosk link's groups: its board, or (``show``) the day's views of its PBXes."""
    link = KioskLink.find(token)
    if link is None:
        return None
    scope = scope_from_link(link)
    if show:
        plan = Plan([group(p, v, controls=False) for p in scope.pbx_ids for v in show])
    else:
        plan = _board_plan(scope, controls=False)
    plan.groups.append(f"kiosk.{link.pk}")
    return plan


def _board_plan(scope: Scope, *, controls: bool) -> Plan:
    """A wallboard's groups, and its limit when its scope leaves some of its PBXes out."""
    groups = [group(p, "board", controls=controls) for p in scope.pbx_ids]
    if not scope.filtered:
        return Plan(groups, rate=settings.FCMDASH_BOARD_RATE)
    limit = Limit(
        all_queues=scope.queue_names is None,
        all_endpoints=not scope.limits_extensions,
        scope=scope,
    )
    limit.follow()
    return Plan(groups, limit, rate=settings.FCMDASH_BOARD_RATE)


def _enabled(wanted: list[int]) -> list[int]:
    """The enabled PBX ids among ``wanted``; every enabled PBX when ``wanted`` is empty."""
    rows = Pbx.objects.filter(enabled=True)
    if wanted:
        rows = rows.filter(pk__in=wanted)
    return list(rows.values_list("pk", flat=True))
