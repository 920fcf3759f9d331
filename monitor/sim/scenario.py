"""A lively call centre on the simulated PBX: seeded, reproducible, tunable at run time.

What happens, each with its own random stream from the seed:

- outside callers reach the queues through ``trunk_1`` (Poisson arrivals at ``call_rate``
  per second times ``queue_share``); most wait for an agent, some give up first;
- phones call each other (the rest of ``call_rate``); callees answer or let it ring out;
- whoever answered talks for a while, then one side hangs up (a few calls go on hold);
- agents pause and unpause with a reason; phones unregister, go unreachable, come back.

The scenario only plays the people and the phones (``answer``, ``hangup``, ``hold``, register
and pause operations); the PBX emits the events. Its timers use the call engine's
``time_scale``, so a test can run an hour of call centre in seconds. ``calls_started`` /
``calls_ended`` and :meth:`Scenario.check` let tests assert the model stays consistent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import RINGING, UP, Channel

if TYPE_CHECKING:
    from .pbx import Pbx

log = logging.getLogger(__name__)
REASONS = ("Lunch", "Break", "Meeting", "Training", "")
LOG_LIMIT = 1000


@dataclass
class ScenarioConfig:
    call_rate: float = 0.5  # new calls per second
    queue_share: float = 0.7  # of them, outside callers to a queue
    patience: tuple[float, float] = (8.0, 90.0)  # seconds a queue caller waits before giving up
    abandon_share: float = 0.15  # callers who give up if not answered within their patience
    ring: tuple[float, float] = (1.0, 8.0)  # seconds a phone rings before it is answered
    no_answer_share: float = 0.1  # ringing phones nobody picks up
    talk: tuple[float, float] = (10.0, 180.0)
    hold_share: float = 0.1
    pause_rate: float = 0.02  # agent pause/unpause decisions per second
    registration_rate: float = 0.005  # phones unregistering or going unreachable, per second
    # The queues outside callers reach; empty: all of them (bench/pipeline.py keeps one apart).
    queues: tuple[str, ...] = ()


class Scenario:
    def __init__(self, pbx: Pbx, *, seed: int = 0, config: ScenarioConfig | None = None) -> None:
        self.pbx = pbx
        self.config = config or ScenarioConfig()
        # Separate streams: the calls that arrive do not depend on how earlier calls went.
        self.rng = random.Random(seed)  # people: answering, talking, holding, giving up
        self.arrivals = random.Random(seed + 1)
        self.staff = random.Random(seed + 2)  # agents' pauses, phones' registrations
        self.calls_started = 0
        self.calls_ended = 0
        # (kind, from, to) of the first LOG_LIMIT calls started (tests compare runs by them).
        self.log: list[tuple[str, str, str]] = []
        self._task: asyncio.Task[None] | None = None
        self._handles: set[asyncio.TimerHandle] = set()
        self._offline: set[str] = set()
        pbx.calls.observer = self

    # -- control ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        for h in list(self._handles):
            h.cancel()
        self._handles.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.pbx.calls.observer is self:
            self.pbx.calls.observer = None

    def set_rate(self, call_rate: float) -> None:
        """Change the call rate while running (benchmarks ramp it up)."""
        self.config.call_rate = call_rate

    def _later(self, delay: float, fn, *args) -> None:  # noqa: ANN001
        def step() -> None:
            # Forget the handle once it fired: the scenario runs for months under `serve`.
            self._handles.discard(handle)
            self._guard(fn, *args)

        handle = self.pbx.calls.later(delay, step)
        self._handles.add(handle)

    def _guard(self, fn, *args) -> None:  # noqa: ANN001
        # A person's decision runs on the loop; a failure must not stop the call centre.
        try:
            fn(*args)
        except Exception:  # pragma: no cover - logged, the scenario goes on
            log.exception("pbxsim: a scenario step failed")

    # -- the main loop: arrivals and people's decisions ---------------------------------------
    async def _run(self) -> None:
        scale = self.pbx.calls.time_scale
        tick = 0.1
        while True:
            await asyncio.sleep(tick * scale)
            cfg = self.config
            for _ in range(self._poisson(cfg.call_rate * tick)):
                self._new_call()
            if self.staff.random() < cfg.pause_rate * tick:
                self._toggle_pause()
            if self.staff.random() < cfg.registration_rate * tick:
                self._registration_change()

    def _poisson(self, mean: float) -> int:
        count, limit, p = 0, math.exp(-mean), self.arrivals.random()
        while p > limit:
            count += 1
            p *= self.arrivals.random()
        return count

    def _new_call(self) -> None:
        pbx, rng, cfg = self.pbx, self.arrivals, self.config
        queues = [q for q in pbx.queues if not cfg.queues or q in cfg.queues]
        if queues and rng.random() < cfg.queue_share:
            number = f"+3120{rng.randrange(1000000, 9999999)}"
            queue = rng.choice(queues)
            ch = pbx.calls.trunk_call(number, queue, name=f"Caller {number[-4:]}")
            entry = ("queue", number, queue)
        else:
            phones = [ep.name for ep in pbx.endpoints.values() if ep.kind == "phone" and ep.online]
            if len(phones) < 2:
                return
            a, b = rng.sample(phones, 2)
            ch = pbx.calls.phone_call(a, b)
            entry = ("internal", a, b)
        if ch is not None:
            self.calls_started += 1
            if len(self.log) < LOG_LIMIT:
                self.log.append(entry)

    # -- the call engine tells us what the phones and callers see ------------------------------
    def ringing(self, ch: Channel) -> None:
        """A phone rings: someone picks up after a while, or nobody does."""
        cfg = self.config
        if self.rng.random() < cfg.no_answer_share:
            return
        self._later(self.rng.uniform(*cfg.ring), self._answer, ch)

    def _answer(self, ch: Channel) -> None:
        if not ch.gone and ch.state == RINGING:
            self.pbx.calls.answer(ch.name)

    def answered(self, a: Channel, b: Channel) -> None:
        """Two parties are connected: they talk, maybe with a hold, then one hangs up."""
        cfg, rng = self.config, self.rng
        talk = rng.uniform(*cfg.talk)
        if rng.random() < cfg.hold_share:
            holder = rng.choice((a, b))
            start = rng.uniform(0.1, 0.5) * talk
            self._later(start, self._hold, holder, True)
            self._later(start + rng.uniform(3, 20), self._hold, holder, False)
        self._later(talk, self._hangup, rng.choice((a, b)))

    def _hold(self, ch: Channel, on: bool) -> None:
        if not ch.gone and ch.state == UP:
            self.pbx.calls.hold(ch.name, on)

    def _hangup(self, ch: Channel) -> None:
        if not ch.gone:
            self.pbx.calls.hangup(ch.name)

    def queued(self, ch: Channel) -> None:
        """A caller waits in a queue; an impatient one gives up."""
        cfg = self.config
        if self.rng.random() < cfg.abandon_share:
            self._later(self.rng.uniform(*cfg.patience), self._abandon, ch)

    def _abandon(self, ch: Channel) -> None:
        if not ch.gone and ch.bridge is None:
            self.pbx.calls.hangup(ch.name)

    def ended(self, ch: Channel) -> None:
        if ch.vars.get("__cdr") == "1":
            self.calls_ended += 1

    # -- agents and phones --------------------------------------------------------------------
    def _toggle_pause(self) -> None:
        pbx, rng = self.pbx, self.staff
        queues = [q for q in pbx.queues.values() if q.members]
        if not queues:
            return
        member = rng.choice(list(rng.choice(queues).members.values()))
        if member.paused:
            pbx.queue_pause(member.interface, False)
        else:
            pbx.queue_pause(member.interface, True, reason=rng.choice(REASONS))
            self._later(rng.uniform(20, 300), self._unpause, member.interface)
        pbx.calls.queue_ring_all()

    def _unpause(self, interface: str) -> None:
        self.pbx.queue_pause(interface, False)
        self.pbx.calls.queue_ring_all()

    def _registration_change(self) -> None:
        pbx, rng = self.pbx, self.staff
        idle = [
            ep.name
            for ep in pbx.endpoints.values()
            if ep.kind == "phone" and ep.online and not ep.channels and ep.name not in self._offline
        ]
        if not idle:
            return
        name = rng.choice(idle)
        self._offline.add(name)
        if rng.random() < 0.5:
            pbx.unregister(name, sip_auth=1)
            self._later(rng.uniform(5, 60), self._back, name, True)
        else:
            pbx.unreachable(name)
            self._later(rng.uniform(5, 60), self._back, name, False)

    def _back(self, name: str, register: bool) -> None:
        self._offline.discard(name)
        if register:
            self.pbx.register(name, sip_auth=1)
        else:
            self.pbx.reachable(name)
        self.pbx.calls.queue_ring_all()

    # -- consistency --------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Invariants of the model; returns what is wrong (empty when all is well)."""
        pbx = self.pbx
        problems = []
        for uid, ch in pbx.channels.items():
            if ch.gone:
                problems.append(f"{ch.name} is gone but still listed")
            if ch.endpoint is not None and uid not in ch.endpoint.channels:
                problems.append(f"{ch.name} is missing from its endpoint")
        for ep in pbx.endpoints.values():
            for uid, ch in ep.channels.items():
                if uid not in pbx.channels:
                    problems.append(f"{ep.name} holds hung-up channel {ch.name}")
        for q in pbx.queues.values():
            for c in q.callers:
                if c.channel.gone:
                    problems.append(f"queue {q.name} still lists caller {c.channel.name}")
            for m in q.members.values():
                if m.in_call and not any(
                    ch.endpoint is not None and f"PJSIP/{ch.endpoint.name}" == m.interface
                    for ch in pbx.channels.values()
                ):
                    problems.append(f"{q.name}/{m.interface} is in a call without a channel")
                if m.status != pbx.device_number(m.state_interface):
                    problems.append(f"{q.name}/{m.interface} status {m.status} is stale")
        for device in list(pbx.devices):
            if device.startswith("PJSIP/"):
                ep = pbx.endpoints.get(device[6:])
                if ep is not None and pbx.devices[device] != ep.device_state():
                    problems.append(
                        f"{device} published {pbx.devices[device]}, is {ep.device_state()}"
                    )
        return problems
