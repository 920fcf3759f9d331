"""WebSocket consumers: join the groups of the PBXes a page shows, forward rendered HTML.

Nothing is rendered here (``monitor.broadcast`` renders once per group); ``tiles_update`` sends
the group's HTML on as it is. The browser never sends anything we act on.

- ``/ws/live/?pbx=1,2[&readonly=1][&board=1]``: a logged-in user with the view permission.
  Users with an action permission join ``pbx.<id>.control`` (tiles with buttons) unless
  ``readonly``; ``board`` (the wallboard) joins the groups that carry only what a wallboard
  shows (``monitor.broadcast``).
- ``/ws/kiosk/<token>/``: a kiosk link instead of a session; always read-only, always a
  wallboard. Revoking the link closes its open sockets (group ``kiosk.<link id>``).
- Both only from a page of this site (:func:`same_origin`).

Refusing a socket closes it before the handshake completes (HTTP 403 to the browser).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.http import is_same_domain

from .broadcast import control_group, view_group
from .models import Pbx
from .views.access import can_view, control_classes
from .web_models import KioskLink


class TilesConsumer(AsyncWebsocketConsumer):
    """Shared part: the groups joined, and forwarding."""

    groups_joined: list[str]

    async def join(self, groups: list[str]) -> None:
        self.groups_joined = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        pass  # htmx may send form data over the socket; pages here never ask it to

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every handler, in a thread of its
        # own; forwarding tiles needs no database, and with hundreds of sockets per process
        # that thread hop per socket and message was 15% of Daphne's time (bench/pipeline.py).
        if message["type"] == "tiles.update":
            await self.tiles_update(message)
        else:
            await super().dispatch(message)

    async def tiles_update(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])


class LiveConsumer(TilesConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        wanted = _ids(query.get("pbx", [""])[0])
        readonly = query.get("readonly", ["0"])[0] == "1"
        board = query.get("board", ["0"])[0] == "1"
        groups = None
        if same_origin(self.scope):
            groups = await database_sync_to_async(_live_groups)(user, wanted, readonly, board)
        if groups is None:
            await self.close()
            return
        await self.join(groups)


class KioskConsumer(TilesConsumer):
    async def connect(self) -> None:
        token = self.scope["url_route"]["kwargs"]["token"]
        groups = None
        if same_origin(self.scope):
            groups = await database_sync_to_async(_kiosk_groups)(token)
        if groups is None:
            await self.close()
            return
        await self.join(groups)

    async def kiosk_revoked(self, event: dict[str, Any]) -> None:
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


def _live_groups(
    user: Any, wanted: list[int], readonly: bool, board: bool = False
) -> list[str] | None:
    """Groups for a session's socket; None to refuse it."""
    if user is None or not can_view(user):
        return None
    pbx_ids = _existing(wanted)
    group = control_group if control_classes(user) and not readonly else view_group
    return [group(pk, board=board) for pk in pbx_ids]


def _kiosk_groups(token: str) -> list[str] | None:
    link = KioskLink.find(token)
    if link is None:
        return None
    pbx_ids = [link.pbx_id] if link.pbx_id else _existing([])
    return [*(view_group(pk, board=True) for pk in pbx_ids), f"kiosk.{link.pk}"]


def _existing(wanted: list[int]) -> list[int]:
    """The PBX ids among ``wanted`` that exist; all PBXes when ``wanted`` is empty."""
    rows = Pbx.objects.all()
    if wanted:
        rows = rows.filter(pk__in=wanted)
    return list(rows.values_list("pk", flat=True))
