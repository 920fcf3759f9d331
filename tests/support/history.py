"""History rows for the tests of the day's numbers, pages, CSV and API: made directly with the
models, as the recorder writes them (monitor/history_models.py's contract), so that each test
knows the calls it made and tallies them itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from monitor.history_models import (
    AgentMiss,
    AgentSpan,
    AgentState,
    Outcome,
    QueueCallRecord,
    RecordGap,
    ReportSettings,
)
from monitor.models import Pbx

UTC = dt.UTC


def pbx_named(name: str = "Main") -> Pbx:
    return Pbx.objects.create(name=name, host="127.0.0.1", username="wallboard1", connected=True)


@dataclass
class Day:
    """Rows of one PBX, and the calls made, for a test's own tally."""

    pbx: Pbx
    calls: list[QueueCallRecord] = field(default_factory=list)
    n: int = 0

    def call(
        self,
        queue: str,
        entered: dt.datetime,
        outcome: str,
        *,
        wait: int | None = None,
        talk: int | None = None,
        agent: str = "",
        done: bool = True,
        partial: bool = False,
    ) -> QueueCallRecord:
        """A caller's stay: ``wait`` seconds in the queue, then ``outcome`` (answered by
        ``agent`` and ``talk`` seconds of talking when ``done``)."""
        self.n += 1
        answered = outcome == Outcome.ANSWERED
        left = entered + dt.timedelta(seconds=wait or 0)
        ended = None
        if answered and done:
            ended = left + dt.timedelta(seconds=talk or 0)
        elif not answered and outcome not in (Outcome.WAITING, Outcome.INCOMPLETE):
            ended = left
        row = QueueCallRecord.objects.create(
            pbx=self.pbx,
            queue=queue,
            uniqueid=f"1700000000.{self.n}",
            caller_num=f"0301{self.n:06d}",
            entered_at=entered,
            outcome=outcome,
            wait_seconds=wait,
            talk_seconds=talk if answered and done else None,
            answered_at=left if answered else None,
            ended_at=ended,
            agent=agent if answered else "",
            agent_name=agent.replace("PJSIP/", "Agent ") if answered else "",
            completed_by="agent" if ended and answered else "",
            partial=partial,
        )
        self.calls.append(row)
        return row

    def span(
        self,
        queue: str,
        interface: str,
        state: str,
        started: dt.datetime,
        ended: dt.datetime | None,
        reason: str = "",
    ) -> AgentSpan:
        return AgentSpan.objects.create(
            pbx=self.pbx,
            queue=queue,
            interface=interface,
            name=interface.replace("PJSIP/", "Agent "),
            state=state,
            reason=reason,
            started_at=started,
            ended_at=ended,
        )

    def miss(self, queue: str, interface: str, at: dt.datetime) -> AgentMiss:
        return AgentMiss.objects.create(
            pbx=self.pbx, queue=queue, interface=interface, uniqueid="x", at=at, ring_ms=15000
        )

    def gap(self, started: dt.datetime, ended: dt.datetime | None) -> RecordGap:
        return RecordGap.objects.create(
            pbx=self.pbx, started_at=started, ended_at=ended, reason="AMI session down"
        )


__all__ = ["AgentState", "Day", "Outcome", "pbx_named"]


def day_holding_the_last(hours: float) -> ReportSettings:
    """Report settings whose day (UTC) started ``hours`` + 1 before now, so that rows placed in
    the last ``hours`` are all today's whatever the clock says (run just after midnight, "the
    last two hours" of a day starting at 00:00 would be partly yesterday's)."""
    from django.utils import timezone

    start = (timezone.now() - dt.timedelta(hours=hours + 1)).time().replace(second=0, microsecond=0)
    return ReportSettings.objects.create(day_starts=start, time_zone="UTC")
