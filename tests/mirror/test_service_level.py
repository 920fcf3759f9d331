"""The service level on a queue card follows the calls as they complete, not only the lists of
the last resync (which said 0.0 % before the first call and then stood still)."""

from __future__ import annotations

import time

import pytest

from monitor.models import Queue
from monitor.sim.server import PbxSimulator

from .harness import eventually, mirrored, running_worker

pytestmark = pytest.mark.django_db(transaction=True)


def ringing_agent(sim: PbxSimulator) -> str:
    channels = sim.snapshot()["channels"].values()
    return next(c["name"] for c in channels if not c["name"].startswith("PJSIP/trunk"))


async def test_completed_queue_calls_move_the_mirrored_service_level():
    now = [time.time()]
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01, clock=lambda: now[0]) as sim:
        sim.pbx.queues["6501"].servicelevel = 30
        async with running_worker(sim) as worker:
            await mirrored(sim, worker)
            for waited in (2, 45):  # within the 30 s, then not
                sim.pbx.calls.trunk_call("+15550142", "6501")
                now[0] += waited
                agent = ringing_agent(sim)
                sim.pbx.calls.answer(agent)
                sim.pbx.calls.hangup(agent)
            truth = sim.snapshot()["queues"]["6501"]
            perf = sim.pbx.queues["6501"].params_block()

            def shown() -> list[str]:
                queue = Queue.objects.get(pbx_id=worker.pbx_id, name="6501")
                got = (queue.completed, queue.service_level, queue.service_level_perf)
                return [] if got == (2, 30, 50.0) else [f"completed, SL, perf: {got}"]

            await eventually(shown)
            assert truth["completed"] == 2 and ("ServicelevelPerf", "50.0") in perf
            assert worker.resyncs == 1  # the events moved it, not a second list
