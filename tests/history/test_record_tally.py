"""The recorded rows against a queue_log, line for line (outcome, wait, talk, agent, who hung
up, the rings not answered, the pause periods): the lab's f5 transcript (a real Asterisk's
queue calls, with the queue_log lines it wrote) replayed into a real worker, and a busy day of
the simulator's call centre against the queue_log the simulator wrote for it."""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async

from monitor.history_models import AgentMiss, AgentSpan, QueueCallRecord
from monitor.sim.queuelog import Tally, tally
from monitor.sim.replay import Replay, load
from monitor.sim.scenario import Scenario, ScenarioConfig
from monitor.sim.transcript import transcripts_dir
from tests.mirror.conftest import sim  # noqa: F401 - the lab PBX fixture, shared
from tests.mirror.harness import eventually, running_worker

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
    expected = tally(f5_queue_log())
    assert len(expected.calls) == 5 and len(expected.misses) == 2  # (a) to (e)
    replay = Replay(sim, load("f5-queue-calls-for-statistics"), speed=SPEED)
    async with running_worker(sim) as worker:
        await eventually(lambda: [] if worker.resyncs else ["no resync yet"])
        await replay.run()
        await eventually(lambda: differences(worker.pbx_id, expected))
        spans = await sync_to_async(list)(
            AgentSpan.objects.filter(pbx_id=worker.pbx_id, ended_at__isnull=True)
        )
        # Every member of the lab has its one open span at the end, none paused.
        assert len({(s.queue, s.interface) for s in spans}) == len(spans)
        assert not [s for s in spans if s.state == "paused"]


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


async def test_a_busy_simulated_day_is_recorded_as_the_simulators_queue_log_tallies(sim):  # noqa: F811
    config = ScenarioConfig(
        call_rate=1.5, queue_share=0.9, no_answer_share=0.3, pause_rate=1.0, registration_rate=0
    )
    async with running_worker(sim) as worker:
        await eventually(lambda: [] if worker.resyncs else ["no resync yet"])
        scenario = Scenario(sim.pbx, seed=12, config=config)
        scenario.start()
        try:
            await eventually(lambda: busy_enough(tally(list(sim.pbx.queue_log))), timeout=60)
        finally:
            await scenario.stop()
        await idle(sim)
        expected = tally(list(sim.pbx.queue_log))
        outcomes = {c["outcome"] for c in expected.calls.values()}
        assert {"answered", "abandoned"} <= outcomes and expected.misses and expected.pauses
        await eventually(lambda: differences(worker.pbx_id, expected), timeout=30)
        # One resync, the first: no event was lost to an overflow of the worker's queue.
        assert worker.resyncs == 1
