"""One task per PBX: AMI session -> live state -> coalesced database flushes -> pages.

The order of things, and why:

1. ``AmiClient`` reads the socket and never waits for anyone (the FCM630A drops slow readers).
2. ``_consume`` applies events to the in-memory :class:`~monitor.state.PbxState` as they come.
   After each (re)connect, and after an event-queue overflow, it resynchronises: the list
   actions are pipelined (as in transcript b5) and their replies replace the state wholesale,
   so whatever vanished on the PBX vanishes here. Events older than a list snapshot are
   dropped by the state itself (it compares ``Packet.seq``).
3. ``_flush_loop`` writes what changed every ``flush_interval`` seconds in one transaction, in
   a thread, so a slow database delays the mirror but never the AMI reader. A failed flush is
   retried as a full write of the state, so nothing is lost while the database is away.
4. After each flush one compact change set per PBX goes to the channel layer.
5. While the session is down the PBX row says since when its data is stale.
6. The day is recorded beside the mirror (:mod:`monitor.history`): the recorder sees every
   event applied, each resync and each session drop, and its rows go out in the flush's
   transaction; a failed flush gives them back for the next one.
7. A worker started by a pool holds the PBX's fence (:mod:`monitor.locks`): when a write finds
   that another worker took over, this one stops at once, writing nothing more, and runs no
   supervisor action sent to the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from . import mirror
from .ami.capabilities import WRITE_PROBES, judge
from .ami.client import AmiClient, Connected, Disconnected, Item, Overflow
from .ami.config import AmiConfig
from .ami.errors import AmiError
from .ami.packet import Packet
from .ami.privileges import privilege_hint
from .ami.protocol import Action, Garbled, Reply
from .history.recorder import Pending, Recorder
from .history.rows import history_open
from .state import PbxState
from .stats import STATS_INTERVAL, StatsReporter

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.1  # seconds: within the 100-250 ms asked, at the end that keeps latency low
BATCH = 2000  # events applied between two looks at the flush timer
STOP_TIMEOUT = 5.0  # seconds each step of a worker's stop may take
# A PBX that keeps sending garbage must not be asked for its whole state after every packet.
BAD_INPUT_RESYNC_SPACING = 5.0
REPUBLISH_INTERVAL = 1.0  # seconds between two full updates for pages that missed one
# A flush that keeps failing is retried after twice the previous wait, up to this: a database
# that refuses every write must not get fifty rolled-back transactions a second.
FLUSH_BACKOFF_MAX = 2.0

# Features of the dashboard, the action each needs, and what is lost without it.
FEATURES = {
    "endpoint list": ("PJSIPShowEndpoints", "registrations come from device states only"),
    "click-to-call": ("Originate", "supervisors cannot originate calls"),
    "hang up": ("Hangup", "supervisors cannot hang up calls"),
    "pause members": ("QueuePause", "supervisors cannot pause queue members"),
    "call list": ("CoreShowChannels", "calls in progress at connect time are not shown"),
}


@dataclass
class Status:
    """The session's status as the pages show it; written to the Pbx row when it changes."""

    connected: bool = False
    connected_since: float | None = None
    stale_since: float | None = None
    synced_at: float | None = None
    last_error: str = ""
    banner: str = ""
    ami_version: str = ""
    actions: dict[str, bool] = field(default_factory=dict)
    unavailable: list[dict[str, str]] = field(default_factory=list)


class PbxWorker:
    """Mirror one PBX for as long as :meth:`run` runs."""

    def __init__(
        self,
        pbx_id: int,
        config: AmiConfig,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        publish: Callable[[int, dict[str, Any]], Any] | None = None,
        client: AmiClient | None = None,
        clock: Callable[[], float] = time.time,
        stats_interval: float | None = STATS_INTERVAL,
        fence: int | None = None,
        record: bool = True,
    ) -> None:
        self.pbx_id = pbx_id
        self.fence = fence
        self.fenced = False  # another worker took over: nothing more is written
        self.config = config
        self.client = client or AmiClient(config)
        self.state = PbxState()
        # record=False: the mirror alone (bench/mirror.py measures what recording costs).
        self.recorder = Recorder() if record else None
        self._history_restored = False
        self.status = Status(stale_since=clock())
        self.flush_interval = flush_interval
        self._publish = publish
        self._clock = clock
        self._status_dirty = True
        self._full_write = True  # the first flush after a resync replaces what the database held
        self._db_failing = False
        self.flush_error = ""  # why writes fail, for /healthz (through the statistics)
        self._flush_backoff = 0.0
        self._flush_retry_at = 0.0
        self._resync_needed = asyncio.Event()
        self.flushes = 0
        self.events_applied = 0
        self.resyncs = 0
        # For monitor.stats: when the oldest change not yet in the database arrived
        # (time.monotonic()), and the longest such wait of a flush since the last report.
        self.pending_since: float | None = None
        self.flush_lag_max = 0.0
        self.stats = StatsReporter(self, interval=stats_interval) if stats_interval else None
        self._action_tasks: set[asyncio.Task[None]] = set()
        self._bad_logged: set[str] = set()
        self._resync_due: float | None = None
        self._last_bad_resync = -BAD_INPUT_RESYNC_SPACING
        # Set while open pages may show old tiles (a publish failed): when to send them all.
        self._republish_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self.client.run(), name=f"pbx{self.pbx_id}-ami"),
            asyncio.create_task(self._consume(), name=f"pbx{self.pbx_id}-consume"),
            asyncio.create_task(self._flush_loop(), name=f"pbx{self.pbx_id}-flush"),
            asyncio.create_task(self._serve_actions(), name=f"pbx{self.pbx_id}-actions"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a crashed part is a bug: let it surface
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a part waiting in a library call that does not end on cancellation (a
            # channel layer receive was seen to) must not keep the worker from stopping.
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.stop(), STOP_TIMEOUT)
            if not self.fenced:  # else the PBX row is the new worker's, down to its status
                self._mark_down("fcmdash worker stopped")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self.flush()), 5.0)
            if self.stats is not None and not self.fenced:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self.stats.report()), 5.0)

    # -- events --------------------------------------------------------------------------
    async def _consume(self) -> None:
        while True:
            batch = await self._next_batch()
            if batch and self.pending_since is None:
                self.pending_since = time.monotonic()
            for item in batch:
                if isinstance(item, Packet):
                    now = self._clock()
                    usable = self.state.apply(item, now)
                    if self.recorder is not None:
                        self.recorder.on_event(item, now)
                    self.events_applied += 1
                    if not usable:
                        self._bad_input(
                            "malformed",
                            f"the PBX sent a {item.name} event missing a field; skipped it, "
                            "resynchronising",
                        )
                elif isinstance(item, Connected):
                    self._on_connected(item)
                    await self._restore_history()
                    await self.resync(new_session=True)
                elif isinstance(item, Disconnected):
                    self._mark_down(item.reason)
                elif isinstance(item, Overflow):
                    await self.resync(new_session=False)
                elif isinstance(item, Garbled):
                    if item.kind == "junk":
                        self._bad_input(
                            "junk",
                            f"the PBX sent bytes that are not an AMI packet {item.sample}; "
                            "skipped them, resynchronising",
                        )
                    else:  # the parser logged the oversized packet itself (once)
                        self._bad_input(item.kind, "", log_it=False)
            if self._resync_due is not None and time.monotonic() >= self._resync_due:
                self._resync_due = None
                self._last_bad_resync = time.monotonic()
                await self.resync(new_session=False)
            await asyncio.sleep(0)  # let the flush timer and the pages in between batches

    async def _next_batch(self) -> list[Item]:
        """The queued items, waiting for one; [] when a resync for bad input falls due first."""
        events = self.client.events
        if self._resync_due is None:
            first = await events.get()
        else:
            try:
                wait = max(0.0, self._resync_due - time.monotonic())
                first = await asyncio.wait_for(events.get(), wait)
            except TimeoutError:
                return []
        return [first, *events.drain(BATCH)]

    def _bad_input(self, kind: str, what: str, *, log_it: bool = True, resync: bool = True) -> None:
        """The PBX sent something unusable, which may have stood for an event: one log line per
        kind and session, and a resync soon, at most one per ``BAD_INPUT_RESYNC_SPACING``."""
        if log_it and kind not in self._bad_logged:
            self._bad_logged.add(kind)
            log.warning(
                "PBX %s: %s (more of the kind this session are counted, not logged)",
                self.pbx_id,
                what,
            )
        if resync and self._resync_due is None:
            spacing = self._last_bad_resync + BAD_INPUT_RESYNC_SPACING
            self._resync_due = max(time.monotonic(), spacing)

    def _on_connected(self, item: Connected) -> None:
        self._bad_logged.clear()
        self._resync_due = None  # the resync of the new session covers it
        s = self.status
        s.connected = True
        s.connected_since = item.at
        s.banner, s.ami_version = item.banner, item.version
        s.last_error = ""
        self._status_dirty = True

    async def _restore_history(self) -> None:
        """Once, before the first resync: what the last run left open (calls, spans, a gap),
        so that the resync settles those calls and nothing is counted twice. Without the
        database the recorder starts empty; its upserts by key still double no call."""
        if self.recorder is None or self._history_restored:
            return
        try:
            left = await database_sync_to_async(history_open, thread_sensitive=False)(
                pbx_id=self.pbx_id
            )
        except Exception as exc:
            log.warning("PBX %s: could not read the open history rows: %s", self.pbx_id, exc)
            return
        self._history_restored = True
        self.recorder.restore(**left, now=self._clock())

    def _mark_down(self, reason: str) -> None:
        if self.recorder is not None:
            self.recorder.session_down(self._clock(), reason)
        s = self.status
        if s.connected or s.stale_since is None:
            s.stale_since = self._clock()
        s.connected = False
        s.last_error = reason
        self._status_dirty = True

    # -- resync --------------------------------------------------------------------------
    async def resync(self, *, new_session: bool) -> None:
        """Replace the state with the PBX's lists. Keeps going with what the user may read."""
        send = self.client.send
        if new_session:
            self.state.begin_session()
        started = time.monotonic()
        # Pipelined, as the FCM630A and Asterisk handle a session's actions in order anyway.
        names = [
            "PJSIPShowEndpoints",
            "DeviceStateList",
            "ExtensionStateList",
            "QueueStatus",
            "CoreShowChannels",
        ]
        try:
            replies = await asyncio.gather(
                *(send(Action(n), check=False, timeout=30.0) for n in names)
            )
            by_name: dict[str, Reply] = dict(zip(names, replies, strict=True))
            queues = by_name["QueueStatus"]
            if not queues.ok:
                # The FCM630A's own form; its list has no end marker, so a Ping is sent right
                # behind it: the Pong's arrival closes the list (actions run in order).
                q, _ = await asyncio.gather(
                    send(Action("Queues"), check=False, timeout=30.0),
                    send(Action("Ping"), check=False, timeout=30.0),
                )
                by_name["Queues"] = q
            writes = {}
            if new_session:
                probes = await asyncio.gather(
                    *(send(a, check=False, timeout=10.0) for a in WRITE_PROBES.values())
                )
                writes = dict(zip(WRITE_PROBES, probes, strict=True))
        except AmiError as exc:
            log.warning("PBX %s: resync interrupted: %s", self.pbx_id, exc)
            return  # the client reconnects and a Connected marker brings us back here
        unfinished = [n for n, r in by_name.items() if r.truncated and n != "Queues"]
        if unfinished:
            # Closed by the next reply (a session runs its actions in order) or by silence:
            # the items came, only the end marker did not. Nothing to resync for.
            self._bad_input(
                "list",
                f"the PBX's {unfinished[0]} list came without its Complete event; "
                "taken as complete",
                resync=False,
            )
        self._load(by_name)
        if self.recorder is not None:
            self.recorder.on_resync(self.state, self._clock())
        if new_session:
            self._record_capabilities(by_name, writes)
        self.resyncs += 1
        self.status.synced_at = self._clock()
        self.status.stale_since = None
        self._status_dirty = True
        self._full_write = True
        log.info(
            "PBX %s: resync %d done in %.2f s (%d endpoints, %d queues, %d calls)",
            self.pbx_id,
            self.resyncs,
            time.monotonic() - started,
            *self.state.counts(),
        )

    def _load(self, by_name: dict[str, Reply]) -> None:
        st, now = self.state, self._clock()
        eps = by_name["PJSIPShowEndpoints"]
        devs = by_name["DeviceStateList"]
        exts = by_name["ExtensionStateList"]
        if eps.ok:
            st.load_endpoints(eps.items, eps.response.seq, now=now)
        if devs.ok:
            st.load_device_states(devs.items, devs.response.seq, now=now, authoritative=not eps.ok)
        if exts.ok:
            only_hints = not eps.ok and not devs.ok
            st.load_extension_states(
                exts.items, exts.response.seq, now=now, authoritative=only_hints
            )
        queues = by_name["QueueStatus"] if by_name["QueueStatus"].ok else by_name.get("Queues")
        if queues is not None and queues.ok:
            st.load_queues(queues.items, queues.response.seq, now=now)
        channels = by_name["CoreShowChannels"]
        if channels.ok:
            st.load_channels(channels.items, channels.response.seq, now=now)

    def _record_capabilities(self, by_name: dict[str, Reply], writes: dict[str, Reply]) -> None:
        actions = {
            name: judge(name, reply).allowed for name, reply in {**by_name, **writes}.items()
        }
        if "Queues" not in by_name:
            actions.pop("Queues", None)
        unavailable = []
        for feature, (action, loss) in FEATURES.items():
            if actions.get(action) is False:
                unavailable.append(
                    {
                        "feature": feature,
                        "action": action,
                        "loss": loss,
                        "needs": privilege_hint(action),
                    }
                )
        if actions.get("QueueStatus") is False and actions.get("Queues") is False:
            unavailable.append(
                {
                    "feature": "queues",
                    "action": "QueueStatus",
                    "loss": "no queue data",
                    "needs": privilege_hint("QueueStatus"),
                }
            )
        self.status.actions = actions
        self.status.unavailable = unavailable

    # -- supervisor actions ------------------------------------------------------------------
    async def _serve_actions(self) -> None:
        """Run the pages' actions (hang up, originate, pause) on this worker's AMI session.

        They arrive on the channel layer group ``ami.<pbx id>``, which only the active worker
        of a PBX joins; ``monitor.actions.execute`` checks and runs each one.
        """
        layer = get_channel_layer()
        if layer is None or find_spec("monitor.actions") is None:
            return
        from .actions import execute

        group = f"ami.{self.pbx_id}"
        failing = False
        while True:
            try:
                channel = await layer.new_channel("ami-actions.")
                await layer.group_add(group, channel)
                if failing:
                    log.info("PBX %s: channel layer reachable again", self.pbx_id)
                failing = False
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") == "ami.action" and self._ours(message):
                        task = asyncio.create_task(self._serve_action(layer, execute, message))
                        self._action_tasks.add(task)
                        task.add_done_callback(self._action_tasks.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis is away: actions wait, the mirror goes on
                if not failing:
                    log.warning(
                        "PBX %s: channel layer unavailable for actions: %s", self.pbx_id, exc
                    )
                failing = True
                layer = await _fresh_layer(layer)
                await asyncio.sleep(1.0)

    def _ours(self, message: dict[str, Any]) -> bool:
        """Whether the page sent ``message`` to this worker's takeover of the PBX: one taken
        over from, and still in the group, must not run it too (no answer: the new worker's
        counts). A message without a fence comes from code that does not read it (tests)."""
        sent_to = message.get("fence")
        if self.fence is None or sent_to is None or sent_to == self.fence:
            return True
        log.warning(
            "PBX %s: an action for fence %s left to that worker (this one's is %s)",
            self.pbx_id,
            sent_to,
            self.fence,
        )
        return False

    async def _serve_action(self, layer: Any, execute: Any, message: dict[str, Any]) -> None:
        try:
            result = await execute(self.client, message)
        except Exception as exc:
            log.exception("PBX %s: action failed", self.pbx_id)
            result = {
                "type": "ami.reply",
                "id": message.get("id"),
                "ok": False,
                "message": str(exc),
            }
        reply_to = message.get("reply_to")
        if reply_to:
            with contextlib.suppress(Exception):
                await layer.send(reply_to, result)

    # -- flushing -------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        # A flush starts every flush_interval, not flush_interval after the previous one ended:
        # the time a flush takes (writing, rendering, publishing) would otherwise be added to
        # every change's wait for the next one (bench/pipeline.py).
        started = time.monotonic()
        while True:
            await asyncio.sleep(max(0.0, started + self.flush_interval - time.monotonic()))
            started = time.monotonic()
            await self.flush()
            if self.stats is not None:
                await self.stats.maybe_report()

    async def flush(self) -> dict[str, Any] | None:
        """Write what changed since the last flush; publish it. Returns the change set."""
        if self._db_failing and time.monotonic() < self._flush_retry_at:
            return None  # backing off: the changes wait in the state, the next try writes all
        changes = self.state.take_changes()
        pending, self.pending_since = self.pending_since, None
        # Before the first resync the state is empty: a full write would delete every row an
        # earlier run left, while the PBX may still have them (they stay, marked stale).
        full = self._full_write and self.resyncs > 0
        if changes.pbx is not None:
            self._status_dirty = True  # the PBX announced a shutdown, booted, reloaded
        status = self.status if self._status_dirty else None
        history = self.recorder.take(self._clock()) if self.recorder is not None else None
        if history is not None and not history and history.recorded_until is None:
            history = None
        if not full and status is None and not changes and history is None:
            await self._publish_changes(None)  # pages that missed an update catch up
            return None
        # Rows are built here, on the loop, so the thread never reads state that moves.
        batch = mirror.Batch.build(
            pbx_id=self.pbx_id,
            changes=changes,
            state=self.state,
            full=full,
            status=(
                mirror.StatusRow.from_status(status, self.state.pbx.status)
                if status is not None
                else None
            ),
            fence=self.fence,
            history=history,
        )
        self._full_write = self._full_write and not full
        self._status_dirty = False
        try:
            summary = await database_sync_to_async(mirror.flush, thread_sensitive=False)(batch)
        except mirror.Fenced as exc:
            self._fence_lost(exc)
            raise
        except Exception as exc:
            self._log_skipped(batch)
            self._history_failed(history)
            await self._flush_failed(exc, batch.status)
            if pending is not None:  # still not written: the wait goes on from the oldest
                self.pending_since = min(pending, self.pending_since or pending)
            return None
        self._log_skipped(batch)
        if self._db_failing:
            log.info("PBX %s: database writes work again", self.pbx_id)
        self._db_failing = False
        self.flush_error = ""
        self._flush_backoff = 0.0
        self.flushes += 1
        if pending is not None:
            self.flush_lag_max = max(self.flush_lag_max, time.monotonic() - pending)
        await self._publish_changes(summary)
        return summary

    def _history_failed(self, history: Pending | None) -> None:
        """Unlike the mirror's rows, the history's cannot be rebuilt from the state: the
        recorder takes them back, for the next flush to write with what came since."""
        if history is not None and self.recorder is not None:
            self.recorder.give_back(history)

    def _log_skipped(self, batch: mirror.Batch) -> None:
        """One line per row the database cannot hold, per session; the rest was written."""
        for kind, key in batch.skipped:
            self._bad_input(
                f"unwritable {kind} {key!r}",
                f"{kind} row {str(key)[:80]!r} left out: the database cannot hold it",
                resync=False,
            )

    async def _flush_failed(self, exc: Exception, status: mirror.StatusRow | None) -> None:
        """Nothing is lost: the next flush writes the whole state, after a wait that doubles
        while flushes keep failing. The status row is written alone, so that the pages and
        ``/healthz`` still say whether the session is up (the statistics say why writes fail)."""
        if not self._db_failing:
            log.error(
                "PBX %s: database flush failed, retrying with the full state: %s",
                self.pbx_id,
                exc,
            )
        self._db_failing = True
        self._full_write = True
        self._status_dirty = True
        self.flush_error = f"database writes failing: {exc}"
        backoff = max(self.flush_interval, self._flush_backoff * 2)
        self._flush_backoff = min(FLUSH_BACKOFF_MAX, backoff)
        self._flush_retry_at = time.monotonic() + self._flush_backoff
        if status is not None:
            try:
                await database_sync_to_async(mirror.status_only, thread_sensitive=False)(
                    pbx_id=self.pbx_id, status=status, fence=self.fence
                )
            except mirror.Fenced as exc:
                self._fence_lost(exc)
                raise
            except Exception:  # the database may be away altogether
                pass

    def _fence_lost(self, exc: mirror.Fenced) -> None:
        if not self.fenced:
            log.error("%s: this worker stops, writing nothing more", exc)
        self.fenced = True

    async def _publish_changes(self, summary: dict[str, Any] | None) -> None:
        """Send the pages what changed. After a publish that failed (Redis was away, or the
        first command on a connection it had reset), pages that kept their socket open missed
        it for good: until one gets through, every tile is sent instead, at most once per
        ``REPUBLISH_INTERVAL`` (their data is in the database meanwhile)."""
        if self._publish is None:
            return
        if self._republish_at is not None:
            if time.monotonic() < self._republish_at:
                return
            summary = {"pbx": self.pbx_id, "full": True}
        elif not summary:
            return
        try:
            delivered = await self._publish(self.pbx_id, summary)
        except Exception as exc:
            log.warning("PBX %s: publish failed: %s", self.pbx_id, exc)
            delivered = False
        self._republish_at = time.monotonic() + REPUBLISH_INTERVAL if delivered is False else None


async def _fresh_layer(layer: Any) -> Any:
    """A new instance of a Redis channel layer whose connection broke, for the action loop.

    channels_redis keeps the state of a receive across calls (who pops for the process, a
    backup of the message being popped); a connection reset in the middle of one can leave it
    losing, holding up or delivering twice the next messages: an action run twice, or none.
    A layer that lives in this process alone (in-memory) must stay the one the pages use.
    """
    if not hasattr(layer, "close_pools"):
        return layer
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    if layer is not get_channel_layer():
        with contextlib.suppress(Exception):
            await layer.close_pools()
    return channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
