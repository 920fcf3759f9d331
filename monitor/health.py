"""``GET /healthz``: can this web process serve the wallboard, and is every PBX being watched?

No login: a load balancer or systemd watchdog asks it. Anonymous requests get ``status`` and
``ok`` per component and per PBX (by name) only: an error text can quote whatever the PBX's
address answered, its AMI user and host:port. Logged-in staff and holders of an API token
(``Authorization: Bearer``, as for ``/metrics``) get the details: states, times and error texts
(masked again, as log lines are).

HTTP 200 when all of these hold, 503 otherwise, with the reason in the failing component:

- ``database``: a ``SELECT 1`` answers;
- ``channel_layer``: the layer answers (Redis: a PING to each of its hosts);
- ``pbxes``: every *enabled* PBX has a worker that reported in the last
  ``FCMDASH_HEALTH_MAX_AGE`` seconds (``WorkerStats.updated_at``), whose AMI session is up and
  whose data is synchronised. Disabled PBXes are not listed.

Each check has a time limit, so a hung service makes the answer a 503, not a hung probe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from fcmdash.logs import mask_secrets

from .models import Pbx, WorkerStats
from .web_models import ApiToken

log = logging.getLogger(__name__)

TIMEOUT = 3.0  # seconds per check
MAX_ERROR = 300  # characters of an error text shown
_last_status = "ok"


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    global _last_status
    report = await check()
    if report["status"] != _last_status:
        log.log(
            logging.INFO if report["status"] == "ok" else logging.WARNING,
            "healthz: %s%s",
            report["status"],
            "".join(f"; {reason}" for reason in reasons(report)),
        )
        _last_status = report["status"]
    body = report if await may_see_details(request) else public(report)
    response = JsonResponse(body, status=200 if report["status"] == "ok" else 503)
    # A probe asks every few seconds: one line when the answer changes (above), not Django's
    # error line for every 503.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


async def may_see_details(request: HttpRequest) -> bool:
    """Staff, or a request with an active API token; never raises (the database may be away)."""
    try:
        user = await request.auser()
        if user.is_staff:
            return True
        check_token = database_sync_to_async(ApiToken.check_request, thread_sensitive=False)
        return bool(await asyncio.wait_for(check_token(request), TIMEOUT))
    except Exception:
        return False


def public(report: dict[str, Any]) -> dict[str, Any]:
    """What anyone may read of a :func:`check` report: ok or not, per part and per PBX name."""
    return {
        "status": report["status"],
        "checked_at": report["checked_at"],
        "database": {"ok": report["database"]["ok"]},
        "channel_layer": {"ok": report["channel_layer"]["ok"]},
        "pbxes": [{"name": p["name"], "ok": p["ok"]} for p in report["pbxes"]],
    }


def reasons(report: dict[str, Any]) -> list[str]:
    """``component: reason`` for each failing part of a :func:`check` report."""
    out = [f"{name}: {report[name]['reason']}" for name in ("database", "channel_layer")]
    out += [f"PBX {p['name']}: {p['reason']}" for p in report["pbxes"]]
    return [line for line in out if not line.endswith(": ")]


async def check() -> dict[str, Any]:
    """The whole report; ``status`` is ``"ok"`` or ``"fail"``."""
    database, layer = await asyncio.gather(check_database(), check_channel_layer())
    if database["ok"]:
        pbxes = await _timed(database_sync_to_async(pbx_sessions, thread_sensitive=False)())
        if isinstance(pbxes, str):
            pbxes = [{"name": "?", "ok": False, "reason": f"PBX status unreadable: {pbxes}"}]
    else:
        pbxes = [{"name": "?", "ok": False, "reason": "PBX status unknown: no database"}]
    ok = database["ok"] and layer["ok"] and all(p["ok"] for p in pbxes)
    return {
        "status": "ok" if ok else "fail",
        "checked_at": timezone.now().isoformat(),
        "database": database,
        "channel_layer": layer,
        "pbxes": pbxes,
    }


async def _timed(awaitable: Any) -> Any:
    """The awaitable's result, or the error text if it raised or took longer than TIMEOUT."""
    try:
        return await asyncio.wait_for(awaitable, TIMEOUT)
    except TimeoutError:
        return f"no answer within {TIMEOUT:g} s"
    except Exception as exc:
        return error_text(exc)


def error_text(exc: BaseException | str) -> str:
    text = str(exc) or type(exc).__name__  # type: ignore[union-attr]
    return mask_secrets(" ".join(text.split()))[:MAX_ERROR]


async def check_database() -> dict[str, Any]:
    started = time.monotonic()
    error = await _timed(database_sync_to_async(_select_one, thread_sensitive=False)())
    return _component(error, started, vendor=connection.vendor)


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_channel_layer() -> dict[str, Any]:
    started = time.monotonic()
    layer = get_channel_layer()
    if layer is None:
        return _component("no channel layer configured", started, backend="")
    backend = type(layer).__name__
    error = await _timed(_ping_layer(layer))
    return _component(error, started, backend=backend)


async def _ping_layer(layer: Any) -> None:
    if hasattr(layer, "connection") and hasattr(layer, "ring_size"):
        # channels_redis: PING every shard. A send/receive round trip would go through the
        # process's shared receive loop, which a timed-out probe must not disturb.
        for index in range(layer.ring_size):
            await layer.connection(index).ping()
        return
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    await layer.receive(channel)


def _component(error: Any, started: float, **details: Any) -> dict[str, Any]:
    ok = not isinstance(error, str)
    return {
        "ok": ok,
        **details,
        "seconds": round(time.monotonic() - started, 4),
        "reason": "" if ok else error,
    }


def pbx_sessions(now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One entry per enabled PBX, from its row and its worker's heartbeat."""
    now = now or timezone.now()
    max_age = settings.FCMDASH_HEALTH_MAX_AGE
    reports = {
        pbx_id: (updated_at, flush_error)
        for pbx_id, updated_at, flush_error in WorkerStats.objects.values_list(
            "pbx_id", "updated_at", "flush_error"
        )
    }
    return [
        pbx_session(p, *reports.get(p.pk, (None, "")), now=now, max_age=max_age) for p in _enabled()
    ]


def _enabled() -> list[Pbx]:
    fields = ["name", "connected", "connected_since", "stale_since", "synced_at", "last_error"]
    return list(Pbx.objects.filter(enabled=True).only(*fields))


def pbx_session(
    pbx: Pbx,
    heartbeat: dt.datetime | None,
    flush_error: str = "",
    *,
    now: dt.datetime,
    max_age: float,
) -> dict[str, Any]:
    """``flush_error``: why the worker's writes fail, as it last reported (the PBX row may be
    old then, so that comes first)."""
    age = (now - heartbeat).total_seconds() if heartbeat is not None else None
    last_error = error_text(pbx.last_error) if pbx.last_error else ""
    if age is None or age > max_age:
        silent = (
            "no AMI worker has reported" if age is None else f"no worker report for {age:.0f} s"
        )
        reason = f"{silent} (is amiworker running?)"
        if last_error:
            reason += f"; last error: {last_error}"
    elif flush_error:
        reason = error_text(flush_error)
    elif not pbx.connected:
        reason = f"AMI session down: {last_error or 'connecting'}"
    elif pbx.stale:
        reason = "AMI session up, state not synchronised yet"
    else:
        reason = ""
    return {
        "name": pbx.name,
        "ok": not reason,
        "connected": pbx.connected,
        "since": _iso(pbx.connected_since if pbx.connected else pbx.stale_since),
        "synced_at": _iso(pbx.synced_at),
        "worker_seen": _iso(heartbeat),
        "worker_age": None if age is None else round(age, 1),
        "last_error": last_error,
        "reason": reason,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
