"""The day's numbers against the tests' own tally of the calls they made (queue_log's
definitions, monitor/history/numbers.py), per queue, per agent and per 15 minutes."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from monitor.history import report as reports
from monitor.history.days import day_window
from monitor.history.numbers import union
from monitor.history_models import AgentState, Outcome, ReportSettings
from monitor.web_models import QueueThreshold
from tests.support.history import Day, pbx_named

UTC = dt.UTC
DAY = dt.date(2026, 5, 4)
T0 = dt.datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # 10:00 in Berlin
NOW = dt.datetime(2026, 5, 4, 16, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["sql", "python"])
def counted(request, monkeypatch):
    """Every test twice: counted in the database (what the pages use) and by the pure
    reference computation over the rows."""
    monkeypatch.setattr(reports, "IN_SQL", request.param == "sql")
    return request.param


def berlin() -> ReportSettings:
    return ReportSettings.objects.create(time_zone="Europe/Berlin", short_abandon_seconds=5)


def numbers_of(day: Day, settings: ReportSettings, when: dt.date = DAY, now=NOW):
    return reports.build([day.pbx], day_window(settings, when), now, settings).numbers


def test_queue_numbers_match_an_independent_tally():
    settings = berlin()
    day = Day(pbx_named())
    QueueThreshold.objects.create(pbx=day.pbx, queue_name="sales", sl_seconds=30, sl_target=90)
    rng = random.Random(12)
    outcomes = [Outcome.ANSWERED] * 6 + [Outcome.ABANDONED] * 3
    outcomes += [Outcome.TIMEOUT, Outcome.EXIT_EMPTY, Outcome.INCOMPLETE, Outcome.EXIT_KEY]
    for n in range(400):
        outcome = rng.choice(outcomes)
        wait = rng.randint(0, 60) if outcome != Outcome.INCOMPLETE else None
        day.call(
            rng.choice(["sales", "support"]),
            T0 + dt.timedelta(seconds=60 * n + rng.randint(0, 59)),
            outcome,
            wait=wait,
            talk=rng.randint(10, 300),
            agent=rng.choice(["PJSIP/1001", "PJSIP/1002"]),
            done=rng.random() < 0.95,
        )
    found = {q.queue: q for q in numbers_of(day, settings).queues}
    for name, sl in (("sales", 30), ("support", 20)):
        mine = [c for c in day.calls if c.queue == name]
        answered = [c for c in mine if c.outcome == "answered"]
        abandoned = [c for c in mine if c.outcome == "abandoned"]
        short = [c for c in abandoned if c.wait_seconds <= 5]
        within = [c for c in answered if c.wait_seconds <= sl]
        talked = [c.talk_seconds for c in answered if c.ended_at is not None]
        q = found[name]
        assert q.offered == len(mine)
        assert q.answered == len(answered)
        assert q.abandoned == len(abandoned)
        assert q.short_abandoned == len(short)
        assert q.timed_out == sum(c.outcome == "timeout" for c in mine)
        assert q.exit_empty == sum(c.outcome == "exitempty" for c in mine)
        assert q.answered_within_sl == len(within)
        assert q.sl_seconds == sl
        expected_sl = 100 * len(within) / (len(answered) + len(abandoned) - len(short))
        assert q.service_level_pct == round(expected_sl, 1)
        assert q.max_wait_s == max(c.wait_seconds for c in answered)
        assert q.avg_wait_s == round(sum(c.wait_seconds for c in answered) / len(answered), 1)
        assert q.avg_talk_s == round(sum(talked) / len(talked), 1)
        assert q.abandon_rate_pct == round(100 * len(abandoned) / len(mine), 1)
        assert q.partial  # it has INCOMPLETE calls
    assert found["sales"].sl_target == 90 and found["support"].sl_target == 80


def test_calls_outside_the_day_are_not_counted_and_queues_without_calls_are_listed():
    settings = berlin()
    day = Day(pbx_named())
    day.pbx.queues.create(name="quiet")
    day_start = dt.datetime(2026, 5, 3, 22, 0, tzinfo=UTC)  # 00:00 in Berlin (CEST)
    day.call("sales", day_start - dt.timedelta(seconds=1), Outcome.ANSWERED, wait=3, talk=9)
    day.call("sales", day_start, Outcome.ANSWERED, wait=3, talk=9, agent="PJSIP/1001")
    day.call("sales", day_start + dt.timedelta(days=1), Outcome.ABANDONED, wait=9)
    numbers = numbers_of(day, settings)
    by_name = {q.queue: q for q in numbers.queues}
    assert by_name["sales"].offered == 1 and by_name["sales"].answered == 1
    assert by_name["quiet"].offered == 0 and by_name["quiet"].service_level_pct is None
    assert not numbers.partial


def test_intervals_count_calls_where_they_entered_and_the_most_callers_waiting():
    settings = berlin()
    day = Day(pbx_named())
    # 10:00-10:15 (Berlin): three callers, two of them waiting at once at 10:01:30.
    day.call("q", T0 + dt.timedelta(seconds=60), Outcome.ANSWERED, wait=60, talk=30, agent="A")
    day.call("q", T0 + dt.timedelta(seconds=90), Outcome.ABANDONED, wait=2)
    day.call("q", T0 + dt.timedelta(seconds=200), Outcome.ABANDONED, wait=40)
    # 10:14:50, waiting into the next interval until 10:16:30: three at once with two more.
    entered = T0 + dt.timedelta(minutes=14, seconds=50)
    day.call("q", entered, Outcome.ANSWERED, wait=100, talk=10, agent="A")
    day.call("q", T0 + dt.timedelta(minutes=15, seconds=10), Outcome.TIMEOUT, wait=60)
    day.call("q", T0 + dt.timedelta(minutes=15, seconds=20), Outcome.WAITING)  # still waiting
    numbers = numbers_of(day, settings)
    assert len(numbers.intervals) == 96
    first = numbers.intervals[40]  # 10:00 is 40 quarters after midnight
    assert first.start == T0
    assert (first.offered, first.answered, first.abandoned, first.short_abandoned) == (4, 2, 2, 1)
    # within 20 s: none of 2 answered (60 s, 100 s); 2 answered + 2 abandoned - 1 short = 3
    assert first.service_level_pct == 0.0
    assert first.peak_waiting == 2
    second = numbers.intervals[41]
    assert (second.offered, second.timed_out) == (2, 1)
    assert second.peak_waiting == 3
    # The one still waiting at NOW (18:00 Berlin) fills every interval up to it.
    assert numbers.intervals[71].peak_waiting == 1
    assert numbers.intervals[72].peak_waiting == 0
    assert numbers.intervals[39].peak_waiting == 0


def test_agent_across_queues_counts_each_moment_once_by_priority():
    settings = berlin()
    day = Day(pbx_named())
    a = "PJSIP/1001"
    m = dt.timedelta(minutes=1)
    # In both queues: available 10:00-10:10; at 10:10 a call of "sales" rings it 1 min (in
    # "support" it shows in use), a 5-min call, then a lunch pause in both until 11:00 (open in
    # "support": it is still paused now... no: ended at 11:00 there too).
    day.span("sales", a, AgentState.AVAILABLE, T0, T0 + 10 * m)
    day.span("support", a, AgentState.AVAILABLE, T0, T0 + 10 * m)
    day.span("sales", a, AgentState.RINGING, T0 + 10 * m, T0 + 11 * m)
    day.span("support", a, AgentState.IN_CALL, T0 + 10 * m, T0 + 16 * m)
    day.span("sales", a, AgentState.IN_CALL, T0 + 11 * m, T0 + 16 * m)
    day.span("sales", a, AgentState.PAUSED, T0 + 16 * m, T0 + 60 * m, "lunch")
    day.span("support", a, AgentState.PAUSED, T0 + 16 * m, T0 + 60 * m, "lunch")
    # Then available in "sales" only until now (open), unavailable in "support" (open).
    day.span("sales", a, AgentState.AVAILABLE, T0 + 60 * m, None)
    day.span("support", a, AgentState.UNAVAILABLE, T0 + 60 * m, None)
    day.call("sales", T0 + 10 * m, Outcome.ANSWERED, wait=60, talk=300, agent=a)
    day.miss("support", a, T0 + 5 * m)
    day.miss("sales", a, T0 + 7 * m)
    numbers = numbers_of(day, settings)
    [agent] = numbers.agents
    until_now = (NOW - (T0 + 60 * m)).total_seconds()
    assert agent.seconds[AgentState.IN_CALL] == 6 * 60  # support's in-use beats sales' ringing
    assert agent.seconds.get(AgentState.RINGING, 0) == 0
    assert agent.paused_s == 44 * 60 and agent.paused_by_reason == {"lunch": 44 * 60}
    assert agent.available_s == 10 * 60 + until_now  # available in one queue is available
    assert agent.seconds.get(AgentState.UNAVAILABLE, 0) == 0
    assert (agent.answered, agent.missed, agent.talk_s) == (1, 2, 300)
    per_queue = {q.queue: q for q in numbers.agent_queues}
    assert per_queue["sales"].seconds[AgentState.RINGING] == 60
    assert per_queue["support"].seconds[AgentState.UNAVAILABLE] == until_now
    assert (per_queue["sales"].answered, per_queue["support"].answered) == (1, 0)
    assert (per_queue["sales"].missed, per_queue["support"].missed) == (1, 1)


def test_a_call_still_talking_counts_up_to_now():
    settings = berlin()
    day = Day(pbx_named())
    day.call("q", NOW - dt.timedelta(seconds=100), Outcome.ANSWERED, wait=10, agent="A", done=False)
    numbers = numbers_of(day, settings)
    assert numbers.agents[0].talk_s == 90
    assert numbers.queues[0].avg_talk_s is None  # not completed yet


def test_union_breaks_ties_by_reason_and_counts_gaps_as_nothing():
    pieces = [(0, 10, "paused", "lunch"), (5, 20, "paused", "break"), (30, 40, "available", "")]
    assert union(pieces) == {("paused", "break"): 15, ("paused", "lunch"): 5, ("available", ""): 10}


def test_a_gap_makes_the_day_partial_clipped_to_the_day():
    settings = berlin()
    day = Day(pbx_named())
    day.call("q", T0, Outcome.ANSWERED, wait=3, talk=30, agent="A")
    assert not numbers_of(day, settings).partial
    day.gap(T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=5))
    day.gap(dt.datetime(2026, 5, 4, 21, 50, tzinfo=UTC), None)  # still open: ends now
    now = dt.datetime(2026, 5, 5, 1, 0, tzinfo=UTC)  # the next day in Berlin
    numbers = numbers_of(day, settings, now=now)
    assert numbers.partial
    assert numbers.gaps == [
        (T0 + dt.timedelta(minutes=2), T0 + dt.timedelta(minutes=5)),
        (dt.datetime(2026, 5, 4, 21, 50, tzinfo=UTC), dt.datetime(2026, 5, 4, 22, 0, tzinfo=UTC)),
    ]


def test_a_call_completed_from_a_resync_makes_the_day_partial():
    settings = berlin()
    day = Day(pbx_named())
    day.call("q", T0, Outcome.ANSWERED, wait=3, talk=30, agent="A", partial=True)
    numbers = numbers_of(day, settings)
    assert numbers.partial and numbers.queues[0].partial
