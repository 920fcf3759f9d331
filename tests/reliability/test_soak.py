"""A soak: a call centre under steady simulated traffic (the scenario engine), mirrored by a
real worker that publishes every flush to a listening page group, with a connection reset every
few seconds and a PBX restart now and then. Sampled once a second: asyncio tasks, open file
descriptors, resident memory. At the end the traffic stops and the mirror must equal the PBX,
and none of the three may have grown.

Short in the normal run; ``make soak`` runs it for ``FCMDASH_TEST_SOAK_SECONDS`` (30 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import resource
import sys
import time
from dataclasses import dataclass, field

import pytest
from channels.layers import get_channel_layer

from monitor import broadcast
from monitor.sim.scenario import Scenario, ScenarioConfig

from .conftest import make_pbx, mirrored, new_sim, worker_for

pytestmark = pytest.mark.django_db(transaction=True)
SECONDS = float(os.environ.get("FCMDASH_TEST_SOAK_SECONDS") or 20)
FAULT_EVERY = 5.0  # seconds between two connection resets (every third one a PBX restart)
PAGE = resource.getpagesize()


@dataclass
class Sample:
    at: float
    tasks: int
    fds: int
    rss_mb: float
    blocks: int  # Python objects' memory blocks in use (sys.getallocatedblocks)


@dataclass
class Gauge:
    samples: list[Sample] = field(default_factory=list)

    def take(self, start: float) -> Sample:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * PAGE / 2**20
        sample = Sample(
            time.monotonic() - start,
            len(asyncio.all_tasks()),
            len(os.listdir("/proc/self/fd")),
            rss,
            sys.getallocatedblocks(),
        )
        self.samples.append(sample)
        return sample

    def after(self, at: float) -> list[Sample]:
        return [s for s in self.samples if s.at >= at]


class Trace:
    """``FCMDASH_TEST_SOAK_TRACEMALLOC=1``: where memory grew between a third of the run and its
    end, by allocation site (slow; for finding a leak the RSS check reports)."""

    def __init__(self) -> None:
        import tracemalloc

        tracemalloc.start(8)
        self.first = None

    def mark(self) -> None:
        import tracemalloc

        self.first = tracemalloc.take_snapshot()

    def growth(self) -> str:
        import tracemalloc

        stats = tracemalloc.take_snapshot().compare_to(self.first, "traceback")
        tracemalloc.stop()
        return "\n".join(
            f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d} blocks\n  "
            + "\n  ".join(s.traceback.format()[-8:])
            for s in stats[:8]
        )


def release_free_memory() -> None:
    """Give glibc's free heap pages back (what RSS then shows is in use, not fragmentation)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def page_group(pbx_id: int, received: list[int]) -> None:
    """A page listening to the PBX's tiles, as a browser's socket does."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(broadcast.group(pbx_id, "detail", controls=False), channel)
    while True:
        message = await layer.receive(channel)
        received[0] += sum(len(html) for _, _, html in message.get("items", ()))


async def test_soak_steady_traffic_with_reconnects_leaks_nothing(record):
    sim = new_sim(extensions=80, queues=4, members_per_queue=10, seed=7, time_scale=0.05)
    received = [0]
    gauge = Gauge()
    async with sim:
        pbx_id = await make_pbx(sim.port)
        async with worker_for(
            pbx_id, publish=broadcast.publish, flush_interval=0.1, stats_interval=1.0
        ) as worker:
            await mirrored(sim, pbx_id, timeout=15)
            listener = asyncio.create_task(page_group(pbx_id, received))
            config = ScenarioConfig(call_rate=0.3, pause_rate=0.5, registration_rate=0.05)
            scenario = Scenario(sim.pbx, seed=7, config=config)
            scenario.start()
            start = time.monotonic()
            faults = 0
            trace = Trace() if os.environ.get("FCMDASH_TEST_SOAK_TRACEMALLOC") else None
            try:
                next_fault = FAULT_EVERY
                while (now := time.monotonic() - start) < SECONDS:
                    if now >= next_fault:
                        faults += 1
                        if faults % 3 == 0:
                            await sim.faults.restart(down_for=0.2)
                        else:
                            sim.faults.drop_all(rst=True)
                        next_fault += FAULT_EVERY
                    gauge.take(start)
                    if trace is not None and trace.first is None and now > SECONDS / 3:
                        trace.mark()
                    await asyncio.sleep(1.0)
            finally:
                await scenario.stop()
                sim.pbx.calls.reset()  # no timer moves the PBX any more
            assert scenario.check() == []
            await mirrored(sim, pbx_id, timeout=20)
            await asyncio.sleep(1.0)  # let the last flush publish, and reconnect tasks end
            gc.collect()
            release_free_memory()
            final = gauge.take(start)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            applied, resyncs = worker.events_applied, worker.resyncs
    if trace is not None:
        print(trace.growth())
    warm = gauge.after(min(10.0, SECONDS / 3))
    base = warm[0]
    print(
        f"\nsoak {SECONDS:g} s: {scenario.calls_started} calls, {applied} events, {faults} faults, "
        f"{resyncs} resyncs, {received[0] // 1024} KiB of tiles published; "
        f"tasks {base.tasks}->{final.tasks} (max {max(s.tasks for s in warm)}), "
        f"fds {base.fds}->{final.fds} (max {max(s.fds for s in warm)}), "
        f"RSS {base.rss_mb:.1f}->{final.rss_mb:.1f} MB, Python blocks {base.blocks}->"
        f"{final.blocks}; every 10 s, RSS: "
        + " ".join(f"{s.rss_mb:.0f}" for s in gauge.samples[::10])
        + "; blocks (k): "
        + " ".join(f"{s.blocks // 1000}" for s in gauge.samples[::10])
    )
    assert scenario.calls_started > SECONDS and faults >= int(SECONDS // FAULT_EVERY) - 1
    assert received[0] > 0 and resyncs >= faults
    # Tasks and sockets: back to where they were once warm (a reconnect in flight aside).
    assert final.tasks <= base.tasks + 1, [s.tasks for s in gauge.samples]
    assert final.fds <= base.fds + 2, [s.fds for s in gauge.samples]
    assert max(s.tasks for s in warm) <= base.tasks + 15
    assert max(s.fds for s in warm) <= base.fds + 10
    # Memory: Python's objects back to where they were, RSS too (glibc's free pages given
    # back), and over a long run no trend while the traffic flows: the peaks of the last
    # quarter no higher than those of the second, RSS flat over the second half.
    assert final.blocks <= base.blocks * 1.05, (base.blocks, final.blocks)
    growth = final.rss_mb - base.rss_mb
    assert growth < 8.0, f"RSS grew {growth:.1f} MB"
    if SECONDS >= 300:
        quarter = [s.blocks for s in gauge.samples if s.at >= SECONDS * 3 / 4]
        second = [s.blocks for s in gauge.samples if SECONDS / 4 <= s.at < SECONDS / 2]
        assert max(quarter) <= max(second) * 1.10, (max(second), max(quarter))
        # RSS moves in steps of a megabyte or so: compare the means of two windows.
        half = [s.rss_mb for s in gauge.samples[:-1] if SECONDS / 2 <= s.at < SECONDS * 0.6]
        last = [s.rss_mb for s in gauge.samples[:-1] if s.at >= SECONDS * 0.9]
        rise = sum(last) / len(last) - sum(half) / len(half)
        assert rise < 3.0 + 5.0 * SECONDS / 2 / 3600, f"RSS rose {rise:.1f} MB in the 2nd half"
    record(
        "soak",
        "steady call-centre traffic with a reset every 5 s and a PBX restart every "
        "15 s; tasks, sockets and memory sampled each second",
        "nothing lost",
    )


async def test_the_scenario_forgets_its_timers_once_they_fire(record):
    """The leak the long soak found: the call centre of ``serve`` (``make run``) kept every
    timer it ever set (an answer, a hang-up, a hold...), so its memory grew for as long as it
    ran. Fast-forwarded here: what it holds is what is still to come."""
    async with new_sim(extensions=40, queues=2, members_per_queue=8, time_scale=0.01) as sim:
        config = ScenarioConfig(call_rate=2.0, pause_rate=1.0, registration_rate=0.2)
        scenario = Scenario(sim.pbx, seed=3, config=config)
        scenario.start()
        try:
            await asyncio.sleep(3.0)
            now = asyncio.get_running_loop().time()
            held = scenario._handles
            fired = [h for h in held if h.when() <= now or h.cancelled()]
            assert scenario.calls_started > 200
            assert len(fired) <= 5, f"{len(fired)} of {len(held)} timers kept after they fired"
            assert len(scenario.log) <= 1000
        finally:
            await scenario.stop()
    record("soak", "simulated call centre fast-forwarded: fired timers released", "nothing lost")
