"""``GET /api/v1/state``: the whole mirror as JSON, for scripts and other wallboards;
``GET /api/v1/today[?date=YYYY-MM-DD]``: a day's numbers by fcmdash's count (issue 12).

Read-only. Authenticated by a Django session with the view permission, or by
``Authorization: Bearer <token>`` with an :class:`~monitor.web_models.ApiToken`. Seconds
(waited, in call) are counted at the moment of the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .history import days, tables
from .history.report import build
from .history_models import ReportSettings
from .models import Call, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from .views.access import can_view
from .web_models import ApiToken


@require_GET
def state(request: HttpRequest) -> JsonResponse:
    if not _authorised(request):
        return _refused()
    response = JsonResponse(snapshot(timezone.now()))
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def today(request: HttpRequest) -> JsonResponse:
    """The day's queues and agents of every enabled PBX; a number a PBX cannot give is null.
    ``?date=`` outside the kept days (or not a date) is a 400 saying which days are kept."""
    if not _authorised(request):
        return _refused()
    report = ReportSettings.current()
    now = timezone.now()
    kept = days.kept_days(report, now)
    if "date" in request.GET:
        day = days.parse_day(request.GET["date"])
        if day is None or not kept[-1] <= day <= kept[0]:
            message = f"date must be YYYY-MM-DD, from {kept[-1]} to {kept[0]}"
            return JsonResponse({"error": message}, status=400)
    else:
        day = kept[0]
    found = build(list(Pbx.objects.filter(enabled=True)), days.day_window(report, day), now, report)
    response = JsonResponse(
        {
            "day": day.isoformat(),
            "partial": found.numbers.partial,
            "gaps": tables.gaps(found),
            "queues": tables.queue_rows(found),
            "agents": tables.agent_rows(found),
        }
    )
    response["Cache-Control"] = "no-store"
    return response


def _refused() -> JsonResponse:
    response = JsonResponse({"error": "authentication required"}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="fcmdash"'
    return response


def _authorised(request: HttpRequest) -> bool:
    by_token = ApiToken.check_request(request)
    return can_view(request.user) if by_token is None else by_token


def _seconds(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def snapshot(now: datetime) -> dict[str, Any]:
    """Every PBX with its ``enabled`` flag; the rows of the enabled ones only (a switched-off
    PBX's rows are what it said when it was last on, and no page shows them)."""
    names = dict(Pbx.objects.filter(enabled=True).values_list("pk", "name"))
    return {
        "at": now.isoformat(),
        "pbxes": [
            {
                "name": p.name,
                "enabled": p.enabled,
                "connected": p.connected,
                "stale": p.stale,
                "since": _iso(p.stale_since if p.stale else p.connected_since),
                "synced_at": _iso(p.synced_at),
            }
            for p in Pbx.objects.all()
        ],
        "endpoints": _endpoints(names),
        "queues": _queues(names, now),
        "calls": _calls(names, now),
    }


def _endpoints(names: dict[int, str]) -> list[dict[str, Any]]:
    return [
        {
            "pbx": names[e.pbx_id],
            "resource": e.resource,
            "name": e.name,
            "state": e.state,
            "registered": e.registered,
            "calls": e.channels,
        }
        for e in Endpoint.objects.filter(pbx_id__in=names)
    ]


def _queues(names: dict[int, str], now: datetime) -> list[dict[str, Any]]:
    members: dict[int, list[dict[str, Any]]] = {}
    for m in QueueMember.objects.filter(pbx_id__in=names):
        members.setdefault(m.queue_id, []).append(
            {
                "interface": m.interface,
                "name": m.name,
                "status": m.status,
                "paused": m.paused,
                "paused_reason": m.paused_reason,
                "in_call": m.in_call,
                "calls_taken": m.calls_taken,
            }
        )
    callers: dict[int, list[dict[str, Any]]] = {}
    for c in QueueCaller.objects.filter(pbx_id__in=names).order_by("position"):
        callers.setdefault(c.queue_id, []).append(
            {
                "position": c.position,
                "caller_id": c.caller_id_num,
                "caller_name": c.caller_id_name,
                "seconds_waited": _seconds(c.joined_at, now),
            }
        )
    return [
        {
            "pbx": names[q.pbx_id],
            "name": q.name,
            "waiting": q.calls_waiting,
            "completed": q.completed,
            "abandoned": q.abandoned,
            "service_level_perf": q.service_level_perf,
            "callers": callers.get(q.pk, []),
            "members": members.get(q.pk, []),
        }
        for q in Queue.objects.filter(pbx_id__in=names)
    ]


def _calls(names: dict[int, str], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "pbx": names[c.pbx_id],
            "channel": c.channel,
            "caller_id": c.caller_id_num,
            "caller_name": c.caller_id_name,
            "connected_line": c.connected_num,
            "connected_name": c.connected_name,
            "state": c.state,
            "seconds": _seconds(c.started_at, now),
            "linkedid": c.linkedid,  # the channels of one call share it
            "queue": c.queue,
            "waited": c.waited,
        }
        for c in Call.objects.filter(pbx_id__in=names)
    ]
