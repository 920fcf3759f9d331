"""What the Today page's and the agent board's tiles show of one PBX, loaded for the page and
for the live update alike (the partials ``monitor/jinja2/monitor/tiles/today.html`` and
``agents.html``; :mod:`monitor.broadcast` renders them when the recorder wrote rows)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from ..history_models import AgentSpan, AgentState, ReportSettings
from ..models import DeviceState, Pbx, QueueMember
from ..templatetags.monitor_tags import entities
from . import charts
from .aggregate import answered_by_agent
from .days import Window, today_window
from .numbers import RANK, AgentNumbers, DayNumbers
from .report import Report, build, missing_numbers

# The board's words for each state, with a symbol, as the wallboard shows every state three ways.
STATE_WORDS = {  # symbols as character references: a live update stays pure ASCII (tiles.py)
    AgentState.AVAILABLE: "\u2713 available",
    AgentState.RINGING: "\u266a ringing",
    AgentState.IN_CALL: "\u260e in a call",
    AgentState.PAUSED: "\u2016 paused",
    AgentState.UNAVAILABLE: "\u2715 unavailable",
}
BUSY = {DeviceState.INUSE, DeviceState.BUSY, DeviceState.ONHOLD, DeviceState.RINGINUSE}
UNAVAILABLE = {DeviceState.UNAVAILABLE, DeviceState.INVALID, DeviceState.UNKNOWN}


@dataclass
class TodaySection:
    """One PBX's part of the Today page."""

    pbx: Pbx
    report: Report
    gaps: list[str]  # "10:02-10:05" in the day's time zone
    target: int
    calls_chart: SafeString
    sl_chart: SafeString
    waiting_chart: SafeString

    @property
    def numbers(self) -> DayNumbers:
        return self.report.numbers

    @property
    def missing(self) -> dict[str, str]:
        return self.report.missing.get(self.pbx.pk, {})


def dom_key(text: str) -> str:
    """A short id part for a PBX's name of a queue or interface (any characters, any length):
    rows keep their ids across updates, so that morphing matches them."""
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def clock_range(window: Window, start: dt.datetime, end: dt.datetime) -> str:
    a, b = window.local(start), window.local(end)
    return f"{a:%H:%M}-{b:%H:%M}" if a.date() == b.date() else f"{a:%d %b %H:%M}-{b:%d %b %H:%M}"


def target_of(numbers: DayNumbers) -> int:
    """The service-level target the chart shows: the one most of the queues have."""
    targets = Counter(q.sl_target for q in numbers.queues)
    return targets.most_common(1)[0][0] if targets else 80


def today_section(
    pbx: Pbx, window: Window, now: dt.datetime, report: ReportSettings
) -> TodaySection:
    found = build([pbx], window, now, report)
    numbers = found.numbers
    for row in (*numbers.queues, *numbers.agents):
        row.dom = dom_key(row.interface if isinstance(row, AgentNumbers) else row.queue)
    fractions = charts.gap_fractions(numbers.gaps, window.start, window.end)
    target = target_of(numbers)
    return TodaySection(
        pbx=pbx,
        report=found,
        gaps=[clock_range(window, a, b) for a, b in numbers.gaps],
        target=target,
        calls_chart=charts.calls_chart(numbers.intervals, window.zone, fractions),
        sl_chart=charts.service_level_chart(numbers.intervals, window.zone, fractions, target),
        waiting_chart=charts.waiting_chart(numbers.intervals, window.zone, fractions),
    )


@dataclass
class BoardAgent:
    """One member interface on the agent board."""

    interface: str
    name: str
    state: str
    since: dt.datetime | None = None
    reason: str = ""
    queues: list[str] = field(default_factory=list)
    answered: int = 0
    talk_s: int = 0

    @property
    def dom(self) -> str:
        return dom_key(self.interface)

    @property
    def state_word(self) -> SafeString:
        return entities(STATE_WORDS.get(self.state, self.state))


@dataclass
class AgentBoard:
    pbx: Pbx
    agents: list[BoardAgent]
    missing: dict[str, str]


def member_state(paused: bool, status: str, in_call: bool) -> str:
    """A mirrored member's state as the history names it (paused wins, as in the spans)."""
    if paused:
        return AgentState.PAUSED
    if status == DeviceState.RINGING:
        return AgentState.RINGING
    if in_call or status in BUSY:
        return AgentState.IN_CALL
    if status in UNAVAILABLE:
        return AgentState.UNAVAILABLE
    return AgentState.AVAILABLE


def agent_board(pbx: Pbx, now: dt.datetime, report: ReportSettings) -> AgentBoard:
    """Every member interface of ``pbx`` now: its state (of highest priority over its queues),
    since when (the open span's start), its pause reason, today's answered calls and talk."""
    agents: dict[str, BoardAgent] = {}
    rows = QueueMember.objects.filter(pbx_id=pbx.pk).order_by("queue__name")
    fields = ("interface", "name", "paused", "paused_reason", "status", "in_call", "queue__name")
    for interface, name, paused, reason, status, in_call, queue in rows.values_list(*fields):
        state = member_state(paused, status, in_call)
        agent = agents.get(interface)
        if agent is None:
            agent = agents[interface] = BoardAgent(interface, name, state)
        elif RANK[state] < RANK[agent.state]:
            agent.state = state
        if paused and reason and not agent.reason:
            agent.reason = reason
        agent.queues.append(queue)
    since: dict[tuple[str, str], dt.datetime] = {}
    open_spans = AgentSpan.objects.filter(pbx_id=pbx.pk, ended_at__isnull=True)
    for interface, state, started in open_spans.values_list("interface", "state", "started_at"):
        key = (interface, state)
        since[key] = min(started, since.get(key, started))
    window = today_window(report, now)
    today = answered_by_agent(pbx.pk, window.start, window.end, now)
    for agent in agents.values():
        agent.since = since.get((agent.interface, agent.state))
        agent.answered, talk = today.get(agent.interface, (0, 0.0))
        agent.talk_s = int(talk)
    ordered = sorted(agents.values(), key=lambda a: ((a.name or a.interface).lower(), a.interface))
    return AgentBoard(pbx, ordered, missing_numbers(pbx))
