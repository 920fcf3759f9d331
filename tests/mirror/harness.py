"""The pieces every mirror test uses: a real PbxWorker on a real TCP session to the simulator,
writing to the test database, and ways to wait until the database shows a given picture.

Nothing here is mocked: the worker is the production class with a short flush interval, and
the pictures it is compared with come either from the simulator (``sim.snapshot()``) or from
the AMI stream itself (:mod:`tests.mirror.oracle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from monitor.ami.client import AmiClient, Backoff
from monitor.ami.config import AmiConfig
from monitor.models import Call, Endpoint, Pbx, QueueMember
from monitor.sim.server import PbxSimulator
from monitor.worker import PbxWorker
from tests.support.truth import differences, mirror_picture, sim_picture

ADMIN = ("admin123", "admin123")
WALLBOARD = ("wallboard1", "wb1pass9")


@sync_to_async
def make_pbx(port: int, user: str = ADMIN[0], secret: str = ADMIN[1]) -> int:
    pbx = Pbx(name=f"sim-{port}-{user}", host="127.0.0.1", port=port, username=user)
    pbx.set_secret(secret)
    pbx.save()
    return pbx.pk


@contextlib.asynccontextmanager
async def running_worker(
    sim: PbxSimulator,
    user: tuple[str, str] = ADMIN,
    *,
    pbx_id: int | None = None,
    flush_interval: float = 0.03,
    queue_size: int = 20000,
):
    """A PbxWorker for ``sim`` running in a task; ``pbx_id`` reuses an existing Pbx row."""
    if pbx_id is None:
        pbx_id = await make_pbx(sim.port, *user)
    config = AmiConfig(
        host="127.0.0.1",
        port=sim.port,
        username=user[0],
        secret=user[1],
        keepalive=5.0,
        list_quiet_gap=0.3,
    )
    client = AmiClient(config, queue_size=queue_size, backoff=Backoff(base=0.05, cap=0.3))
    worker = PbxWorker(pbx_id, config, flush_interval=flush_interval, client=client)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], list[str]], timeout: float = 5.0) -> None:
    """Poll the sync ``check`` (returns what is still wrong) until it returns nothing."""
    deadline = time.monotonic() + timeout
    while True:
        problems = await sync_to_async(check)()
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout:.1f} s:\n" + "\n".join(problems[:30]))
        await asyncio.sleep(0.02)


async def mirrored(
    sim: PbxSimulator, worker: PbxWorker, timeout: float = 5.0, *, registered: bool = True
) -> None:
    """Wait until the database equals the simulator's truth; fail with the differences."""
    deadline = time.monotonic() + timeout
    while True:
        # The truth is read here, on the simulator's own loop, where nothing moves under it;
        # only the database side goes to a thread.
        truth = sim_picture(sim.snapshot(), registered=registered)
        problems = await sync_to_async(differences)(
            truth, await sync_to_async(mirror_picture)(worker.pbx_id, registered=registered)
        )
        if not problems:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout:.1f} s:\n" + "\n".join(problems[:30]))
        await asyncio.sleep(0.02)


def channel_of(sim: PbxSimulator, endpoint: str) -> str:
    """The name of the (first) live channel of ``endpoint`` on the simulator."""
    channels = sim.snapshot()["channels"].values()
    return next(c["name"] for c in channels if c["name"].startswith(f"PJSIP/{endpoint}-"))


async def answer_when_ringing(sim: PbxSimulator, endpoint: str, timeout: float = 10.0) -> None:
    """``endpoint`` picks up its ringing channel, waiting for one: under load a ring may have
    timed out (the simulator's timers are 100x shorter) and the queue rings it again after its
    retry time."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(StopIteration):
            if sim.pbx.calls.answer(channel_of(sim, endpoint)):
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{endpoint} did not ring within {timeout:.0f} s")
        await asyncio.sleep(0.005)


# -- reading the database (sync: run through sync_to_async or inside ``eventually``) ----------
def db_calls(pbx_id: int) -> dict[str, dict[str, Any]]:
    fields = ("channel", "linkedid", "peer_uniqueid", "peer_channel", "bridge_id", "state")
    return {
        row["uniqueid"]: row
        for row in Call.objects.filter(pbx_id=pbx_id).values(
            "uniqueid", "endpoint_resource", *fields
        )
    }


def db_states(pbx_id: int) -> dict[str, str]:
    return dict(Endpoint.objects.filter(pbx_id=pbx_id).values_list("resource", "state"))


def db_endpoint(pbx_id: int, resource: str) -> Endpoint:
    return Endpoint.objects.get(pbx_id=pbx_id, resource=resource)


def db_members(pbx_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    rows = QueueMember.objects.filter(pbx_id=pbx_id).select_related("queue")
    return {
        (m.queue.name, m.interface): {
            "paused": m.paused,
            "reason": m.paused_reason,
            "status": m.status,
            "in_call": m.in_call,
            "penalty": m.penalty,
            "ringinuse": m.ringinuse,
            "calls_taken": m.calls_taken,
        }
        for m in rows
    }
