"""The day's numbers counted in the database: the same definitions as
:func:`monitor.history.numbers.compute`, in a few grouped queries.

Why: a busy day (20,000 calls, 1,000 agents in two queues each) has about 100,000 agents'
spans; reading them and the calls into Python took seconds, most of it turning a quarter of a
million timestamps into datetimes (bench/today.py). Here the database sums, and Python gets a
few thousand rows of totals. :func:`~monitor.history.numbers.compute` stays the reference: the
tests hold both to their own tally, and bench/today.py checks that they agree on PostgreSQL.

The SQL is written for PostgreSQL and SQLite (embedded mode) alike; the only differences are
how a timestamp becomes epoch seconds and the names of the two-value max and min (:class:`Sql`).
Times are compared as epoch seconds inside the queries, and rows are chosen by their indexed
timestamp columns against parameters.

Across queues an agent's moment counts once, in its state of highest priority: a sweep over its
spans' starts and ends (running counts per state with a window function), each segment between
two instants given the state of highest priority open there; a paused segment's reason is the
first by name of the pauses covering it, as in :func:`~monitor.history.numbers.union`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from ..history_models import AgentMiss, AgentSpan, AgentState, QueueCallRecord
from .numbers import (
    DEFAULT_SL_SECONDS,
    INTERVAL,
    AgentNumbers,
    DayNumbers,
    Interval,
    Tally,
    assemble,
    queue_book,
)

CALLS = QueueCallRecord._meta.db_table
SPANS = AgentSpan._meta.db_table
MISSES = AgentMiss._meta.db_table

# The tally's columns, in the order of TALLY_FIELDS; {sl} is the call's queue's SL seconds.
TALLY_SQL = """
  COUNT(*),
  SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'abandoned' AND wait_seconds <= %(short)s THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'timeout' THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'exitempty' THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'incomplete' THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'answered' AND wait_seconds <= {sl} THEN 1 ELSE 0 END),
  SUM(CASE WHEN outcome = 'answered' AND wait_seconds IS NOT NULL THEN wait_seconds ELSE 0 END),
  SUM(CASE WHEN outcome = 'answered' AND wait_seconds IS NOT NULL THEN 1 ELSE 0 END),
  MAX(CASE WHEN outcome = 'answered' THEN wait_seconds END),
  SUM(CASE WHEN outcome = 'answered' AND ended_at IS NOT NULL AND talk_seconds IS NOT NULL
      THEN talk_seconds ELSE 0 END),
  SUM(CASE WHEN outcome = 'answered' AND ended_at IS NOT NULL AND talk_seconds IS NOT NULL
      THEN 1 ELSE 0 END),
  MAX(CASE WHEN partial OR outcome = 'incomplete' THEN 1 ELSE 0 END)
"""
TALLY_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "timed_out",
    "exit_empty",
    "incomplete",
    "answered_within_sl",
    "wait_total",
    "waits",
    "max_wait_s",
    "talk_total",
    "talks",
)
SORT_MEMORY = "64MB"
MAX_REASONS = 40
OTHER_REASONS = "other reasons"
STATES = [s.value for s in (AgentState.IN_CALL, AgentState.RINGING, AgentState.PAUSED)]
STATES += [AgentState.AVAILABLE.value, AgentState.UNAVAILABLE.value]  # in priority order


@dataclass(frozen=True)
class Sql:
    """The two dialects' spellings."""

    vendor: str

    def epoch(self, column: str) -> str:
        if self.vendor == "postgresql":
            return f"EXTRACT(EPOCH FROM {column})::float8"
        # SQLite keeps UTC text; %s is whole seconds, %f seconds with milliseconds.
        return (
            f"(CAST(strftime('%%s', {column}) AS REAL)"
            f" + CAST(strftime('%%f', {column}) AS REAL)"
            f" - CAST(strftime('%%S', {column}) AS INTEGER))"
        )

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})" if self.vendor == "postgresql" else f"MAX({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})" if self.vendor == "postgresql" else f"MIN({a}, {b})"

    def moment(self, column: str) -> str:
        """A timestamp to compare, sort and subtract: PostgreSQL's own (cheaper than epoch
        seconds over a hundred thousand spans), SQLite's as epoch seconds."""
        return column if self.vendor == "postgresql" else self.epoch(column)

    def seconds(self, duration: str) -> str:
        """Seconds of a difference of two :meth:`moment` values (or a sum of them)."""
        if self.vendor == "postgresql":
            return f"EXTRACT(EPOCH FROM {duration})::float8"
        return duration

    def interval_of(self, seconds: str) -> str:
        """The 15-minute interval (from 0) of epoch ``seconds`` at or after the window's start
        (PostgreSQL's CAST rounds, SQLite's truncates: the same for what is not negative)."""
        quarters = f"({seconds} - %(t0)s) / %(interval)s"
        return (
            f"FLOOR({quarters})::int"
            if self.vendor == "postgresql"
            else f"CAST({quarters} AS INTEGER)"
        )


def _rows(sql: str, params: dict[str, Any], *, sorts: bool = False) -> list[tuple]:
    """The rows of ``sql``. ``sorts``: it sorts a day's spans, which PostgreSQL's default 4 MB
    of sort memory sent to disk (bench/today.py); it gets more for this one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        if sorts and connection.vendor == "postgresql":
            cursor.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _tally(target: Tally, values: Iterable[Any]) -> bool:
    """Set ``target``'s counts from a row of TALLY_SQL; whether a call of it was partial."""
    *counts, partial = values
    for name, value in zip(TALLY_FIELDS, counts, strict=True):
        setattr(target, name, int(value) if value is not None else None)
    return bool(partial)


def compute_in_sql(
    *,
    pbx_ids: list[int],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    gaps: Iterable[tuple[dt.datetime, dt.datetime | None]],
    sl: dict[tuple[int, str], tuple[int, int]],
    short_abandon: int,
    queue_names: Iterable[tuple[int, str]] = (),
) -> DayNumbers:
    """What :func:`monitor.history.numbers.compute` gives for the rows of ``pbx_ids``."""
    q = Sql(connection.vendor)
    upto = min(end, now)
    ops = connection.ops
    params: dict[str, Any] = {
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "t0": start.timestamp(),
        "t1": upto.timestamp(),
        # the window's start and "now" (or its end) as :meth:`Sql.moment` values
        "lo": ops.adapt_datetimefield_value(start)
        if q.vendor == "postgresql"
        else start.timestamp(),
        "hi": ops.adapt_datetimefield_value(upto) if q.vendor == "postgresql" else upto.timestamp(),
        "short": short_abandon,
        "interval": INTERVAL.total_seconds(),
    }
    ids = []
    for n, pbx_id in enumerate(pbx_ids or [0]):
        params[f"p{n}"] = pbx_id
        ids.append(f"%(p{n})s")
    pbx_in = f"pbx_id IN ({', '.join(ids)})"
    whens = []
    for n, ((pbx_id, name), (seconds, _)) in enumerate(sl.items()):
        params.update({f"slp{n}": pbx_id, f"slq{n}": name, f"sls{n}": seconds})
        whens.append(f"WHEN pbx_id = %(slp{n})s AND queue = %(slq{n})s THEN %(sls{n})s")
    sl_sql = f"(CASE {' '.join(whens)} ELSE {DEFAULT_SL_SECONDS} END)" if whens else "20"
    tally = TALLY_SQL.format(sl=sl_sql)
    in_day = f"{pbx_in} AND entered_at >= %(start)s AND entered_at < %(end)s"

    queues, queue_of = queue_book(sl, queue_names)
    partial = False
    total = Tally()
    for pbx_id, name, *values in _rows(
        f"SELECT pbx_id, queue, {tally} FROM {CALLS} WHERE {in_day} GROUP BY pbx_id, queue",
        params,
    ):
        queue = queue_of(pbx_id, name)
        queue.partial = _tally(queue, values)
        partial = partial or queue.partial
    for name in TALLY_FIELDS:
        values = [getattr(x, name) for x in queues.values()]
        if name == "max_wait_s":
            total.max_wait_s = max((v for v in values if v is not None), default=None)
        else:
            setattr(total, name, sum(values))

    n_intervals = max(1, -(-(end - start) // INTERVAL))
    intervals = [Interval(start=start + n * INTERVAL) for n in range(n_intervals)]
    bucket = q.interval_of(q.epoch("entered_at"))
    for index, *values in _rows(
        f"SELECT {bucket} AS b, {tally} FROM {CALLS} WHERE {in_day} GROUP BY b", params
    ):
        if 0 <= index < n_intervals:
            _tally(intervals[index], values)
    _peaks_in_sql(q, intervals, in_day, params)

    agents: dict[tuple[int, str, str | None], AgentNumbers] = {}

    def agent_of(pbx_id: int, interface: str, queue: str | None, name: str) -> AgentNumbers:
        found = agents.get((pbx_id, interface, queue))
        if found is None:
            found = agents[(pbx_id, interface, queue)] = AgentNumbers(pbx_id, interface, queue)
        if name and not found.name:
            found.name = name
        return found

    for pbx_id, interface, queue, name, answered, talked in _rows(_answered_sql(q, in_day), params):
        for key in (None, queue):
            agent = agent_of(pbx_id, interface, key, name)
            agent.answered += answered
            agent.talk_s += float(talked)
    for pbx_id, interface, queue, name, missed in _rows(
        f"SELECT pbx_id, interface, queue, MAX(name), COUNT(*) FROM {MISSES}"
        f" WHERE {pbx_in} AND at >= %(start)s AND at < %(end)s GROUP BY pbx_id, interface, queue",
        params,
    ):
        for key in (None, queue):
            agent_of(pbx_id, interface, key, name).missed += missed

    ended = f"COALESCE({q.moment('ended_at')}, %(hi)s)"
    clipped = (
        f"SELECT pbx_id, interface, queue, name, state, reason,"
        f" {q.greatest(q.moment('started_at'), '%(lo)s')} AS a,"
        f" {q.least(ended, '%(hi)s')} AS b"
        f" FROM {SPANS} WHERE {pbx_in} AND started_at < %(end)s"
        " AND (ended_at IS NULL OR ended_at > %(start)s)"
    )
    # The pause reasons of the window, for the sweep (MAX_REASONS of them: a supervisor types
    # them, and each is a column of the sweep; more than that count as OTHER_REASONS).
    paused = f"{pbx_in} AND state = 'paused' AND started_at < %(end)s"
    paused += " AND (ended_at IS NULL OR ended_at > %(start)s)"
    reasons = sorted(
        r for (r,) in _rows(f"SELECT DISTINCT reason FROM {SPANS} WHERE {paused}", params)
    )
    params.update({f"r{n}": r for n, r in enumerate(reasons[:MAX_REASONS])})
    # One statement for both: the clipped spans are computed once.
    sql = _spans_sql(q, clipped, min(len(reasons), MAX_REASONS))
    for queue, pbx_id, interface, name, state, reason, seconds in _rows(sql, params, sorts=True):
        agent = agent_of(pbx_id, interface, queue or None, name or "")
        agent.seconds[state] += seconds
        if state == AgentState.PAUSED:
            agent.paused_by_reason[reason] += seconds
        if queue:
            agent_of(pbx_id, interface, None, name)

    return assemble(
        start=start,
        end=end,
        now=now,
        queues=queues,
        agents=agents,
        intervals=intervals,
        gaps=gaps,
        partial=partial,
        total=total,
    )


def _answered_sql(q: Sql, in_day: str) -> str:
    """(pbx, agent, queue, name, answered, talk seconds) of the window's calls; a call still
    talking counts up to ``%(t1)s``."""
    answered_at = f"COALESCE({q.epoch('answered_at')}, {q.epoch('entered_at')}"
    answered_at += " + COALESCE(wait_seconds, 0))"
    talk = (
        "CASE WHEN ended_at IS NOT NULL THEN COALESCE(talk_seconds, 0)"
        f" ELSE {q.greatest('0', f'%(t1)s - {answered_at}')} END"
    )
    return (
        f"SELECT pbx_id, agent, queue, MAX(agent_name), COUNT(*), SUM({talk}) FROM {CALLS}"
        f" WHERE {in_day} AND outcome = 'answered' AND agent <> ''"
        " GROUP BY pbx_id, agent, queue"
    )


def answered_by_agent(
    pbx_id: int, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> dict[str, tuple[int, float]]:
    """interface -> (calls answered, seconds talked) in ``[start, end)`` (the agent board's
    columns, without the spans the Today page sums)."""
    params = {
        "p0": pbx_id,
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "t1": min(end, now).timestamp(),
    }
    in_day = "pbx_id IN (%(p0)s) AND entered_at >= %(start)s AND entered_at < %(end)s"
    out: dict[str, tuple[int, float]] = {}
    for _, interface, _, _, answered, talked in _rows(
        _answered_sql(Sql(connection.vendor), in_day), params
    ):
        calls, seconds = out.get(interface, (0, 0.0))
        out[interface] = (calls + answered, seconds + float(talked))
    return out


def _spans_sql(q: Sql, clipped: str, reasons: int) -> str:
    """(queue, pbx, interface, name, state, reason, seconds): each agent's seconds per queue
    (queue not empty), then across its queues (queue empty, name null).

    The sweep runs over the distinct pieces: an agent's state changes with its device in every
    queue at once, so most of its pieces are the same in each of its queues. Each pause reason
    is a state of its own in the sweep (``%(r<n>)s``, the first by name winning, as in
    ``numbers.union``): joining the paused segments back to their spans instead made
    PostgreSQL loop over every span for each segment.
    """
    keys = [
        (f"state = '{STATES[0]}'", STATES[0], "''"),
        (f"state = '{STATES[1]}'", STATES[1], "''"),
    ]
    keys += [
        (f"state = 'paused' AND reason = %(r{n})s", "paused", f"%(r{n})s") for n in range(reasons)
    ]
    # Paused for a reason past MAX_REASONS: below the named ones, so it counts only alone.
    keys.append(("state = 'paused'", "paused", f"'{OTHER_REASONS}'"))
    keys += [(f"state = '{s}'", s, "''") for s in STATES[3:]]
    counts = ", ".join(
        f"SUM(CASE WHEN {cond} THEN d ELSE 0 END) AS c{n}" for n, (cond, _, _) in enumerate(keys)
    )
    running = ", ".join(f"SUM(c{n}) OVER w AS n{n}" for n in range(len(keys)))
    chosen = " ".join(f"WHEN n{n} > 0 THEN {n}" for n in range(len(keys)))
    names = " ".join(f"WHEN {n} THEN '{state}'" for n, (_, state, _) in enumerate(keys))
    why = " ".join(f"WHEN {n} THEN {reason}" for n, (_, _, reason) in enumerate(keys))
    return f"""
WITH s AS (SELECT * FROM ({clipped}) x WHERE b > a),
u AS (SELECT DISTINCT pbx_id, interface, state, reason, a, b FROM s),
ev AS (SELECT pbx_id, interface, a AS t, state, reason, 1 AS d FROM u
       UNION ALL SELECT pbx_id, interface, b AS t, state, reason, -1 AS d FROM u),
pts AS (SELECT pbx_id, interface, t, {counts} FROM ev GROUP BY pbx_id, interface, t),
run AS (SELECT pbx_id, interface, t, LEAD(t) OVER w AS nt, {running} FROM pts
        WINDOW w AS (PARTITION BY pbx_id, interface ORDER BY t ROWS UNBOUNDED PRECEDING)),
seg AS (SELECT pbx_id, interface, nt - t AS span, CASE {chosen} END AS k FROM run
        WHERE nt IS NOT NULL AND nt > t)
SELECT queue, pbx_id, interface, MAX(name), state, reason, {q.seconds("SUM(b - a)")} FROM s
  GROUP BY pbx_id, interface, queue, state, reason
UNION ALL
SELECT '', pbx_id, interface, NULL, CASE k {names} END, CASE k {why} END, {q.seconds("SUM(span)")}
  FROM seg
  WHERE k IS NOT NULL GROUP BY pbx_id, interface, k
"""


def _peaks_in_sql(q: Sql, intervals: list[Interval], in_day: str, params: dict[str, Any]) -> None:
    """The most callers waiting at once per interval, from each call's time in the queue."""
    entered = q.epoch("entered_at")
    left = (
        "CASE WHEN outcome = 'waiting' THEN %(t1)s"
        f" WHEN answered_at IS NOT NULL THEN {q.epoch('answered_at')}"
        f" WHEN wait_seconds IS NOT NULL THEN {entered} + wait_seconds"
        f" ELSE COALESCE({q.epoch('ended_at')}, {entered}) END"
    )
    sql = f"""
WITH c AS (SELECT {entered} AS a, {left} AS b FROM {CALLS} WHERE {in_day}),
ev AS (SELECT a AS t, 1 AS d FROM c WHERE b > a
       UNION ALL SELECT b AS t, -1 AS d FROM c WHERE b > a),
pts AS (SELECT t, SUM(d) AS d FROM ev GROUP BY t),
run AS (SELECT t, SUM(d) OVER (ORDER BY t ROWS UNBOUNDED PRECEDING) AS level,
          {q.interval_of("t")} AS b FROM pts),
ranked AS (SELECT t, level, b, ROW_NUMBER() OVER (PARTITION BY b ORDER BY t DESC) AS rn FROM run)
SELECT b, MAX(level), MIN(t), MAX(CASE WHEN rn = 1 THEN level END) FROM ranked GROUP BY b
"""
    found = {int(b): (int(peak), first, int(last)) for b, peak, first, last in _rows(sql, params)}
    level = 0  # before the first event; events after the window's end change nothing here
    for index, interval in enumerate(intervals):
        peak, first, last = found.get(index, (0, None, None))
        starts_at = params["t0"] + index * params["interval"]
        # The level the interval starts with, unless an event falls on its very start.
        start_level = level if first is None or first > starts_at else 0
        interval.peak_waiting = max(peak if first is not None else 0, start_level)
        if last is not None:
            level = last
