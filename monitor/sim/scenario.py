"""A lively call centre on the simulated PBX: seeded, reproducible, tunable at run time.

What happens, each with its own random stream from the seed:

- outside callers reach the queues through ``trunk_1`` (Poisson arrivals at ``call_rate``
  per second times ``queue_share``); most wait for an agent, some give up first;
- phones call each other (the rest of ``call_rate``); callees answer or let it ring out;
- whoever answered talks for a while, then one side hangs up (a few calls go on hold);
- agents pause and unpause with a reason; phones unregister, go unreachable, come back.

By default the call rate is flat (benchmarks need a steady one). :meth:`ScenarioConfig.day`
makes the demo's day instead (``manage.py serve``): the rate follows :mod:`.day`'s curve, a
queue now and then gets a burst of calls (an outage somewhere: its card turns amber or red
for a while), agents take breaks (lunch at midday) but never more than a share of a team at
once, and the rate is sized so the agents can carry it.

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

from . import day
from .model import RINGING, UP, Channel

if TYPE_CHECKING:
    from .pbx import Pbx

log = logging.getLogger(__name__)
REASONS = ("Lunch", "Break", "Meeting", "Training", "")
BREAKS = ("Break", "Break", "Meeting", "Training", "")  # outside the lunch hours of a day
LOG_LIMIT = 1000
TICK = 0.1  # simulated seconds between two rounds of arrivals and decisions
CATCH_UP = 50  # ticks the loop replays after a stall; a longer stall is skipped, not flooded


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
    internal_talk: tuple[float, float] | None = None  # phone-to-phone talk; None: ``talk``
    break_length: tuple[float, float] = (20.0, 300.0)  # seconds a paused agent stays away
    max_paused_share: float = 1.0  # of a queue's members on a break at once
    day_length: float = 0.0  # seconds of one day's curve (monitor.sim.day); 0: a flat rate
    day_start: float = 0.0  # the phase of the day the scenario starts at, 0..1
    burst_rate: float = 0.0  # bursts per second, each on the queue that had the fewest so far
    burst_size: float = 10.0  # callers a burst leaves waiting, over the queue's free agents
    first_burst: float = 0.0  # simulated second of a first burst, whatever the dice say; 0: none
    burst_length: tuple[float, float] = (30.0, 60.0)  # seconds over which its calls arrive

    @classmethod
    def day(
        cls, pbx: Pbx, *, call_rate: float | None = None, day_length: float = 1800.0
    ) -> ScenarioConfig:
        """The demo's day on ``pbx``: ``call_rate`` (calls/s over the day) defaults to what its
        queues' agents can carry (:func:`demo_call_rate`)."""
        config = cls(
            talk=(10.0, 110.0),
            internal_talk=(5.0, 60.0),
            queue_share=0.85,
            patience=(5.0, 100.0),
            abandon_share=0.3,
            no_answer_share=0.05,
            break_length=(60.0, 300.0),
            max_paused_share=0.34,
            day_length=day_length,
            day_start=0.08,
            burst_size=10.0,
            burst_length=(30.0, 60.0),
            # A newcomer's first minutes include a queue in trouble, before the morning peak.
            first_burst=0.08 * day_length,
        )
        agents = _agents(pbx)
        # Each agent thinks of a break about three times a day (on a call, or with a third of
        # the team away, it waits for the next time), and stays away about three minutes.
        config.pause_rate = len(agents) * 3.0 / day_length
        # Another burst somewhere about once a day, whatever the size.
        config.burst_rate = 1.0 / day_length
        config.call_rate = demo_call_rate(pbx, config) if call_rate is None else call_rate
        return config


def _agents(pbx: Pbx) -> set[str]:
    return {m.interface for q in pbx.queues.values() for m in q.members.values()}


def demo_call_rate(pbx: Pbx, config: ScenarioConfig) -> float:
    """Calls per second (queue and internal) that ``pbx``'s queues carry at ``config``'s
    handling times, pauses and queue share: each queue's online members, less the share on a
    break, size its peak hour (:func:`monitor.sim.day.queue_call_rate`)."""
    handling = sum(config.talk) / 2 + sum(config.ring) / 2
    paused = config.max_paused_share / 2
    rates = []
    for q in pbx.queues.values():
        online = sum(
            1
            for m in q.members.values()
            if (ep := pbx.endpoints.get(m.interface.partition("/")[2])) is not None and ep.online
        )
        rates.append(day.queue_call_rate(online * (1 - paused), handling))
    if not rates:
        return 0.0
    return sum(rates) / config.queue_share


class Scenario:
    def __init__(self, pbx: Pbx, *, seed: int = 0, config: ScenarioConfig | None = None) -> None:
        self.pbx = pbx
        self.config = config or ScenarioConfig()
        # Separate streams: the calls that arrive do not depend on how earlier calls went.
        self.rng = random.Random(seed)  # people: answering, talking, holding, giving up
        self.arrivals = random.Random(seed + 1)
        self.staff = random.Random(seed + 2)  # agents' pauses, phones' registrations
        self.bursts = random.Random(seed + 3)  # which queue gets a burst of calls, and when
        self.elapsed = 0.0  # simulated seconds the scenario has run
        # (queue, simulated second it ends, extra calls per second) of the burst going on.
        self.burst: tuple[str, float, float] | None = None
        self.bursts_by_queue: dict[str, int] = {}
        self._burst_due = 0.0  # calls of the burst owed so far, not yet placed
        self.calls_started = 0
        self.calls_ended = 0
        # (kind, from, to) of the first LOG_LIMIT calls placed (tests compare runs by them).
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
        loop = asyncio.get_running_loop()
        step = TICK * self.pbx.calls.time_scale
        due = loop.time()
        while True:
            due += step
            await asyncio.sleep(max(0.0, due - loop.time()))
            # Each tick's wake-up is late on a busy loop; without catching up the arrivals
            # would fall behind the call timers, which fire on time, and the load would drift.
            behind = int((loop.time() - due) / step) if step > 0 else 0
            if behind > CATCH_UP:
                due += behind * step
                behind = 0
            for _ in range(1 + max(0, behind)):
                self._tick()
            due += max(0, behind) * step

    def _tick(self) -> None:
        """One tick of simulated time: arrivals, bursts and people's decisions."""
        cfg = self.config
        self.elapsed += TICK
        for _ in range(self._poisson(cfg.call_rate * self.load() * TICK)):
            self._new_call()
        if cfg.burst_rate:
            self._burst_tick()
        # A count, not a coin: a big call centre's agents pause more than once a tick.
        for _ in range(self._poisson_from(self.staff, cfg.pause_rate * TICK)):
            self._toggle_pause()
        if self.staff.random() < cfg.registration_rate * TICK:
            self._registration_change()

    def phase(self) -> float:
        """Where in the day the scenario is, 0..1 (0 when the rate is flat)."""
        cfg = self.config
        if not cfg.day_length:
            return 0.0
        return (cfg.day_start + self.elapsed / cfg.day_length) % 1.0

    def load(self) -> float:
        """The call rate now relative to ``call_rate``: 1 when flat, the day's curve otherwise."""
        return day.load(self.phase()) if self.config.day_length else 1.0

    def _burst_tick(self) -> None:
        cfg, rng = self.config, self.bursts
        if self.burst is not None and self.elapsed >= self.burst[1]:
            self.burst = None
        due = cfg.first_burst and self.elapsed - TICK < cfg.first_burst <= self.elapsed
        if self.burst is None and (rng.random() < cfg.burst_rate * TICK or due):
            self.burst = self._new_burst()
        if self.burst is not None:
            # Evenly, not by chance: a burst that happens to bring few calls is no burst.
            self._burst_due += self.burst[2] * TICK
            while self._burst_due >= 1.0:
                self._burst_due -= 1.0
                self._queue_call(self.burst[0], rng)

    def _new_burst(self) -> tuple[str, float, float] | None:
        """The next burst: on a queue that had the fewest (an outage hits another team each
        time), as many calls over ``burst_length`` as the queue has free agents, and
        ``burst_size`` more. Sized by the team, not by the rate: the card turns red (more than
        6 waiting) at any size, and a big team clears it sooner, as it would."""
        cfg, rng = self.config, self.bursts
        queues = sorted(self._queues())
        if not queues:
            return None
        fewest = min(self.bursts_by_queue.get(q, 0) for q in queues)
        queue = rng.choice([q for q in queues if self.bursts_by_queue.get(q, 0) == fewest])
        self.bursts_by_queue[queue] = fewest + 1
        length = rng.uniform(*cfg.burst_length)
        free = sum(1 for m in self.pbx.queues[queue].members.values() if self.pbx.calls.free(m))
        return queue, self.elapsed + length, (free + cfg.burst_size) / length

    def _queues(self) -> list[str]:
        return [q for q in self.pbx.queues if not self.config.queues or q in self.config.queues]

    def _poisson(self, mean: float) -> int:
        return self._poisson_from(self.arrivals, mean)

    @staticmethod
    def _poisson_from(rng: random.Random, mean: float) -> int:
        count, limit, p = 0, math.exp(-mean), rng.random()
        while p > limit:
            count += 1
            p *= rng.random()
        return count

    def _new_call(self) -> None:
        pbx, rng, cfg = self.pbx, self.arrivals, self.config
        queues = self._queues()
        if queues and rng.random() < cfg.queue_share:
            self._queue_call(rng.choice(queues), rng)
            return
        phones = [ep for ep in pbx.endpoints.values() if ep.kind == "phone" and ep.online]
        if len(phones) < 2:
            return
        a, b = rng.sample(phones, 2)
        # Someone on a call does not dial, and a busy phone would answer "busy" (the simulator
        # rings it anyway): such a call is logged, the people chosen do not depend on timing,
        # but not placed.
        ch = None if a.channels or b.channels else pbx.calls.phone_call(a.name, b.name)
        self._started(ch, ("internal", a.name, b.name))

    def _queue_call(self, queue: str, rng: random.Random) -> None:
        number = f"+3120{rng.randrange(1000000, 9999999)}"
        ch = self.pbx.calls.trunk_call(number, queue, name=f"Caller {number[-4:]}")
        self._started(ch, ("queue", number, queue))

    def _started(self, ch: Channel | None, entry: tuple[str, str, str]) -> None:
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
        internal = all(ch.endpoint is not None and ch.endpoint.kind == "phone" for ch in (a, b))
        talk = rng.uniform(*(cfg.internal_talk if internal and cfg.internal_talk else cfg.talk))
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
        """A random agent back from a break early, or off on one: after the call it is on,
        and only when its teams can spare it (:meth:`_may_pause`)."""
        pbx, rng = self.pbx, self.staff
        queues = [q for q in pbx.queues.values() if q.members]
        if not queues:
            return
        member = rng.choice(list(rng.choice(queues).members.values()))
        if member.paused:
            pbx.queue_pause(member.interface, False)
        elif not member.in_call and member.ringing is None and self._may_pause(member.interface):
            pbx.queue_pause(member.interface, True, reason=rng.choice(self._reasons()))
            self._later(rng.uniform(*self.config.break_length), self._unpause, member.interface)
        pbx.calls.queue_ring_all()

    def _reasons(self) -> tuple[str, ...]:
        if not self.config.day_length:
            return REASONS
        return ("Lunch",) if day.is_lunch(self.phase()) else BREAKS

    def _may_pause(self, interface: str) -> bool:
        """Not while callers wait in one of the agent's queues, nor past the team's share
        away (``max_paused_share``; 1: no limit, nor any wait for callers)."""
        limit = self.config.max_paused_share
        for q in self.pbx.queues.values():
            if interface in q.members:
                away = sum(1 for m in q.members.values() if m.paused) + 1
                if away > limit * len(q.members) or (limit < 1 and q.callers):
                    return False
        return True

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
