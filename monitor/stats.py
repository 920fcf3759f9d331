"""A worker's counters, carried to the processes that serve ``/metrics`` and ``/healthz``.

In production the AMI worker and the web servers are different processes, so the worker
writes its numbers into its PBX's :class:`~monitor.models.WorkerStats` row, at most once per
``STATS_INTERVAL`` (from its flush loop), and the web side reads that row.

Rules:

- A report *adds* to the stored counters what the worker counted since its last successful
  report (``F() + delta`` in one UPDATE). The stored totals therefore only grow: across
  worker restarts, a stand-by worker taking over, and reports that failed (their counts go
  into the next one).
- Every report, even an idle one, sets ``updated_at``: the heartbeat ``/healthz`` checks, since
  a killed worker leaves ``Pbx.connected`` true behind it.
- Reporting never raises into the worker: the database being away is the flush's business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .locks import holder_name
from .mirror import Fenced, check_fence
from .models import WorkerStats

if TYPE_CHECKING:
    from .worker import PbxWorker

log = logging.getLogger(__name__)

STATS_INTERVAL = 1.0  # seconds between two reports of one worker
COUNTERS = ("events_applied", "flushes", "resyncs", "reconnects", "event_overflows")


def worker_stats_add(
    *, pbx_id: int, deltas: dict[str, int], gauges: dict[str, Any], fence: int | None = None
) -> None:
    """Add ``deltas`` to the PBX's counters and set ``gauges`` and the heartbeat; nothing if
    another worker took the PBX over (raises ``mirror.Fenced``: its own flush then stops it)."""
    with transaction.atomic():
        check_fence(pbx_id, fence)
        _add(pbx_id, deltas, gauges)


def _add(pbx_id: int, deltas: dict[str, int], gauges: dict[str, Any]) -> None:
    fields = {name: F(name) + value for name, value in deltas.items() if value}
    fields.update(gauges, updated_at=timezone.now())
    if WorkerStats.objects.filter(pbx_id=pbx_id).update(**fields):
        return
    try:
        with transaction.atomic():
            WorkerStats.objects.create(pbx_id=pbx_id, **deltas, **gauges)
    except IntegrityError:
        # Created meanwhile by the worker we took over from (its last report), or the PBX row
        # is gone; in the first case the update applies now.
        WorkerStats.objects.filter(pbx_id=pbx_id).update(**fields)


class StatsReporter:
    """Reports one :class:`~monitor.worker.PbxWorker`'s counters; see the module's rules."""

    def __init__(
        self,
        worker: PbxWorker,
        *,
        interval: float = STATS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.worker = worker
        self.interval = interval
        self._clock = clock
        self._reported = dict.fromkeys(COUNTERS, 0)
        self._last_at: float | None = None
        self._last_events = 0
        self._failing = False

    def counters(self) -> dict[str, int]:
        w = self.worker
        return {
            "events_applied": w.events_applied,
            "flushes": w.flushes,
            "resyncs": w.resyncs,
            "reconnects": w.client.reconnects,
            "event_overflows": w.client.events.overflows,
        }

    def gauges(self, now: float) -> dict[str, Any]:
        w = self.worker
        elapsed = now - self._last_at if self._last_at is not None else 0.0
        rate = (w.events_applied - self._last_events) / elapsed if elapsed > 0 else 0.0
        waiting = now - w.pending_since if w.pending_since is not None else 0.0
        return {
            "events_per_second": round(rate, 3),
            "flush_lag": round(max(w.flush_lag_max, waiting), 4),
            "event_queue": w.client.events.qsize(),
            "worker": holder_name()[:100],
            "flush_error": w.flush_error[:2000],
        }

    async def maybe_report(self) -> None:
        """:meth:`report` if the last one is ``interval`` seconds old."""
        if self._last_at is None or self._clock() - self._last_at >= self.interval:
            await self.report()

    async def report(self) -> bool:
        """Write one report. Returns whether it reached the database; never raises."""
        try:
            now = self._clock()
            counters = self.counters()
            deltas = {k: max(0, counters[k] - self._reported[k]) for k in COUNTERS}
            gauges = self.gauges(now)
            self._last_at, self._last_events = now, self.worker.events_applied
            self.worker.flush_lag_max = 0.0
            await database_sync_to_async(worker_stats_add, thread_sensitive=False)(
                pbx_id=self.worker.pbx_id, deltas=deltas, gauges=gauges, fence=self.worker.fence
            )
        except Fenced:
            return False  # the worker's next flush finds it too, and stops it (and says so)
        except Exception as exc:
            if not self._failing:
                log.warning("PBX %s: cannot write worker statistics: %s", self.worker.pbx_id, exc)
            self._failing = True
            return False
        self._failing = False
        self._reported = counters
        return True
