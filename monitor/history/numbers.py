"""A report's numbers, by fcmdash's own count, from the recorded rows (issue 12).

The definitions are Asterisk ``queue_log``'s, because fcmdash's numbers are held against a real
Asterisk's ``queue_log`` for the same calls:

- A call belongs to the window it *entered* the queue in (ENTERQUEUE), and to that 15-minute
  interval; *offered* counts every one, INCOMPLETE ones too.
- *answered*: CONNECT; *abandoned*: ABANDON; *short_abandoned*: abandons after at most
  ``ReportSettings.short_abandon_seconds`` of waiting; *timed_out*: EXITWITHTIMEOUT;
  *exit_empty*: EXITEMPTY.
- *answered_within_sl*: answered after at most the queue's ``QueueThreshold.sl_seconds`` of
  waiting (20 without a row); *service_level_pct* = answered_within_sl / (answered +
  abandoned - short_abandoned), None when that is 0.
- *avg_wait_s* / *max_wait_s*: of answered calls (CONNECT's HoldTime); *avg_talk_s*: of
  completed answered calls (COMPLETEAGENT/COMPLETECALLER's TalkTime); *abandon_rate_pct*:
  abandoned / offered.
- Per agent (member interface): *answered* and *talk_s* from the calls it answered (a call still
  talking counts up to now), *missed*: RINGNOANSWER rows; state seconds from its spans, clipped to
  the window, an open one up to now. Across queues a moment counts once, in the state of highest
  priority (:data:`PRIORITY`): an agent ringing in two queues rings for those seconds once.
- *partial*: a gap overlaps the window, or a call of it is INCOMPLETE or was completed from a
  resync.

:func:`compute` is pure: it takes rows as tuples and the moment "now" (the reference;
:mod:`monitor.history.aggregate` counts the same in the database, and
:func:`monitor.history.report.build` reads the rows for either).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..history_models import AgentState, Outcome

DEFAULT_SL_SECONDS = 20
DEFAULT_SL_TARGET = 80
INTERVAL = dt.timedelta(minutes=15)
# The state a moment counts in when an agent's spans in several queues overlap.
PRIORITY = (
    AgentState.IN_CALL,
    AgentState.RINGING,
    AgentState.PAUSED,
    AgentState.AVAILABLE,
    AgentState.UNAVAILABLE,
)
RANK = {state: n for n, state in enumerate(PRIORITY)}


class CallRow(NamedTuple):
    """What the numbers read of a :class:`~monitor.history_models.QueueCallRecord`."""

    pbx_id: int
    queue: str
    entered_at: dt.datetime
    outcome: str
    wait_seconds: int | None
    talk_seconds: int | None
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    agent: str
    agent_name: str
    partial: bool


class SpanRow(NamedTuple):
    pbx_id: int
    queue: str
    interface: str
    name: str
    state: str
    reason: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class MissRow(NamedTuple):
    pbx_id: int
    queue: str
    interface: str
    name: str


@dataclass
class Tally:
    """Counts of some calls: a queue's, or an interval's."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    exit_empty: int = 0
    answered_within_sl: int = 0
    incomplete: int = 0
    wait_total: int = 0
    waits: int = 0
    max_wait_s: int | None = None
    talk_total: int = 0
    talks: int = 0

    @property
    def service_level_pct(self) -> float | None:
        counted = self.answered + self.abandoned - self.short_abandoned
        return round(100 * self.answered_within_sl / counted, 1) if counted > 0 else None

    @property
    def avg_wait_s(self) -> float | None:
        return round(self.wait_total / self.waits, 1) if self.waits else None

    @property
    def avg_talk_s(self) -> float | None:
        return round(self.talk_total / self.talks, 1) if self.talks else None

    @property
    def abandon_rate_pct(self) -> float | None:
        return round(100 * self.abandoned / self.offered, 1) if self.offered else None

    def add(self, call: CallRow, sl_seconds: int, short_abandon: int) -> None:
        self.offered += 1
        outcome, wait = call.outcome, call.wait_seconds
        if outcome == Outcome.ANSWERED:
            self.answered += 1
            if wait is not None:
                self.wait_total += wait
                self.waits += 1
                self.max_wait_s = wait if self.max_wait_s is None else max(self.max_wait_s, wait)
                if wait <= sl_seconds:
                    self.answered_within_sl += 1
            if call.ended_at is not None and call.talk_seconds is not None:
                self.talk_total += call.talk_seconds
                self.talks += 1
        elif outcome == Outcome.ABANDONED:
            self.abandoned += 1
            if wait is not None and wait <= short_abandon:
                self.short_abandoned += 1
        elif outcome == Outcome.TIMEOUT:
            self.timed_out += 1
        elif outcome == Outcome.EXIT_EMPTY:
            self.exit_empty += 1
        elif outcome == Outcome.INCOMPLETE:
            self.incomplete += 1


@dataclass
class QueueNumbers(Tally):
    pbx_id: int = 0
    queue: str = ""
    sl_seconds: int = DEFAULT_SL_SECONDS
    sl_target: int = DEFAULT_SL_TARGET
    partial: bool = False


@dataclass
class AgentNumbers:
    """One member interface's numbers: across its queues (``queue`` None) or in one."""

    pbx_id: int
    interface: str
    queue: str | None = None
    name: str = ""
    answered: int = 0
    missed: int = 0
    talk_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    paused_by_reason: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def paused_s(self) -> float:
        return self.seconds.get(AgentState.PAUSED, 0.0)

    @property
    def available_s(self) -> float:
        return self.seconds.get(AgentState.AVAILABLE, 0.0)


@dataclass
class Interval(Tally):
    start: dt.datetime | None = None
    peak_waiting: int = 0


@dataclass
class DayNumbers:
    start: dt.datetime
    end: dt.datetime
    queues: list[QueueNumbers]
    agents: list[AgentNumbers]  # across queues
    agent_queues: list[AgentNumbers]  # per queue
    intervals: list[Interval]
    gaps: list[tuple[dt.datetime, dt.datetime]]
    partial: bool
    total: Tally


def compute(
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    calls: Iterable[CallRow],
    spans: Iterable[SpanRow],
    misses: Iterable[MissRow],
    gaps: Iterable[tuple[dt.datetime, dt.datetime | None]],
    sl: dict[tuple[int, str], tuple[int, int]] | None = None,
    short_abandon: int = 5,
    queue_names: Iterable[tuple[int, str]] = (),
) -> DayNumbers:
    """The numbers of ``[start, end)`` seen at ``now``.

    ``calls``: those that entered in the window; ``spans``: those overlapping it; ``misses``:
    those in it; ``gaps``: those overlapping it (an open one ends at ``now``). ``sl``: (pbx id,
    queue) -> (sl seconds, sl target %); ``queue_names``: queues to list even without calls.
    """
    sl = sl or {}
    upto = min(end, now)
    queues, queue_of = queue_book(sl, queue_names)
    calls = list(calls)
    n_intervals = max(1, -(-(end - start) // INTERVAL))
    intervals = [Interval(start=start + n * INTERVAL) for n in range(n_intervals)]
    total = Tally()
    agents: dict[tuple[int, str, str | None], AgentNumbers] = {}
    partial = False
    for call in calls:
        q = queue_of(call.pbx_id, call.queue)
        q.add(call, q.sl_seconds, short_abandon)
        total.add(call, q.sl_seconds, short_abandon)
        n = (call.entered_at - start) // INTERVAL
        if 0 <= n < n_intervals:
            intervals[n].add(call, q.sl_seconds, short_abandon)
        if call.partial or call.outcome == Outcome.INCOMPLETE:
            q.partial = partial = True
        if call.outcome == Outcome.ANSWERED and call.agent:
            talk = _talk(call, upto)
            for key in ((call.pbx_id, call.agent, None), (call.pbx_id, call.agent, call.queue)):
                agent = _agent(agents, key, call.agent_name)
                agent.answered += 1
                agent.talk_s += talk
    for miss in misses:
        for key in ((miss.pbx_id, miss.interface, None), (miss.pbx_id, miss.interface, miss.queue)):
            _agent(agents, key, miss.name).missed += 1
    _add_spans(agents, spans, start, upto)
    _peaks(intervals, calls, start, upto)
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


def assemble(
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    queues: dict[tuple[int, str], QueueNumbers],
    agents: dict[tuple[int, str, str | None], AgentNumbers],
    intervals: list[Interval],
    gaps: Iterable[tuple[dt.datetime, dt.datetime | None]],
    partial: bool,
    total: Tally,
) -> DayNumbers:
    """The numbers in their order (queues by name, agents by name), the gaps clipped to the
    window (an open one ends now)."""
    gap_list = [(max(s, start), min(e or now, end)) for s, e in gaps]
    gap_list = [(s, e) for s, e in gap_list if e > s]
    ordered = sorted(agents.values(), key=lambda a: (a.pbx_id, a.name or a.interface, a.interface))
    return DayNumbers(
        start=start,
        end=end,
        queues=sorted(queues.values(), key=lambda q: (q.pbx_id, q.queue)),
        agents=[a for a in ordered if a.queue is None],
        agent_queues=sorted(
            (a for a in ordered if a.queue is not None),
            key=lambda a: (a.pbx_id, a.queue or "", a.name or a.interface),
        ),
        intervals=intervals,
        gaps=gap_list,
        partial=partial or bool(gap_list),
        total=total,
    )


def _agent(
    agents: dict[tuple[int, str, str | None], AgentNumbers],
    key: tuple[int, str, str | None],
    name: str,
) -> AgentNumbers:
    found = agents.get(key)
    if found is None:
        found = agents[key] = AgentNumbers(pbx_id=key[0], interface=key[1], queue=key[2])
    if name and not found.name:
        found.name = name
    return found


def _talk(call: CallRow, upto: dt.datetime) -> float:
    """Seconds talked: TalkTime once done, else since it was answered (up to now)."""
    if call.ended_at is not None:
        return float(call.talk_seconds or 0)
    answered = call.answered_at or call.entered_at + dt.timedelta(seconds=call.wait_seconds or 0)
    return max(0.0, (upto - answered).total_seconds())


def _add_spans(
    agents: dict[tuple[int, str, str | None], AgentNumbers],
    spans: Iterable[SpanRow],
    start: dt.datetime,
    upto: dt.datetime,
) -> None:
    """State seconds per queue (spans of one queue and interface follow each other), and across
    queues by a sweep over the interface's spans where they overlap."""
    by_interface: dict[tuple[int, str], list[tuple[float, float, str, str]]] = defaultdict(list)
    t0, t1 = start.timestamp(), upto.timestamp()
    for span in spans:
        a = max(span.started_at.timestamp(), t0)
        b = min(span.ended_at.timestamp(), t1) if span.ended_at is not None else t1
        if b <= a:
            continue
        agent = _agent(agents, (span.pbx_id, span.interface, span.queue), span.name)
        agent.seconds[span.state] += b - a
        if span.state == AgentState.PAUSED:
            agent.paused_by_reason[span.reason] += b - a
        by_interface[(span.pbx_id, span.interface)].append((a, b, span.state, span.reason))
        if span.name:
            _agent(agents, (span.pbx_id, span.interface, None), span.name)
    for key, pieces in by_interface.items():
        across = _agent(agents, (*key, None), "")
        for (state, reason), seconds in union(pieces).items():
            across.seconds[state] += seconds
            if state == AgentState.PAUSED:
                across.paused_by_reason[reason] += seconds


def union(pieces: Sequence[tuple[float, float, str, str]]) -> dict[tuple[str, str], float]:
    """Seconds per (state, reason) of overlapping ``(from, to, state, reason)`` pieces, each
    moment once, in the state of highest :data:`PRIORITY` (then the first reason by name)."""
    if len(pieces) == 1:
        a, b, state, reason = pieces[0]
        return {(state, reason): b - a}
    events: list[tuple[float, int, tuple[int, str]]] = []
    for a, b, state, reason in pieces:
        key = (RANK.get(state, len(PRIORITY)), reason)
        events.append((a, 1, key))
        events.append((b, -1, key))
    events.sort(key=lambda e: e[0])
    open_: dict[tuple[int, str], int] = defaultdict(int)
    out: dict[tuple[str, str], float] = defaultdict(float)
    last = events[0][0]
    for t, delta, key in events:
        if t > last and open_:
            rank, reason = min(open_)
            state = PRIORITY[rank] if rank < len(PRIORITY) else AgentState.UNAVAILABLE
            out[(state, reason)] += t - last
        last = t
        open_[key] += delta
        if not open_[key]:
            del open_[key]
    return out


def _peaks(
    intervals: list[Interval], calls: Sequence[CallRow], start: dt.datetime, upto: dt.datetime
) -> None:
    """The most callers waiting at once in each interval, from each call's time in the queue."""
    events: list[tuple[dt.datetime, int]] = []
    for call in calls:
        left = _left_queue(call, upto)
        if left > call.entered_at:
            events.append((call.entered_at, 1))
            events.append((left, -1))
    events.sort()  # at one instant a caller leaving goes before one entering
    waiting = 0
    n = len(intervals)
    reached = 0  # the intervals up to this one start at the level before the next event
    for t, delta in events:
        index = min(max(0, (t - start) // INTERVAL), n - 1)
        while reached < index:  # no event between: the next interval starts at this level
            reached += 1
            if reached < index or t > intervals[index].start:  # else it starts with this event
                intervals[reached].peak_waiting = max(intervals[reached].peak_waiting, waiting)
        waiting += delta
        if t < start + n * INTERVAL:
            intervals[index].peak_waiting = max(intervals[index].peak_waiting, waiting)


def _left_queue(call: CallRow, upto: dt.datetime) -> dt.datetime:
    """When the caller stopped waiting: answered, left, or (still waiting) now."""
    if call.outcome == Outcome.WAITING:
        return upto
    if call.answered_at is not None:
        return call.answered_at
    if call.wait_seconds is not None:
        return call.entered_at + dt.timedelta(seconds=call.wait_seconds)
    return call.ended_at or call.entered_at


def as_dict(numbers: Any) -> dict[str, Any]:
    """A tally's numbers by the API's names."""
    return {
        "offered": numbers.offered,
        "answered": numbers.answered,
        "abandoned": numbers.abandoned,
        "short_abandoned": numbers.short_abandoned,
        "timed_out": numbers.timed_out,
        "exit_empty": numbers.exit_empty,
        "answered_within_sl": numbers.answered_within_sl,
        "service_level_pct": numbers.service_level_pct,
        "avg_wait_s": numbers.avg_wait_s,
        "max_wait_s": numbers.max_wait_s,
        "avg_talk_s": numbers.avg_talk_s,
        "abandon_rate_pct": numbers.abandon_rate_pct,
    }


def queue_book(
    sl: dict[tuple[int, str], tuple[int, int]], names: Iterable[tuple[int, str]]
) -> tuple[dict[tuple[int, str], QueueNumbers], Callable[[int, str], QueueNumbers]]:
    """The queues' numbers by (pbx id, name), those of ``names`` listed even without calls, and
    the function that finds or adds one, with its service level (both ways of counting)."""
    queues: dict[tuple[int, str], QueueNumbers] = {}

    def queue_of(pbx_id: int, name: str) -> QueueNumbers:
        found = queues.get((pbx_id, name))
        if found is None:
            seconds, target = sl.get((pbx_id, name), (DEFAULT_SL_SECONDS, DEFAULT_SL_TARGET))
            found = queues[(pbx_id, name)] = QueueNumbers(
                pbx_id=pbx_id, queue=name, sl_seconds=seconds, sl_target=target
            )
        return found

    for pbx_id, name in names:
        queue_of(pbx_id, name)
    return queues, queue_of
