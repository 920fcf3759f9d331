"""Run a :class:`~monitor.worker.PbxWorker` for every enabled PBX whose lock this process gets.

The configuration is read again every ``poll`` seconds: a PBX added, disabled or edited in the
admin is started, stopped or restarted without restarting the process. A PBX whose lock another
process holds is left to it (this process stands by and takes over when the lock frees); a PBX
whose worker fails is restarted at the next poll, without disturbing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from . import mirror
from .ami.config import AmiConfig
from .crypto import SecretUnreadable
from .history.prune import describe, history_prune
from .locks import PbxLock, holder_name, lock_for
from .models import Pbx
from .worker import PbxWorker

log = logging.getLogger(__name__)


@dataclass
class _Running:
    worker: PbxWorker
    task: asyncio.Task[None]
    lock: PbxLock
    fingerprint: tuple[Any, ...]
    lock_unknown: bool = False  # the last look at the lock could not reach the database


def default_publish() -> Callable[[int, dict[str, Any]], Any] | None:
    if find_spec("monitor.broadcast") is None:
        return None
    from .broadcast import publish

    return publish


def _fingerprint(p: Pbx) -> tuple[Any, ...]:
    return (
        p.host,
        p.port,
        p.tls,
        p.tls_ca,
        p.tls_fingerprint,
        p.tls_server_name,
        p.username,
        p.secret_encrypted,
        p.auth,
        p.keepalive,
    )


def _load_enabled() -> list[tuple[int, str, tuple[Any, ...], AmiConfig | None, str]]:
    out = []
    for p in Pbx.objects.filter(enabled=True):
        try:
            config, error = p.ami_config(), ""
        except SecretUnreadable as exc:
            config, error = None, str(exc)
        except ValueError as exc:
            # Settings AmiConfig refuses (a pin without a usable fingerprint): only this PBX
            # stays down, with the reason on its row, and the pool goes on with the others.
            config, error = None, f"PBX settings unusable: {exc}"
        out.append((p.pk, p.name, _fingerprint(p), config, error))
    return out


def _claim(pbx_id: int, error: str = "") -> int | None:
    """Raise the PBX's fence (see monitor.locks) and name this process its worker."""
    fields: dict[str, Any] = {"worker": holder_name()}
    if error:
        fields.update(last_error=error, connected=False)
    return mirror.claim(pbx_id, fields)


class WorkerPool:
    """All the PBX workers of one ``amiworker`` (or ``serve``) process."""

    def __init__(
        self,
        *,
        poll: float = 2.0,
        flush_interval: float | None = None,
        publish: Callable[[int, dict[str, Any]], Any] | None = None,
        worker_options: dict[str, Any] | None = None,
    ) -> None:
        self.poll = poll
        self.publish = publish if publish is not None else default_publish()
        self.worker_options = dict(worker_options or {})
        if flush_interval is not None:
            self.worker_options["flush_interval"] = flush_interval
        self.running: dict[int, _Running] = {}
        self._standing_by: set[int] = set()
        # PBXes whose settings are unusable, with the settings reported: one line per change.
        self._unusable: dict[int, tuple[Any, ...]] = {}
        self._list_failing = False
        self._stopping = asyncio.Event()
        self._pruned_on: dt.date | None = None  # the UTC date of the last daily prune
        self._prune_failing = False

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                await self.step()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.poll)
        finally:
            await self.stop_all()

    async def prune_daily(self) -> None:
        """Prune the history once a UTC day (``manage.py prune_history``); a failure is logged
        and tried again at the next poll. Several pools pruning at once delete nothing twice."""
        today = timezone.now().date()
        if self._pruned_on == today:
            return
        try:
            result = await database_sync_to_async(history_prune, thread_sensitive=False)(
                now=timezone.now()
            )
        except Exception as exc:
            if not self._prune_failing:  # the database is away: once, not at every poll
                log.warning("worker pool: pruning the history failed (%s); trying again", exc)
            self._prune_failing = True
            return
        self._prune_failing = False
        self._pruned_on = today
        log.info("worker pool: %s", describe(result))

    async def step(self) -> None:
        """One look at the configuration and the locks (and the daily prune)."""
        await self.prune_daily()
        try:
            enabled = await database_sync_to_async(_load_enabled, thread_sensitive=False)()
        except Exception as exc:
            if not self._list_failing:  # the database is away: once, not at every poll
                log.warning("worker pool: cannot read the PBX list (%s); keeping what runs", exc)
            self._list_failing = True
            return
        if self._list_failing:
            log.info("worker pool: the PBX list can be read again")
        self._list_failing = False
        wanted = {pbx_id: rest for pbx_id, *rest in enabled}
        for pbx_id in list(self.running):
            run = self.running[pbx_id]
            if pbx_id not in wanted or wanted[pbx_id][1] != run.fingerprint:
                log.info("PBX %s: configuration changed or disabled; stopping its worker", pbx_id)
                await self._stop(pbx_id)
            elif run.task.done():
                exc = run.task.exception() if not run.task.cancelled() else None
                if isinstance(exc, mirror.Fenced):
                    log.warning("PBX %s: another worker took over; this one stands by", pbx_id)
                else:
                    log.error("PBX %s: worker ended (%r); restarting", pbx_id, exc)
                await self._stop(pbx_id)
            else:
                await self._check_lock(pbx_id, run)
        for pbx_id, (name, fingerprint, config, error) in wanted.items():
            if pbx_id in self.running:
                continue
            if config is None and self._unusable.get(pbx_id) == fingerprint:
                continue  # reported already; not even the lock until its settings change
            lock = lock_for(pbx_id)
            if not await asyncio.to_thread(lock.try_acquire):
                if pbx_id not in self._standing_by:
                    log.info("PBX %s (%s): another worker is active; standing by", pbx_id, name)
                    self._standing_by.add(pbx_id)
                continue
            self._standing_by.discard(pbx_id)
            if config is None:
                await database_sync_to_async(_claim, thread_sensitive=False)(pbx_id, error)
                log.error("PBX %s (%s): %s", pbx_id, name, error)
                self._unusable[pbx_id] = fingerprint
                await asyncio.to_thread(lock.release)
                continue
            self._unusable.pop(pbx_id, None)
            try:
                fence = await database_sync_to_async(_claim, thread_sensitive=False)(pbx_id)
            except Exception as exc:  # the database went away since the list was read
                log.warning("PBX %s (%s): cannot take it over now: %s", pbx_id, name, exc)
                fence = None
            if fence is None:  # or deleted since the list was read: the next poll sees
                await asyncio.to_thread(lock.release)
                continue
            worker = PbxWorker(
                pbx_id, config, publish=self.publish, fence=fence, **self.worker_options
            )
            task = asyncio.create_task(worker.run(), name=f"pbx{pbx_id}")
            self.running[pbx_id] = _Running(worker, task, lock, fingerprint)
            log.info("PBX %s (%s): worker active at %s", pbx_id, name, config.address)

    async def _check_lock(self, pbx_id: int, run: _Running) -> None:
        held = await asyncio.to_thread(run.lock.still_held)
        if held is False:
            log.error("PBX %s: lost its lock; stopping so that the new holder is alone", pbx_id)
            await self._stop(pbx_id)
            return
        if held is None and not run.lock_unknown:
            # Nobody can take the lock while nobody reaches the database: keep the session.
            log.warning("PBX %s: cannot check its lock (database away); the worker goes on", pbx_id)
        elif held and run.lock_unknown:
            log.info("PBX %s: lock checked again, still this worker's", pbx_id)
        run.lock_unknown = held is None

    async def _stop(self, pbx_id: int) -> None:
        # Listed as running until it has stopped, its last status written and its lock free.
        run = self.running[pbx_id]
        run.task.cancel()
        with contextlib.suppress(BaseException):
            await run.task
        await asyncio.to_thread(run.lock.release)
        del self.running[pbx_id]

    async def stop_all(self) -> None:
        for pbx_id in list(self.running):
            await self._stop(pbx_id)

    def stop(self) -> None:
        self._stopping.set()
