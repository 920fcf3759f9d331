"""The lab's f5 transcript (a real Asterisk's queue calls, with the queue_log lines it wrote)
replayed into a real worker: the recorded rows say what each queue_log line says, line for
line: outcome, wait, talk, agent, who hung up, the rings not answered, the pauses."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async

from monitor.history_models import AgentMiss, AgentSpan, QueueCallRecord
from monitor.sim.queuelog import Tally, tally
from monitor.sim.replay import Replay, load
from monitor.sim.transcript import transcripts_dir
from tests.mirror.conftest import sim  # noqa: F401 - the lab PBX fixture, shared
from tests.mirror.harness import eventually, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

SPEED = 200.0
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
    if calls != expected.calls:
        out.append(f"calls:\n  recorded {calls}\n  queue_log {expected.calls}")
    misses = sorted(
        AgentMiss.objects.filter(pbx_id=pbx_id).values_list(
            "queue", "interface", "uniqueid", "ring_ms"
        )
    )
    if misses != sorted(expected.misses):
        out.append(f"misses: recorded {misses}, queue_log {sorted(expected.misses)}")
    paused = AgentSpan.objects.filter(pbx_id=pbx_id, state="paused")
    pauses: dict[tuple[str, str], list[str]] = {}
    closed: dict[tuple[str, str], int] = {}
    for span in paused.order_by("started_at"):
        key = (span.queue, span.name)
        pauses.setdefault(key, []).append(span.reason)
        closed[key] = closed.get(key, 0) + (span.ended_at is not None)
    if pauses != expected.pauses or closed != expected.unpauses:
        out.append(
            f"pauses: recorded {pauses} closed {closed}, "
            f"queue_log {expected.pauses} unpaused {expected.unpauses}"
        )
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
