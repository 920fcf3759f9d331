"""The demo's simulated day looks like a normal day in a call centre, at the default size of
``make run`` and at a TV-sized 300 extensions: queues mostly OK with the odd amber or red,
breaks and abandons, agents busy part of the time, and a queue that does not keep growing.

The simulator runs a whole day (``ScenarioConfig.day``) at ``time_scale`` 0.01 on a clock
that runs as fast, so waits in its snapshots are in simulated seconds; the queue levels are
the cards' own (``monitor.tiles.level`` with the default thresholds).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from monitor.sim import cli
from monitor.sim.day import team_size
from monitor.sim.scenario import Scenario, ScenarioConfig
from monitor.sim.server import PbxSimulator
from monitor.tiles import default_threshold, level

SCALE = 0.01
DAY = 1800.0  # simulated seconds: serve's default day
SAMPLE = 5.0  # simulated seconds between two looks at the truth
SEED = 7  # serve's


@dataclass
class Day:
    """What the samples of one simulated day saw."""

    levels: dict[str, list[str]] = field(default_factory=dict)  # queue -> level per sample
    waiting: list[int] = field(default_factory=list)  # callers waiting, all queues
    busy: list[float] = field(default_factory=list)  # share of agents in a call
    reasons: set[str] = field(default_factory=set)  # pause reasons seen
    unpauses: int = 0
    abandoned: int = 0
    completed: int = 0

    def share(self, queue: str, wanted: str) -> float:
        return self.levels[queue].count(wanted) / len(self.levels[queue])

    def thirds(self) -> tuple[float, float]:
        third = len(self.waiting) // 3
        return sum(self.waiting[:third]) / third, sum(self.waiting[-third:]) / third

    def summary(self) -> str:
        first, last = self.thirds()
        red = max(self.share(q, "red") for q in self.levels)
        amber = max(self.share(q, "amber") for q in self.levels)
        return (
            f"{len(self.waiting)} samples, worst queue red {red:.0%} amber {amber:.0%}, "
            f"completed {self.completed} abandoned {self.abandoned}, reasons {sorted(self.reasons)}"
            f" unpauses {self.unpauses}, agents busy {sum(self.busy) / len(self.busy):.0%}, "
            f"waiting first third {first:.2f} last third {last:.2f}"
        )


def queue_level(q: dict[str, Any], now: datetime) -> str:
    oldest = max((c["wait"] for c in q["callers"]), default=None)
    card = SimpleNamespace(
        threshold=default_threshold(),
        waiting=q["calls"],
        oldest=None if oldest is None else now - timedelta(seconds=oldest),
    )
    return level(card, now)  # type: ignore[arg-type]


def look(day: Day, snap: dict[str, Any], paused: dict[str, bool]) -> None:
    now = datetime.now(UTC)
    members = [m for q in snap["queues"].values() for m in q["members"].items()]
    for name, q in snap["queues"].items():
        day.levels.setdefault(name, []).append(queue_level(q, now))
    day.waiting.append(sum(q["calls"] for q in snap["queues"].values()))
    day.busy.append(sum(m["in_call"] for _, m in members) / len(members))
    for iface, m in members:
        if m["paused"]:
            day.reasons.add(m["paused_reason"])
        elif paused.get(iface):
            day.unpauses += 1
        paused[iface] = m["paused"]


async def run_day(
    extensions: int, queues: int, length: float = DAY, config: ScenarioConfig | None = None
) -> Day:
    """Sample a scenario (the demo's day unless ``config``) for ``length`` simulated seconds."""
    start, origin = time.monotonic(), time.time()

    def clock() -> float:
        return origin + (time.monotonic() - start) / SCALE

    size = {"extensions": extensions, "queues": queues}
    async with PbxSimulator(
        **size, members_per_queue=team_size(**size), seed=SEED, time_scale=SCALE, clock=clock
    ) as sim:
        sc = Scenario(sim.pbx, seed=SEED, config=config or ScenarioConfig.day(sim.pbx))
        sc.start()
        day, paused = Day(), {}
        # The scenario's own count of simulated time, not the wall clock: a busy machine
        # only makes the day take longer.
        deadline = time.monotonic() + length * SCALE * 10
        while sc.elapsed < length:
            assert time.monotonic() < deadline, f"the day got to {sc.elapsed:.0f} s only"
            await asyncio.sleep(SAMPLE * SCALE)
            look(day, sim.snapshot(), paused)
        await sc.stop()
        assert sc.check() == []
        for q in sim.snapshot()["queues"].values():
            day.abandoned += q["abandoned"]
            day.completed += q["completed"]
        return day


def problems(day: Day) -> list[str]:
    """How ``day`` differs from a normal day (empty when it is one)."""
    found = []
    for queue in day.levels:
        if day.share(queue, "red") >= 0.15 or day.share(queue, "ok") < 0.7:
            found.append(f"{queue} red {day.share(queue, 'red'):.0%}")
    for wanted in ("amber", "red"):
        if not any(wanted in levels for levels in day.levels.values()):
            found.append(f"no queue ever {wanted}")
    if not day.abandoned or day.abandoned > 0.1 * day.completed:
        found.append(f"{day.abandoned} abandoned of {day.completed} answered")
    if not day.reasons - {""} or not day.unpauses:
        found.append(f"breaks {sorted(day.reasons)}, {day.unpauses} back")
    busy = sum(day.busy) / len(day.busy)
    if not 0.25 <= busy <= 0.85:
        found.append(f"agents busy {busy:.0%} of the time")
    first, last = day.thirds()
    if last > 2 * first + len(day.levels):
        found.append(f"waiting grows: {first:.1f} then {last:.1f}")
    return found


async def test_the_default_demo_has_a_normal_day():
    day = await run_day(24, 3)
    print(day.summary())
    assert problems(day) == []
    assert "Lunch" in day.reasons


async def test_a_300_extension_demo_has_a_normal_day():
    day = await run_day(300, 12)
    print(day.summary())
    assert problems(day) == []


async def test_the_old_demo_load_is_not_a_normal_day():
    # What `make run` used to run: 0.4 calls/s, talk up to 3 minutes, on 24 phones.
    old = ScenarioConfig(call_rate=0.4)
    day = await run_day(24, 3, length=DAY / 3, config=old)
    print(day.summary())
    assert any("red" in p or "grows" in p for p in problems(day))


def test_pbxsim_day_option_plays_the_demo_day():
    sim = PbxSimulator(extensions=300, queues=12, members_per_queue=18, seed=SEED)
    day = cli.scenario_config(sim, vars(cli.parser().parse_args(["--day"])))
    assert day.day_length and day.burst_rate and 1.0 < day.call_rate < 4.0
    assert day.call_rate == ScenarioConfig.day(sim.pbx).call_rate
    flat = cli.scenario_config(sim, vars(cli.parser().parse_args([])))
    assert (flat.call_rate, flat.day_length) == (0.5, 0.0)
    given = cli.scenario_config(sim, vars(cli.parser().parse_args(["--day", "--call-rate", "3"])))
    assert given.call_rate == 3.0
