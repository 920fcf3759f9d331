"""A report's tables as rows of plain values, by the API's names: the per-queue, per-agent and
per-call tables of ``/api/v1/today`` and the CSV downloads. A number a PBX cannot give
(:func:`monitor.history.report.missing_numbers`) is None."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..history_models import QueueCallRecord
from ..models import Pbx
from .days import Window
from .report import Report

QUEUE_COLUMNS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "answered_within_sl",
    "sl_seconds",
    "service_level_pct",
    "avg_wait_s",
    "max_wait_s",
    "avg_talk_s",
)
AGENT_COLUMNS = ("answered", "missed", "talk_s", "paused_s", "paused_by_reason")
CALL_COLUMNS = (
    "queue",
    "uniqueid",
    "caller_num",
    "caller_name",
    "entered_at",
    "position",
    "outcome",
    "wait_seconds",
    "answered_at",
    "agent",
    "agent_name",
    "talk_seconds",
    "ended_at",
    "completed_by",
    "partial",
)


def _seconds(value: float) -> int:
    return round(value)


def queue_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for q in report.numbers.queues:
        missing = report.missing.get(q.pbx_id, {})
        row: dict[str, Any] = {"pbx": report.pbxes[q.pbx_id].name, "queue": q.queue}
        for name in QUEUE_COLUMNS:
            row[name] = None if name in missing else getattr(q, name)
        rows.append(row)
    return rows


def agent_rows(report: Report) -> list[dict[str, Any]]:
    rows = []
    for a in report.numbers.agents:
        missing = report.missing.get(a.pbx_id, {})
        values = {
            "answered": a.answered,
            "missed": a.missed,
            "talk_s": _seconds(a.talk_s),
            "paused_s": _seconds(a.paused_s),
            "paused_by_reason": {k: _seconds(v) for k, v in sorted(a.paused_by_reason.items())},
        }
        row: dict[str, Any] = {
            "pbx": report.pbxes[a.pbx_id].name,
            "interface": a.interface,
            "name": a.name,
        }
        row.update({k: None if k in missing else v for k, v in values.items()})
        rows.append(row)
    return rows


def call_rows(pbxes: dict[int, Pbx], window: Window) -> Iterator[dict[str, Any]]:
    """Every call of ``pbxes`` (by id) that entered a queue in ``window``, oldest first."""
    calls = QueueCallRecord.objects.filter(
        pbx_id__in=list(pbxes), entered_at__gte=window.start, entered_at__lt=window.end
    ).order_by("entered_at", "pk")
    for pbx_id, *values in calls.values_list("pbx_id", *CALL_COLUMNS).iterator(chunk_size=2000):
        row: dict[str, Any] = {"pbx": pbxes[pbx_id].name}
        for name, value in zip(CALL_COLUMNS, values, strict=True):
            row[name] = window.local(value).isoformat() if hasattr(value, "astimezone") else value
        yield row


def gaps(report: Report) -> list[list[str]]:
    return [[a.isoformat(), b.isoformat()] for a, b in report.numbers.gaps]
