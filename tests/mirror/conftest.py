"""Fixtures for the mirror tests: the lab PBX on 127.0.0.1 with fast timers."""

from __future__ import annotations

import pytest_asyncio

from monitor.sim.server import PbxSimulator


@pytest_asyncio.fixture
async def sim():
    """The lab PBX, stock Asterisk dialect, failure delays and call timers 100x shorter."""
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as s:
        yield s


@pytest_asyncio.fixture
async def fcm_sim():
    """The same PBX speaking the FCM630A dialect."""
    async with PbxSimulator(dialect="fcm630a", auth_fail_delay=0.05, time_scale=0.01) as s:
        yield s
