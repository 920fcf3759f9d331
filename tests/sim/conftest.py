"""Fixtures for the simulator's tests: a running PbxSimulator on 127.0.0.1 with short delays.

Every ``async def`` test runs under pytest-asyncio without a per-test marker.
"""

from __future__ import annotations

import inspect

import pytest
import pytest_asyncio

from monitor.sim.server import PbxSimulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.add_marker(pytest.mark.asyncio)


@pytest_asyncio.fixture
async def sim():
    """The lab PBX, stock Asterisk dialect, fast failure delays and timers."""
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as s:
        yield s
