"""The call-centre scenario: lively, reproducible, and it never leaves the model inconsistent."""

from __future__ import annotations

import asyncio
import time

from monitor.sim.scenario import Scenario, ScenarioConfig
from monitor.sim.server import PbxSimulator

from .amitest import RawClient


async def run_for(sim: PbxSimulator, seconds: float, **config: object) -> Scenario:
    sc = Scenario(sim.pbx, seed=7, config=ScenarioConfig(**config))  # type: ignore[arg-type]
    sc.start()
    await asyncio.sleep(seconds)
    return sc


async def test_busy_call_centre_stays_consistent_and_drains():
    # time_scale 0.002: 3 s of wall time are ~25 minutes of call centre.
    async with PbxSimulator(
        extensions=120, queues=6, members_per_queue=10, time_scale=0.002, seed=1
    ) as sim:
        c = await RawClient.connect(sim.port)
        await c.login(events="call,agent,system")
        sc = await run_for(sim, 2.0, call_rate=2.0, pause_rate=0.2, registration_rate=0.05)
        assert sc.calls_started > 200
        assert sc.check() == []
        names = {p.name for p in c.events()}
        assert {
            "QueueCallerJoin",
            "AgentConnect",
            "AgentComplete",
            "BridgeEnter",
            "Hangup",
            "QueueMemberPause",
        } <= names
        # No new calls: every channel still up must end by itself (talk, ring and queue timers).
        sc.set_rate(0)
        sc.config.pause_rate = sc.config.registration_rate = 0
        for _ in range(200):
            if not sim.pbx.channels:
                break
            await asyncio.sleep(0.02)
        assert sim.snapshot()["channels"] == {}
        assert sc.check() == []
        assert all(not q["callers"] for q in sim.snapshot()["queues"].values())
        assert sc.calls_ended == sc.calls_started
        await sc.stop()
        # what the client saw agrees: every Newchannel got its Hangup
        created = {p.get("Uniqueid") for p in c.events("Newchannel")}
        gone = {p.get("Uniqueid") for p in c.events("Hangup")}
        assert created == gone
        await c.close()


async def test_same_seed_same_calls():
    logs = []
    for _ in range(2):
        async with PbxSimulator(
            extensions=50, queues=3, members_per_queue=5, time_scale=0.002, seed=4
        ) as sim:
            sc = await run_for(sim, 0.5, call_rate=3.0, registration_rate=0.0)
            await sc.stop()
            logs.append(sc.log[:20])
    assert len(logs[0]) == 20
    assert logs[0] == logs[1]


async def test_queue_counters_match_the_calls_seen():
    async with PbxSimulator(queues=0, time_scale=0.002) as sim:  # the lab: 6500 and 6501
        c = await RawClient.connect(sim.port)
        await c.login(events="agent")
        sc = await run_for(
            sim, 1.5, call_rate=1.0, queue_share=1.0, abandon_share=0.5, patience=(1, 20)
        )
        sc.set_rate(0)
        for _ in range(200):
            if not sim.pbx.channels:
                break
            await asyncio.sleep(0.02)
        await sc.stop()
        await c.action("Ping")
        for name, q in sim.snapshot()["queues"].items():
            completes = [p for p in c.events("AgentComplete") if p.get("Queue") == name]
            abandons = [p for p in c.events("QueueCallerAbandon") if p.get("Queue") == name]
            assert q["completed"] == len(completes)
            assert q["abandoned"] == len(abandons)
            taken = sum(m["calls_taken"] for m in q["members"].values())
            assert taken == len(completes)
        assert sum(q["abandoned"] for q in sim.snapshot()["queues"].values()) > 0
        await c.close()


async def test_rising_rate_raises_the_event_rate():
    async with PbxSimulator(
        extensions=300, queues=10, members_per_queue=10, time_scale=0.01, seed=2
    ) as sim:
        sc = Scenario(sim.pbx, seed=3, config=ScenarioConfig(call_rate=0.5))
        sc.start()
        await asyncio.sleep(0.5)
        slow = sim.pbx.events_emitted
        sc.set_rate(10.0)
        start = time.monotonic()
        await asyncio.sleep(0.5)
        fast = sim.pbx.events_emitted - slow
        await sc.stop()
        assert time.monotonic() - start >= 0.5
        assert fast > 3 * slow
