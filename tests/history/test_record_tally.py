"""The recorded rows against a queue_log, line for line (outcome, wait, talk, agent, who hung
up, the rings not answered, the pause periods): the lab's f5 transcript (a real Asterisk's
queue calls, with the queue_log lines it wrote) replayed into a real worker, and a busy day of
the simulator's call centre against the queue_log the simulator wrote for it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from monitor.history_models import AgentMiss, AgentSpan, QueueCallRecord
from monitor.models import Pbx
from monitor.sim.queuelog import Tally, tally
from monitor.sim.replay import Replay, load
from monitor.sim.scenario import Scenario, ScenarioConfig
from monitor.sim.server import PbxSimulator
from monitor.sim.transcript import transcripts_dir
from tests.mirror.conftest import sim  # noqa: F401 - the lab PBX fixture, shared
from tests.mirror.harness import ADMIN, eventually, running_worker
from tests.production.conftest import fresh_database
from tests.reliability.conftest import eventually as polled
from tests.reliability.database import migrate, postgres_through
from tests.reliability.test_database_outage import postgres_proxy  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)

SPEED = 200.0
CALLS = 300  # queue calls of the simulated day
QUEUE_LOG = re.compile(r"^\S+ # queue_log: (.*)$")


def f5_queue_log() -> list[str]:
    text = (transcripts_dir() / "f5-queue-calls-for-statistics.txt").read_text()
    return [m.group(1) for raw in text.splitlines() if (m := QUEUE_LOG.match(raw))]


def recorded_calls(pbx_id: int) -> dict[tuple[str, str], dict]:
    fields = ("outcome", "wait_seconds", "talk_seconds", "agent", "completed_by")
    return {
        (r["queue"], r["uniqueid"]): {k: r[k] for k in fields}
        for r in QueueCallRecord.objects.filter(pbx_id=pbx_id).values("queue", "uniqueid", *fields)
    }


def differences(pbx_id: int, expected: Tally) -> list[str]:
    """What the rows say that the queue_log does not (empty: they agree on every line)."""
    out = []
    calls = recorded_calls(pbx_id)
    for key in sorted(set(calls) | set(expected.calls)):
        if calls.get(key) != expected.calls.get(key):
            out.append(f"{key}: recorded {calls.get(key)}, queue_log {expected.calls.get(key)}")
    misses = sorted(
        AgentMiss.objects.filter(pbx_id=pbx_id).values_list(
            "queue", "interface", "uniqueid", "ring_ms"
        )
    )
    if misses != sorted(expected.misses):
        out.append(f"misses: recorded {misses}, queue_log {sorted(expected.misses)}")
    paused = AgentSpan.objects.filter(pbx_id=pbx_id, state="paused").order_by("started_at")
    pauses: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for span in paused:
        pauses.setdefault((span.queue, span.name), []).append(
            (span.reason, span.ended_at is not None)
        )
    if pauses != expected.pauses:
        out.append(f"pauses: recorded {pauses}, queue_log {expected.pauses}")
    return out


async def test_f5_replayed_gives_the_rows_its_queue_log_lines_say(sim):  # noqa: F811
    async with running_worker(sim) as worker:
        await replayed_f5(sim, worker, eventually)


async def replayed_f5(lab, worker, until) -> None:  # noqa: ANN001
    """Replay f5 into ``worker`` and wait (``until``: a test's eventually) for its rows."""
    expected = tally(f5_queue_log())
    assert len(expected.calls) == 5 and len(expected.misses) == 2  # (a) to (e)
    replay = Replay(lab, load("f5-queue-calls-for-statistics"), speed=SPEED)
    await until(lambda: [] if worker.resyncs else ["no resync yet"])
    await replay.run()
    await until(lambda: differences(worker.pbx_id, expected))

    def open_spans() -> list[AgentSpan]:
        return list(AgentSpan.objects.filter(pbx_id=worker.pbx_id, ended_at__isnull=True))

    spans = await asyncio.to_thread(open_spans)
    # Every member of the lab has its one open span at the end, none paused.
    assert len({(s.queue, s.interface) for s in spans}) == len(spans) > 0
    assert not [s for s in spans if s.state == "paused"]


@pytest.fixture
def postgres_db(postgres_url: str, tmp_path) -> Iterator[str]:
    with fresh_database(postgres_url) as db_url:
        migrate(db_url, tmp_path / "var")
        yield db_url


async def test_f5_replayed_on_postgresql_gives_the_same_rows(sim, postgres_db):  # noqa: F811
    async with postgres_through(postgres_db):

        def new_pbx() -> int:
            assert connection.vendor == "postgresql"
            pbx = Pbx(name="f5-postgresql", host="127.0.0.1", port=sim.port, username=ADMIN[0])
            pbx.set_secret(ADMIN[1])
            pbx.save()
            return pbx.pk

        pid = await asyncio.to_thread(new_pbx)
        async with running_worker(sim, pbx_id=pid) as worker:
            # Polled in plain threads: this test's connections must be PostgreSQL ones.
            await replayed_f5(sim, worker, polled)


def busy_enough(so_far: Tally) -> list[str]:
    """What the day has not had yet: enough calls, and a ring nobody answered."""
    return [
        *([f"{len(so_far.calls)} calls"] if len(so_far.calls) < CALLS else []),
        *(["no ring unanswered"] if not so_far.misses else []),
    ]


async def idle(pbx_sim) -> None:
    """Hang up every channel left (as their people would) until the PBX has none."""
    for _ in range(200):
        names = [c.name for c in pbx_sim.pbx.channels.values() if not c.gone]
        if not names:
            return
        for name in names:
            pbx_sim.pbx.calls.hangup(name)
        await asyncio.sleep(0.01)
    raise AssertionError(f"channels still up: {names}")


@pytest.fixture
async def fast_day():
    """The lab PBX with its timers 100x faster and a clock to match: the seconds it reports
    (HoldTime, TalkTime, RingTime) are the simulated ones, not the few real ones."""
    started = time.time()
    scale = 0.01
    async with PbxSimulator(
        auth_fail_delay=0.05,
        time_scale=scale,
        clock=lambda: started + (time.time() - started) / scale,
    ) as s:
        yield s


async def test_a_busy_simulated_day_is_recorded_as_the_simulators_queue_log_tallies(fast_day):
    config = ScenarioConfig(
        call_rate=1.5, queue_share=0.9, no_answer_share=0.3, pause_rate=1.0, registration_rate=0
    )
    async with running_worker(fast_day) as worker:
        await eventually(lambda: [] if worker.resyncs else ["no resync yet"])
        scenario = Scenario(fast_day.pbx, seed=12, config=config)
        scenario.start()
        try:
            await eventually(lambda: busy_enough(tally(list(fast_day.pbx.queue_log))), timeout=60)
        finally:
            await scenario.stop()
        await idle(fast_day)
        expected = tally(list(fast_day.pbx.queue_log))
        outcomes = {c["outcome"] for c in expected.calls.values()}
        assert {"answered", "abandoned"} <= outcomes and expected.misses and expected.pauses
        # Simulated seconds: waits and talks of many lengths, compared one by one.
        assert len({c["talk_seconds"] for c in expected.calls.values()}) > 10
        await eventually(lambda: differences(worker.pbx_id, expected), timeout=30)
        # One resync, the first: no event was lost to an overflow of the worker's queue.
        assert worker.resyncs == 1


async def test_a_database_outage_mid_day_loses_no_history(sim, postgres_proxy):  # noqa: F811
    proxy, url = postgres_proxy
    async with postgres_through(url):

        def new_pbx() -> int:
            pbx = Pbx(name="outage", host="127.0.0.1", port=sim.port, username=ADMIN[0])
            pbx.set_secret(ADMIN[1])
            pbx.save()
            return pbx.pk

        pid = await asyncio.to_thread(new_pbx)
        async with running_worker(sim, pbx_id=pid) as worker:
            await polled(lambda: [] if worker.resyncs and worker.flushes else ["no flush yet"])
            proxy.cut()
            calls = sim.pbx.calls
            for n in range(3):  # answered, then the caller hangs up
                caller = calls.trunk_call(f"+1555020{n}", "6501")
                calls.answer(next(leg for leg in caller.call.run.legs if not leg.gone).name)
                calls.hangup(caller.name)
            gone = calls.trunk_call("+15550209", "6501")
            calls.hangup(gone.name)  # abandoned while a member rings
            sim.pbx.queue_pause("PJSIP/1002", True, "6501", "Break")
            await polled(lambda: worker.flush_error, 15, "a flush failed")
            sim.pbx.queue_pause("PJSIP/1002", False, "6501")
            proxy.restore()
            expected = tally(list(sim.pbx.queue_log))
            assert len(expected.calls) == 4
            await polled(lambda: differences(pid, expected), 30, "history after the outage")
