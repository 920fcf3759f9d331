"""A call centre's day, for the demo: how busy the lines are at each hour, and how many calls
a team of agents can carry.

The shape follows an inbound service desk: a quiet start, a morning peak, a dip at lunch, a
second peak in the afternoon and a quiet end. :func:`load` is normalised to a mean of 1 over
the day, so ``call_rate x load(phase)`` keeps the day's mean at ``call_rate``.

The sizing is the square-root staffing rule (Halfin-Whitt): ``N`` agents carry an offered
load ``A`` with a short wait when ``N = A + beta * sqrt(A)``. The demo sizes its *peak* hour
that way and lets the rest of the day run lighter, so a queue waits a little at its peaks and
only turns red when a burst of calls hits it (:class:`~monitor.sim.scenario.Scenario`).
"""

from __future__ import annotations

import math
from itertools import pairwise

# (phase of the day, relative load), piecewise linear; the last point wraps to the first.
SHAPE = (
    (0.00, 0.45),
    (0.12, 0.80),
    (0.25, 1.35),
    (0.38, 1.10),
    (0.47, 0.70),  # lunch
    (0.55, 0.85),
    (0.70, 1.30),
    (0.85, 0.95),
    (1.00, 0.45),
)
LUNCH = (0.40, 0.55)  # phases when a break is a lunch break
AGENT_SHARE = 0.75  # of a demo's extensions, agents in a queue; the rest are back office


def _raw(phase: float) -> float:
    phase %= 1.0
    for (p0, v0), (p1, v1) in pairwise(SHAPE):
        if phase <= p1:
            return v0 + (v1 - v0) * (phase - p0) / (p1 - p0)
    return SHAPE[-1][1]  # pragma: no cover - phase < 1.0 always ends in the loop


def _mean() -> float:
    # The trapezoids' area: the shape's mean over one day.
    return sum((p1 - p0) * (v0 + v1) / 2 for (p0, v0), (p1, v1) in pairwise(SHAPE))


MEAN = _mean()
PEAK = max(v for _, v in SHAPE) / MEAN


def load(phase: float) -> float:
    """The call rate at ``phase`` (0..1, wrapping) relative to the day's mean."""
    return _raw(phase) / MEAN


def is_lunch(phase: float) -> bool:
    return LUNCH[0] <= phase % 1.0 < LUNCH[1]


def carried_load(agents: float, beta: float) -> float:
    """The offered load (Erlang) ``agents`` carry with a short wait: ``A`` in
    ``agents = A + beta * sqrt(A)``; 0 for no agents."""
    if agents <= 0:
        return 0.0
    root = (math.sqrt(beta * beta + 4 * agents) - beta) / 2
    return root * root


def queue_call_rate(agents: float, handling: float, *, beta: float = 0.5) -> float:
    """Calls per second a queue of ``agents`` can take over the day, when a call keeps an agent
    ``handling`` seconds: its peak hour is sized by :func:`carried_load`."""
    return carried_load(agents, beta) / PEAK / handling


def team_size(extensions: int, queues: int) -> int:
    """Agents per queue of a demo of this size: :data:`AGENT_SHARE` of the extensions dealt
    out over the queues, at least one each (0 without queues)."""
    return max(1, int(extensions * AGENT_SHARE) // queues) if queues else 0
