"""A big PBX answers its list actions quickly (the worker's resync benchmark relies on it)."""

from __future__ import annotations

import time

from monitor.sim.server import PbxSimulator

from .amitest import RawClient


async def test_5000_endpoints_200_queues_of_25_list_in_well_under_a_second_each():
    start = time.perf_counter()
    sim = PbxSimulator(extensions=5000, queues=200, members_per_queue=25, seed=9)
    assert time.perf_counter() - start < 2.0
    async with sim:
        c = await RawClient.connect(sim.port)
        await c.login()
        expect = {
            "PJSIPShowEndpoints": 5001,  # + trunk_1
            "ExtensionStateList": 5200,
            "QueueStatus": 200 + 200 * 25,
            "QueueSummary": 200,
        }
        for action, items in expect.items():
            t = time.perf_counter()
            got = await c.action(action, timeout=10)
            took = time.perf_counter() - t
            assert got[-1].get("EventList") == "Complete", action
            assert int(got[-1].get("ListItems")) == items, action
            assert took < 1.0, f"{action} took {took:.2f} s"
        devices = await c.action("DeviceStateList", timeout=10)
        # every endpoint, every queue's avail device, every member's pause device
        assert int(devices[-1].get("ListItems")) == 5001 + 200 + 200 * 25
        t = time.perf_counter()
        snap = sim.snapshot()
        assert time.perf_counter() - t < 0.5
        assert len(snap["endpoints"]) == 5001 and len(snap["queues"]) == 200
        await c.close()
