"""The database side of the recorder: its pending rows written inside a flush's transaction
(after the mirror's fence check), and the rows a new worker reads back at start.

Every write is keyed as the recorder keys its rows, so writing the same changes twice (a
flush retried after its commit was lost with the connection) gives the same rows: calls by
their unique (pbx, queue, uniqueid); spans by (queue, interface, started_at); misses by
(queue, interface, uniqueid, at); gaps by their start.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction

from ..history_models import AgentMiss, AgentSpan, Outcome, QueueCallRecord, RecordGap
from ..models import Pbx
from .recorder import UPDATE, UPSERT, Pending

CHUNK = 500
CALL_FIELDS = [
    "linkedid",
    "caller_num",
    "caller_name",
    "entered_at",
    "position",
    "outcome",
    "wait_seconds",
    "talk_seconds",
    "answered_at",
    "ended_at",
    "agent",
    "agent_name",
    "completed_by",
    "partial",
]
CALL_TIMES = ("entered_at", "answered_at", "ended_at")


def when(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


def text(value: str) -> str:
    """A name from the PBX as a column holds it: PostgreSQL's text holds no NUL."""
    return value.replace("\x00", "") if "\x00" in value else value


def history_write(*, pbx_id: int, pending: Pending | None, each: bool = False) -> bool:
    """Write ``pending`` (in the caller's transaction); True when a row was written.

    ``each``: every row in a savepoint of its own, and those the database refuses left out
    (noted in ``pending.skipped``): one bad row must not keep the rest of the day out."""
    if pending is None:
        return False
    writers = (_calls, _spans, _misses, _gaps)
    for write in writers:
        if each:
            _each(write, pbx_id, pending)
        else:
            write(pbx_id, pending)
    if pending.recorded_until is not None:
        Pbx.objects.filter(pk=pbx_id).update(recorded_until=when(pending.recorded_until))
    return bool(pending)


def _each(write: Any, pbx_id: int, pending: Pending) -> None:
    kind = write.__name__.strip("_")
    rows: dict[Any, Any] = getattr(pending, kind)
    for key in list(rows):
        one = Pending(**{kind: {key: rows[key]}})
        try:
            with transaction.atomic():
                write(pbx_id, one)
        except (DataError, IntegrityError):
            del rows[key]
            pending.skipped.append((kind, key))


def _calls(pbx_id: int, pending: Pending) -> None:
    """Upsert on the unique (pbx, queue, uniqueid): ``ON CONFLICT ... DO UPDATE``, which
    SQLite (3.24+) and PostgreSQL spell alike."""
    if not pending.calls:
        return
    table, q = _table(QueueCallRecord), connection.ops.quote_name
    columns = ["pbx_id", "queue", "uniqueid", *CALL_FIELDS]
    conflict = (
        f" ON CONFLICT ({q('pbx_id')}, {q('queue')}, {q('uniqueid')}) DO UPDATE SET "
        + ", ".join(f"{q(c)} = excluded.{q(c)}" for c in CALL_FIELDS)
    )
    params = [
        (pbx_id, queue, uid, *(_call_value(c, v[c]) for c in CALL_FIELDS))
        for (queue, uid), v in pending.calls.items()
    ]
    _values(f"INSERT INTO {table} ({', '.join(map(q, columns))})", params, conflict)


def _call_value(name: str, value: Any) -> Any:
    if name in CALL_TIMES:
        return connection.ops.adapt_datetimefield_value(when(value))
    return text(value) if isinstance(value, str) else value


def _spans(pbx_id: int, pending: Pending) -> None:
    """Each span as the recorder says (``write``): inserted; its ``ended_at`` updated (a
    span's name, state and reason never change once opened: another state is another span);
    or, after a failed flush, looked up and updated, else inserted.

    Plain statements of many rows each: a busy centre opens and closes hundreds of spans a
    second, and the ORM's per-row work (instances, field preparation, bulk_update's CASE per
    row) was most of a flush's time."""
    at = connection.ops.adapt_datetimefield_value
    insert, update, upsert = [], [], {}
    for (queue, interface, t), v in pending.spans.items():
        started, ended = when(t), when(v["ended_at"])
        if v["write"] == UPSERT:
            upsert[(queue, interface, started)] = v
            continue
        if v["write"] == UPDATE:
            update.append((at(ended), at(started), queue, interface))
        else:
            row = (text(v["name"]), v["state"], text(v["reason"]), at(started), at(ended))
            insert.append((pbx_id, queue, interface, *row))
    existing = _existing(
        AgentSpan.objects.filter(pbx_id=pbx_id),
        "started_at",
        upsert,
        lambda r: (r.queue, r.interface, r.started_at),
    )
    for (queue, interface, started), v in upsert.items():
        ended = when(v["ended_at"])
        if (queue, interface, started) in existing:
            update.append((at(ended), at(started), queue, interface))
        else:
            row = (text(v["name"]), v["state"], text(v["reason"]), at(started), at(ended))
            insert.append((pbx_id, queue, interface, *row))
    _end_spans(pbx_id, update)
    q = connection.ops.quote_name
    columns = ["pbx_id", "queue", "interface", "name", "state", "reason", "started_at", "ended_at"]
    _values(f"INSERT INTO {_table(AgentSpan)} ({', '.join(map(q, columns))})", insert)


def _end_spans(pbx_id: int, rows: list[tuple[Any, ...]]) -> None:
    """``UPDATE ... FROM (VALUES ...)``: many spans' ends in one statement (SQLite 3.33+ and
    PostgreSQL alike; VALUES' columns are column1... in both). PostgreSQL is told the types,
    which a column of NULLs alone would not give it."""
    if not rows:
        return
    table, q = _table(AgentSpan), connection.ops.quote_name
    stamp = "::timestamptz" if connection.vendor == "postgresql" else ""
    for i in range(0, len(rows), CHUNK):
        part = rows[i : i + CHUNK]
        sql = (
            f"UPDATE {table} SET {q('ended_at')} = v.column1{stamp}"
            f" FROM (VALUES {', '.join(['(%s, %s, %s, %s)'] * len(part))}) AS v"
            f" WHERE {table}.{q('pbx_id')} = %s"
            f" AND {table}.{q('started_at')} = v.column2{stamp}"
            f" AND {table}.{q('queue')} = v.column3 AND {table}.{q('interface')} = v.column4"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [x for r in part for x in r] + [pbx_id])


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _values(head: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """``head VALUES (...), (...) tail``: CHUNK rows a statement, which the database parses
    and plans once (an executemany is a statement per row to PostgreSQL)."""
    for i in range(0, len(rows), CHUNK):
        part = rows[i : i + CHUNK]
        one = f"({', '.join(['%s'] * len(part[0]))})"
        with connection.cursor() as cursor:
            cursor.execute(
                f"{head} VALUES {', '.join([one] * len(part))}{tail}", [x for r in part for x in r]
            )


def _misses(pbx_id: int, pending: Pending) -> None:
    wanted = {(q, i, u, when(t)): v for (q, i, u, t), v in pending.misses.items()}
    existing = _existing(
        AgentMiss.objects.filter(pbx_id=pbx_id),
        "at",
        wanted,
        lambda r: (r.queue, r.interface, r.uniqueid, r.at),
    )
    create = [
        AgentMiss(
            pbx_id=pbx_id,
            queue=q,
            interface=i,
            uniqueid=u,
            at=at,
            name=text(v["name"]),
            ring_ms=v["ring_ms"],
        )
        for (q, i, u, at), v in wanted.items()
        if (q, i, u, at) not in existing
    ]
    AgentMiss.objects.bulk_create(create, CHUNK)


def _gaps(pbx_id: int, pending: Pending) -> None:
    for started, v in pending.gaps.items():
        start = when(started)
        updated = RecordGap.objects.filter(pbx_id=pbx_id, started_at=start).update(
            ended_at=when(v["ended_at"]), reason=v["reason"]
        )
        if not updated:
            RecordGap.objects.create(
                pbx_id=pbx_id, started_at=start, ended_at=when(v["ended_at"]), reason=v["reason"]
            )


def _existing(qs: Any, time_field: str, wanted: dict[tuple, Any], key: Any) -> dict[tuple, Any]:
    """The rows of ``qs`` whose key (``key(row)``, its last part the time) is in ``wanted``."""
    times = sorted({k[-1] for k in wanted})
    out = {}
    for i in range(0, len(times), CHUNK):
        for row in qs.filter(**{f"{time_field}__in": times[i : i + CHUNK]}):
            k = key(row)
            if k in wanted:
                out[k] = row
    return out


# -- read back at a worker's start ----------------------------------------------------------
def history_open(*, pbx_id: int) -> dict[str, Any]:
    """What the last run of this PBX's worker left open, for ``Recorder.restore``."""
    calls = QueueCallRecord.objects.filter(
        pbx_id=pbx_id, outcome__in=[Outcome.WAITING, Outcome.ANSWERED], ended_at__isnull=True
    )
    spans = AgentSpan.objects.filter(pbx_id=pbx_id, ended_at__isnull=True)
    gap = RecordGap.objects.filter(pbx_id=pbx_id, ended_at__isnull=True).order_by("-started_at")
    until = Pbx.objects.filter(pk=pbx_id).values_list("recorded_until", flat=True).first()
    open_gap = gap.first()
    return {
        "calls": [_stay_of(c) for c in calls],
        "spans": [
            {
                "queue": s.queue,
                "interface": s.interface,
                "name": s.name,
                "state": s.state,
                "reason": s.reason,
                "started_at": s.started_at.timestamp(),
            }
            for s in spans
        ],
        "gap": (
            None
            if open_gap is None
            else {"started_at": open_gap.started_at.timestamp(), "reason": open_gap.reason}
        ),
        "recorded_until": until.timestamp() if until is not None else None,
    }


def _stay_of(c: QueueCallRecord) -> dict[str, Any]:
    return {
        "queue": c.queue,
        "uniqueid": c.uniqueid,
        "entered_at": c.entered_at.timestamp(),
        "linkedid": c.linkedid,
        "caller_num": c.caller_num,
        "caller_name": c.caller_name,
        "position": c.position,
        "outcome": c.outcome,
        "wait": c.wait_seconds,
        "talk": c.talk_seconds,
        "answered_at": c.answered_at.timestamp() if c.answered_at else None,
        "agent": c.agent,
        "agent_name": c.agent_name,
        "partial": c.partial,
    }
