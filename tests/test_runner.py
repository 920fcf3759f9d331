"""The worker pool: several PBXes at once, each on its own; configuration changes picked up."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from monitor.models import Endpoint, Pbx
from monitor.runner import WorkerPool
from monitor.sim.server import PbxSimulator
from tests.support.truth import differences, mirror_picture, sim_picture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest_asyncio.fixture
async def two_sims():
    async with (
        PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as a,
        PbxSimulator(
            auth_fail_delay=0.05, time_scale=0.01, extensions=6, queues=1, members_per_queue=3
        ) as b,
    ):
        yield a, b


@sync_to_async
def add_pbx(name: str, port: int, secret: str = "admin123", enabled: bool = True) -> int:
    pbx = Pbx(
        name=name, host="127.0.0.1", port=port, username="admin123", enabled=enabled, keepalive=2
    )
    pbx.set_secret(secret)
    pbx.save()
    return pbx.pk


@contextlib.asynccontextmanager
async def pool_running(**kw):
    pool = WorkerPool(poll=0.2, flush_interval=0.05, publish=None, **kw)
    task = asyncio.create_task(pool.run())
    try:
        yield pool
    finally:
        pool.stop()
        await asyncio.wait_for(task, 10)


async def until(predicate, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not await sync_to_async(predicate)():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def same(sim: PbxSimulator, pbx_id: int) -> bool:
    return not differences(sim_picture(sim.snapshot()), mirror_picture(pbx_id))


async def test_a_failing_pbx_never_disturbs_another(two_sims):
    good, bad = two_sims
    good_id = await add_pbx("good", good.port)
    bad_id = await add_pbx("bad", bad.port)
    async with pool_running() as pool:
        await until(lambda: same(good, good_id) and same(bad, bad_id))
        session = next(iter(good.authenticated_sessions))
        # The second PBX goes through every kind of trouble...
        bad.faults.garbage()
        bad.faults.oversized(2 * 1024 * 1024)
        bad.faults.fail_logins(True)
        bad.faults.drop_all(rst=True)
        await until(lambda: not Pbx.objects.get(pk=bad_id).connected)
        # ...while the first one's calls go on, on the very same AMI session.
        good.pbx.calls.phone_call("1005", "1002")
        await until(lambda: same(good, good_id))
        assert next(iter(good.authenticated_sessions)) is session
        assert pool.running[good_id].worker.client.reconnects == 0
        await until(lambda: "Authentication failed" in Pbx.objects.get(pk=bad_id).last_error)
        bad_row = await sync_to_async(Pbx.objects.get)(pk=bad_id)
        assert bad_row.stale_since is not None
        # The failing PBX's last known data stays, marked stale, not deleted.
        assert await sync_to_async(Endpoint.objects.filter(pbx_id=bad_id).count)() == len(
            bad.snapshot()["endpoints"]
        )


async def test_pool_follows_configuration_changes(two_sims):
    a, b = two_sims
    pbx_id = await add_pbx("moving", a.port)
    disabled_id = await add_pbx("off", b.port, enabled=False)
    async with pool_running() as pool:
        await until(lambda: same(a, pbx_id))
        assert disabled_id not in pool.running
        # The admin points the PBX at another address: the worker restarts there.
        await sync_to_async(Pbx.objects.filter(pk=pbx_id).update)(port=b.port)
        await until(lambda: same(b, pbx_id))
        await until(lambda: not a.authenticated_sessions)
        # Disabled: the worker stops and logs off.
        await sync_to_async(Pbx.objects.filter(pk=pbx_id).update)(enabled=False)
        await until(lambda: pbx_id not in pool.running and not b.authenticated_sessions)
        assert not (await sync_to_async(Pbx.objects.get)(pk=pbx_id)).connected


async def test_unreadable_secret_is_reported_not_fatal(two_sims):
    a, _ = two_sims
    pbx_id = await add_pbx("broken", a.port)
    await sync_to_async(Pbx.objects.filter(pk=pbx_id).update)(secret_encrypted="not-a-fernet-token")
    async with pool_running():
        await until(lambda: "cannot be decrypted" in Pbx.objects.get(pk=pbx_id).last_error)
        assert not a.authenticated_sessions
