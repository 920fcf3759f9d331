"""The reliability suite's pieces: a simulator with the canary AMI user, a spy on every action
it receives, and a real PbxWorker built from a Pbx row (so the secret goes through the model's
encryption, as in production).

Time is scaled where a rule allows it (call timers 100x, short keepalives, short back-off
floors); the rules themselves are checked with their real numbers in unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from monitor.ami.client import AmiClient, Backoff
from monitor.ami.packet import Packet
from monitor.models import Pbx
from monitor.sim import actions as sim_actions
from monitor.sim.server import PbxSimulator
from monitor.worker import PbxWorker
from tests.support.truth import differences, live_picture, mirror_picture, sim_picture

from .plugin import TEST_SECRETS

CANARY_USER = "relcanary"
CANARY_SECRET = TEST_SECRETS[0]


@dataclass
class Received:
    at: float
    user: str
    action: str
    packet: Packet


@dataclass
class ActionSpy:
    """Every action any simulator session received, in order (login attempts included)."""

    received: list[Received] = field(default_factory=list)

    def names(self, *, user: str | None = None) -> list[str]:
        return [r.action for r in self.received if user is None or r.user == user]

    def logins(self, username: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if r.action == "login"
            and (username is None or (r.packet.get("Username") or "") == username)
        ]

    def since(self, mark: int) -> list[str]:
        return [r.action for r in self.received[mark:]]


@pytest.fixture
def spy(monkeypatch) -> ActionSpy:
    found = ActionSpy()
    process = sim_actions.process

    def spying(session, packet: Packet):  # noqa: ANN001, ANN202
        name = (packet.get("Action") or "").strip().lower()
        found.received.append(Received(time.monotonic(), session.username, name, packet))
        return process(session, packet)

    # Session._pump imports process from the module at each call: patching the module works.
    monkeypatch.setattr(sim_actions, "process", spying)
    return found


def new_sim(**options: Any) -> PbxSimulator:
    options.setdefault("auth_fail_delay", 0.05)
    options.setdefault("time_scale", 0.01)
    sim = PbxSimulator(**options)
    sim.add_user(CANARY_USER, CANARY_SECRET)
    return sim


@pytest_asyncio.fixture
async def sim():
    """The lab PBX with the canary user; call timers 100x shorter."""
    async with new_sim() as s:
        yield s


@sync_to_async
def make_pbx(port: int, *, name: str = "", secret: str = CANARY_SECRET, **fields: Any) -> int:
    fields.setdefault("username", CANARY_USER)
    fields.setdefault("host", "127.0.0.1")
    pbx = Pbx(name=name or f"sim-{port}-{time.monotonic_ns()}", port=port, **fields)
    pbx.set_secret(secret)
    pbx.save()
    return pbx.pk


def fast_backoff(**kw: float) -> Backoff:
    kw.setdefault("base", 0.05)
    kw.setdefault("cap", 0.3)
    kw.setdefault("auth_floor", 0.5)
    kw.setdefault("auth_first", 0.1)
    return Backoff(**kw)


@contextlib.asynccontextmanager
async def worker_for(
    pbx_id: int,
    *,
    backoff: Backoff | None = None,
    keepalive: float | None = None,
    flush_interval: float = 0.03,
    publish: Callable[..., Any] | None = None,
    stats_interval: float | None = None,
):
    """A PbxWorker for the Pbx row ``pbx_id``, as the worker pool makes it (config from the
    row, secret decrypted), with a fast back-off; stopped at the end."""
    pbx = await sync_to_async(Pbx.objects.get)(pk=pbx_id)
    config = (await sync_to_async(pbx.ami_config)()).with_(list_quiet_gap=0.3)
    if keepalive is not None:
        config = config.with_(keepalive=keepalive)
    client = AmiClient(config, backoff=backoff or fast_backoff())
    worker = PbxWorker(
        pbx_id,
        config,
        client=client,
        flush_interval=flush_interval,
        publish=publish,
        stats_interval=stats_interval,
    )
    task = asyncio.create_task(worker.run(), name=f"reliability-worker-{pbx_id}")
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Poll the sync ``check`` in a thread until it returns something truthy (or, for a list,
    until it is empty: a list is what is still wrong)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        done = not value if isinstance(value, list) else bool(value)
        if done:
            return value
        if time.monotonic() > deadline:
            detail = "\n".join(map(str, value[:30])) if isinstance(value, list) else repr(value)
            raise AssertionError(
                f"not so after {timeout:.1f} s{f' ({what})' if what else ''}:\n{detail}"
            )
        await asyncio.sleep(0.02)


def truth_differences(sim: PbxSimulator, pbx_id: int, *, registered: bool = True) -> list[str]:
    """What the database shows differently from the simulator (sync)."""
    truth = sim_picture(sim.snapshot(), registered=registered)
    return differences(truth, mirror_picture(pbx_id, registered=registered))


async def mirrored(sim: PbxSimulator, pbx_id: int, timeout: float = 8.0, **kw: Any) -> None:
    await eventually(lambda: truth_differences(sim, pbx_id, **kw), timeout, "mirror == truth")


def live_differences(sim: PbxSimulator, worker: PbxWorker) -> list[str]:
    """What the worker's in-memory state shows differently from the simulator (no database)."""
    return differences(sim_picture(sim.snapshot()), live_picture(worker.state))


def calls_in_progress(sim: PbxSimulator) -> int:
    """Two answered calls, a caller in a queue and a paused member; returns the channels."""
    calls = sim.pbx.calls
    calls.phone_call("1005", "1002")
    calls.phone_call("1004", "1003")
    for ch in list(sim.pbx.channels.values()):
        if ch.name.startswith(("PJSIP/1002-", "PJSIP/1003-")):
            calls.answer(ch.name)
    sim.pbx.queue_pause("PJSIP/1001", True, "6500", "Lunch")
    calls.trunk_call("+3120555123", "6501", name="Caller 5123")
    return len(sim.pbx.channels)
