"""The database side of a flush: plain sync ORM code, one transaction per flush.

``Batch.build`` runs on the worker's event loop and copies everything into plain rows, so the
database thread never reads live state that the loop keeps changing. ``flush`` runs in a thread
and returns the summary the pages need (which rows, by primary key, changed or went away;
for calls also which conversations, by linkedid, changed or ended: ``conversations`` and
``conversations_removed``; ``history``: whether the recorder's rows of the day changed, written
in the same transaction by :mod:`monitor.history.rows`).

Every transaction of a worker that holds a fence (``Batch.fence``, from the pool's claim of the
PBX; see :mod:`monitor.locks`) starts by checking it against the PBX row's, under that row's
write lock: once another worker has taken the PBX over, nothing of this one is written again.

A *full* batch (after a resync, or after the database was away) writes every row of the PBX and
deletes every row the state no longer has: that is how ghosts disappear, including rows left by
a worker that died.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Model

from .history.recorder import Pending
from .history.rows import history_write
from .models import CONVERSATION_KEY, Call, Endpoint, Pbx, Queue, QueueCaller, QueueMember

CHUNK = 500  # rows per INSERT; SQLite allows 32,766 parameters per statement
# Keys are TextFields, but each is in a btree index, whose entries PostgreSQL caps at about
# 2,700 bytes: a longer key would fail the whole flush, so its row is left out instead.
MAX_KEY_BYTES = 2000
MAX_SECONDS = 2**31 - 1  # a PositiveIntegerField's bound in PostgreSQL: a HoldTime the PBX garbled

ENDPOINT_FIELDS = [
    "technology",
    "name",
    "state",
    "registered",
    "contacts",
    "channels",
    "updated_at",
]
QUEUE_FIELDS = [
    "display_name",
    "strategy",
    "max_callers",
    "calls_waiting",
    "completed",
    "abandoned",
    "service_level",
    "service_level_perf",
    "holdtime",
    "talktime",
    "weight",
    "chairman",
    "updated_at",
]
MEMBER_FIELDS = [
    "pbx",
    "state_interface",
    "name",
    "membership",
    "penalty",
    "calls_taken",
    "last_call",
    "last_pause",
    "login_time",
    "in_call",
    "status",
    "paused",
    "paused_reason",
    "ringinuse",
    "wrapuptime",
    "updated_at",
]
CALLER_FIELDS = ["pbx", "channel", "position", "caller_id_num", "caller_id_name", "joined_at"]
CALL_FIELDS = [
    "linkedid",
    "channel",
    "state",
    "caller_id_num",
    "caller_id_name",
    "connected_num",
    "connected_name",
    "context",
    "exten",
    "started_at",
    "bridge_id",
    "peer_uniqueid",
    "peer_channel",
    "on_hold",
    "endpoint_resource",
    "queue",
    "answered_at",
    "waited",
]


def count(value: int) -> int:
    """A counter or a number of seconds as a PositiveIntegerField holds it (a garbled value
    must not make the database refuse the row)."""
    return min(max(value, 0), MAX_SECONDS)


def signed(value: int) -> int:
    """The same for an IntegerField."""
    return min(max(value, -MAX_SECONDS - 1), MAX_SECONDS)


def when(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, tz=dt.UTC)


@dataclass
class StatusRow:
    """The Pbx row's live-status columns."""

    connected: bool
    connected_since: dt.datetime | None
    stale_since: dt.datetime | None
    synced_at: dt.datetime | None
    last_error: str
    banner: str
    ami_version: str
    actions: dict[str, bool]
    unavailable: list[dict[str, str]]
    pbx_status: str = ""

    @classmethod
    def from_status(cls, s: Any, pbx_status: str = "") -> StatusRow:
        return cls(
            connected=s.connected,
            connected_since=when(s.connected_since),
            stale_since=when(s.stale_since),
            synced_at=when(s.synced_at),
            # What the PBX sent: no NUL, which PostgreSQL's text cannot hold.
            last_error=s.last_error[:2000].replace("\x00", ""),
            banner=s.banner[:100].replace("\x00", ""),
            ami_version=s.ami_version[:20].replace("\x00", ""),
            actions=dict(s.actions),
            unavailable=list(s.unavailable),
            pbx_status=pbx_status,
        )


@dataclass
class Batch:
    """Everything one flush writes, as plain values."""

    pbx_id: int
    full: bool = False
    status: StatusRow | None = None
    fence: int | None = None  # None: a worker outside a pool (tests, benchmarks), never fenced
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    callers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    # (kind, key) of the rows left out because no index can hold them.
    skipped: list[tuple[str, Any]] = field(default_factory=list)
    # The recorder's rows (monitor.history), written in the same transaction; None: none.
    history: Pending | None = None

    def __bool__(self) -> bool:
        return bool(
            self.full
            or self.history
            or self.status
            or self.endpoints
            or self.queues
            or self.members
            or self.callers
            or self.calls
            or any(self.removed.values())
        )

    @classmethod
    def build(
        cls,
        *,
        pbx_id: int,
        changes: Any,
        state: Any,
        full: bool = False,
        status: StatusRow | None = None,
        fence: int | None = None,
        history: Pending | None = None,
    ) -> Batch:
        """``changes``: a ``state.Changes``; ``state``: the live PbxState, all of which a
        ``full`` write copies, and where the peer of a call whose peer did not change is found
        (a hold touches one side only: without it that row would lose its peer's channel)."""
        b = cls(pbx_id=pbx_id, full=full, status=status, fence=fence, history=history)
        if history is not None:
            b._writable_history(history)
        if full:
            sources = {
                "endpoints": state.endpoints.table.rows,
                "queues": state.queues.queues.rows,
                "members": state.queues.members.rows,
                "callers": state.queues.callers.rows,
                "calls": state.calls.table.rows,
            }
        else:
            sources = {
                "endpoints": changes.endpoints.upserted,
                "queues": changes.queues.upserted,
                "members": changes.members.upserted,
                "callers": changes.callers.upserted,
                "calls": changes.calls.upserted,
            }
            for kind in sources:
                b.removed[kind] |= set(getattr(changes, kind).removed)
        b.endpoints = b._writable("endpoints", sources, endpoint_row)
        b.queues = b._writable("queues", sources, queue_row)
        b.members = b._writable("members", sources, member_row)
        b.callers = b._writable("callers", sources, caller_row)
        rows = state.calls.table.rows
        b.calls = b._writable("calls", sources, lambda c: call_row(c, rows))
        return b

    def _writable(
        self, kind: str, sources: dict[str, dict[Any, Any]], to_row: Any
    ) -> dict[Any, dict[str, Any]]:
        """The rows of ``kind``, but for those an index could not hold (noted in ``skipped``):
        one such row must not keep every other row of the PBX out of the database."""
        out = {}
        for key, entity in sources[kind].items():
            row = to_row(entity)
            if indexable(key, row):
                out[key] = row
            else:
                self.skipped.append((kind, key))
        return out

    def _writable_history(self, history: Pending) -> None:
        """Leave out the history rows whose keys no index can hold (as ``_writable``). They
        are noted under the mirror row with the same text (a queue, a member, a call), so
        that the line logged for that row covers them too, not one line per span."""
        for kind in ("calls", "spans", "misses"):
            rows = getattr(history, kind)
            for key in [k for k in rows if not indexable(k, {})]:
                del rows[key]
                self.skipped.append(history_skipped(kind, key))


def history_skipped(kind: str, key: tuple[Any, ...]) -> tuple[str, Any]:
    """The mirror's (kind, key) for a history row left out: its queue, member or call."""
    queue, second = key[0], key[1]
    if kind == "calls":
        return ("queues", queue) if not indexable(queue, {}) else ("calls", second)
    if kind == "misses" and indexable((queue, second), {}):
        return ("calls", key[2])
    return ("members", (queue, second))


def indexable(key: Any, row: dict[str, Any]) -> bool:
    """Whether the key and every text in ``row`` fit in an index entry (only keys and the
    values indexed with them can be that long: display values are cut when built)."""
    parts = (key if isinstance(key, tuple) else (key,)) + tuple(row.values())
    # Runs on the worker's event loop for every row of a batch: a text of at most a quarter of
    # the limit in characters fits whatever they are (4 bytes each at most), unencoded.
    limit = MAX_KEY_BYTES // 4
    return all(
        len(p) <= limit or len(p.encode()) <= MAX_KEY_BYTES for p in parts if isinstance(p, str)
    )


# -- state entity -> row values --------------------------------------------------------------
def endpoint_row(e: Any) -> dict[str, Any]:
    return {
        "technology": e.technology,
        "name": e.name[:128],
        "state": e.state,
        "registered": e.registered,
        "contacts": [{"uri": c.uri, "status": c.status} for c in e.contacts],
        "channels": e.active_channels,
        "updated_at": when(e.updated_at) or dt.datetime.now(dt.UTC),
    }


def queue_row(q: Any) -> dict[str, Any]:
    return {
        "display_name": q.display_name[:128],
        "strategy": q.strategy[:32],
        "max_callers": count(q.max),
        "calls_waiting": count(q.calls),
        "completed": count(q.completed),
        "abandoned": count(q.abandoned),
        "service_level": q.service_level,
        "service_level_perf": q.service_level_perf,
        "holdtime": count(q.holdtime),
        "talktime": count(q.talktime),
        "weight": signed(q.weight),
        "chairman": q.chairman[:80],
        "updated_at": when(q.updated_at) or dt.datetime.now(dt.UTC),
    }


def member_row(m: Any) -> dict[str, Any]:
    return {
        "state_interface": m.state_interface[:128],
        "name": m.name[:128],
        "membership": m.membership[:16],
        "penalty": signed(m.penalty),
        "calls_taken": count(m.calls_taken),
        "last_call": when(m.last_call) if m.last_call else None,
        "last_pause": when(m.last_pause) if m.last_pause else None,
        "login_time": when(m.login_time) if m.login_time else None,
        "in_call": m.in_call,
        "status": m.status,
        "paused": m.paused,
        "paused_reason": m.paused_reason[:128],
        "ringinuse": m.ringinuse,
        "wrapuptime": count(m.wrapuptime),
        "updated_at": when(m.updated_at) or dt.datetime.now(dt.UTC),
    }


def caller_row(c: Any) -> dict[str, Any]:
    return {
        "channel": c.channel,
        "position": count(c.position),
        "caller_id_num": c.caller_id_num[:80],
        "caller_id_name": c.caller_id_name[:128],
        "joined_at": when(c.joined_at) or dt.datetime.now(dt.UTC),
    }


def call_row(c: Any, calls: dict[str, Any]) -> dict[str, Any]:
    """``calls``: every live call, by uniqueid (the peer's channel is named from there)."""
    peer = calls.get(c.peer) if c.peer else None
    peer_channel = peer.channel if peer is not None else ""
    return {
        "linkedid": c.linkedid,
        "channel": c.channel,
        "state": c.state[:32],
        "caller_id_num": c.caller_id_num[:80],
        "caller_id_name": c.caller_id_name[:128],
        "connected_num": c.connected_num[:80],
        "connected_name": c.connected_name[:128],
        "context": c.context[:80],
        "exten": c.exten[:80],
        "started_at": when(c.started_at) or dt.datetime.now(dt.UTC),
        "bridge_id": c.bridge_id or "",
        "peer_uniqueid": c.peer or "",
        "peer_channel": peer_channel,
        "on_hold": c.on_hold,
        "endpoint_resource": c.endpoint or "",
        "queue": c.queue,
        "answered_at": when(c.answered_at),
        "waited": None if c.waited is None else count(c.waited),
    }


# -- the fence --------------------------------------------------------------------------------
class Fenced(Exception):
    """Another worker has taken this PBX over: this one must write nothing more, and stop."""


def check_fence(pbx_id: int, fence: int | None) -> None:
    """Raise :class:`Fenced` unless ``fence`` is still the PBX row's; call it first in a
    transaction. It is an UPDATE (of nothing) rather than a read, so that it takes the row's
    write lock: a takeover's raise of the fence waits for this transaction to end, and no
    write of this one can come after it (a SELECT ... FOR UPDATE would do on PostgreSQL only;
    SQLite has no row locks, and its write lock comes with the first write)."""
    if fence is None:
        return
    if not Pbx.objects.filter(pk=pbx_id, fence=fence).update(fence=F("fence")):
        raise Fenced(f"PBX {pbx_id}: another worker has taken over (this worker's fence {fence})")


def claim(pbx_id: int, fields: dict[str, Any]) -> int | None:
    """Take the PBX over: raise its fence, write ``fields``; the new fence (None: no such
    PBX). Called by a worker pool right after it got the PBX's lock, before anything else."""
    with transaction.atomic():
        if not Pbx.objects.filter(pk=pbx_id).update(fence=F("fence") + 1, **fields):
            return None
        return Pbx.objects.filter(pk=pbx_id).values_list("fence", flat=True).get()


# -- the flush --------------------------------------------------------------------------------
def flush(batch: Batch) -> dict[str, Any]:
    """Write ``batch`` in one transaction; return the summary for the pages.

    A row the database refuses (a value out of its column's range) must not keep the others
    out: then each row is tried alone, those refused are left out (noted in
    ``batch.skipped``) and the rest is written. Other errors (the database away) raise.
    The history's rows (``batch.history``) go in the same transaction, after the fence
    check: a taken-over worker records nothing either."""
    try:
        with transaction.atomic():
            check_fence(batch.pbx_id, batch.fence)
            summary = _Writer(batch).write()
            summary["history"] = history_write(pbx_id=batch.pbx_id, pending=batch.history)
            return summary
    except (DataError, IntegrityError):
        pass
    with transaction.atomic():
        check_fence(batch.pbx_id, batch.fence)
        _drop_refused(batch)
        summary = _Writer(batch).write()
        summary["history"] = history_write(pbx_id=batch.pbx_id, pending=batch.history, each=True)
        if batch.history is not None:
            batch.skipped += [history_skipped(k, key) for k, key in batch.history.skipped]
        return summary


# kind -> (model, the key's field, the unique fields, the fields an upsert updates)
PLAIN_KINDS = {
    "queues": (Queue, "name", ["pbx", "name"], QUEUE_FIELDS),
    "endpoints": (Endpoint, "resource", ["pbx", "resource"], ENDPOINT_FIELDS),
    "calls": (Call, "uniqueid", ["pbx", "uniqueid"], CALL_FIELDS),
}
QUEUED_KINDS = {
    "members": (QueueMember, "interface", ["queue", "interface"], MEMBER_FIELDS),
    "callers": (QueueCaller, "uniqueid", ["queue", "uniqueid"], CALLER_FIELDS),
}


def _drop_refused(batch: Batch) -> None:
    """Write the status and upsert each row of ``batch`` in a savepoint of its own, and drop
    those refused. The queues go first: members and callers need their ids."""
    pid = batch.pbx_id
    if batch.status is not None:
        try:
            with transaction.atomic():
                pbx_status_update(pbx_id=pid, status=batch.status)
        except (DataError, IntegrityError):
            batch.status = None
            batch.skipped.append(("status", pid))

    def plain(key: str, key_field: str) -> dict[str, Any]:
        return {"pbx_id": pid, key_field: key}

    for kind, spec in PLAIN_KINDS.items():
        _try_each(batch, kind, spec, plain)
    queue_ids = dict(Queue.objects.filter(pbx_id=pid).values_list("name", "pk"))

    def queued(key: tuple[str, str], key_field: str) -> dict[str, Any] | None:
        if key[0] not in queue_ids:
            return None  # its queue is not written: the writer leaves it out too
        return {"pbx_id": pid, "queue_id": queue_ids[key[0]], key_field: key[1]}

    for kind, spec in QUEUED_KINDS.items():
        _try_each(batch, kind, spec, queued)


def _try_each(batch: Batch, kind: str, spec: tuple[Any, ...], ids: Any) -> None:
    """``ids(key, key field)``: the fields that place a row of ``kind`` (None: leave it be)."""
    model, key_field, unique, fields = spec
    rows: dict[Any, dict[str, Any]] = getattr(batch, kind)
    for key, values in list(rows.items()):
        where = ids(key, key_field)
        if where is None:
            continue
        try:
            with transaction.atomic():
                _upsert(model, [model(**where, **values)], unique, fields)
        except (DataError, IntegrityError):
            del rows[key]
            batch.skipped.append((kind, key))


def pbx_status_update(*, pbx_id: int, status: StatusRow) -> None:
    """Write the live-status columns (within a flush, whose fence is checked already)."""
    Pbx.objects.filter(pk=pbx_id).update(**asdict(status))


def status_only(*, pbx_id: int, status: StatusRow, fence: int | None) -> None:
    """Write the live-status columns alone: while the mirror's writes fail, the PBX row must
    still say the session is up (or down) and why."""
    with transaction.atomic():
        check_fence(pbx_id, fence)
        pbx_status_update(pbx_id=pbx_id, status=status)


class _Writer:
    def __init__(self, batch: Batch) -> None:
        self.b = batch
        self.pbx_id = batch.pbx_id
        self.summary: dict[str, Any] = {"pbx": batch.pbx_id, "full": batch.full, "status": False}
        for kind in ("endpoints", "queues", "members", "callers", "calls", "conversations"):
            self.summary[kind] = set()
            self.summary[f"{kind}_removed"] = set()
        self.touched_endpoints: set[str] = set()
        self.touched_queues: set[str] = set()

    def write(self) -> dict[str, Any]:
        b = self.b
        if b.status is not None:
            pbx_status_update(pbx_id=self.pbx_id, status=b.status)
            self.summary["status"] = True
        self._queues()
        queue_ids = dict(Queue.objects.filter(pbx_id=self.pbx_id).values_list("name", "pk"))
        self._members(queue_ids)
        self._callers(queue_ids)
        self._calls()
        self._endpoints()
        if self.touched_queues:
            self.summary["queues"] |= {
                queue_ids[q] for q in self.touched_queues if q in queue_ids
            } - self.summary["queues_removed"]
        return {k: sorted(v) if isinstance(v, set) else v for k, v in self.summary.items()}

    # each kind ---------------------------------------------------------------------------
    def _endpoints(self) -> None:
        b, pid = self.b, self.pbx_id
        rows = [Endpoint(pbx_id=pid, resource=k, **v) for k, v in b.endpoints.items()]
        _upsert(Endpoint, rows, ["pbx", "resource"], ENDPOINT_FIELDS)
        gone = Endpoint.objects.filter(pbx_id=pid)
        gone = (
            gone.exclude(resource__in=list(b.endpoints))
            if b.full
            else gone.filter(resource__in=list(b.removed["endpoints"]))
        )
        self._delete("endpoints", gone)
        names = set(b.endpoints) | self.touched_endpoints
        if b.full:
            names = set(b.endpoints)
        pks = _pks(Endpoint.objects.filter(pbx_id=pid), "resource", names)
        self.summary["endpoints"] |= set(pks.values())

    def _queues(self) -> None:
        b, pid = self.b, self.pbx_id
        rows = [Queue(pbx_id=pid, name=k, **v) for k, v in b.queues.items()]
        _upsert(Queue, rows, ["pbx", "name"], QUEUE_FIELDS)
        gone = Queue.objects.filter(pbx_id=pid)
        gone = (
            gone.exclude(name__in=list(b.queues))
            if b.full
            else gone.filter(name__in=list(b.removed["queues"]))
        )
        self._delete("queues", gone)  # members and callers go with them (CASCADE)
        self.touched_queues |= set(b.queues)

    def _members(self, queue_ids: dict[str, int]) -> None:
        b, pid = self.b, self.pbx_id
        rows = [
            QueueMember(pbx_id=pid, queue_id=queue_ids[q], interface=i, **v)
            for (q, i), v in b.members.items()
            if q in queue_ids
        ]
        _upsert(QueueMember, rows, ["queue", "interface"], MEMBER_FIELDS)
        self._sync_keyed("members", QueueMember, "interface", b.members, queue_ids)
        self.touched_queues |= {q for q, _ in b.members} | {q for q, _ in b.removed["members"]}

    def _callers(self, queue_ids: dict[str, int]) -> None:
        b, pid = self.b, self.pbx_id
        rows = [
            QueueCaller(pbx_id=pid, queue_id=queue_ids[q], uniqueid=u, **v)
            for (q, u), v in b.callers.items()
            if q in queue_ids
        ]
        _upsert(QueueCaller, rows, ["queue", "uniqueid"], CALLER_FIELDS)
        self._sync_keyed("callers", QueueCaller, "uniqueid", b.callers, queue_ids)
        self.touched_queues |= {q for q, _ in b.callers} | {q for q, _ in b.removed["callers"]}

    def _calls(self) -> None:
        b, pid = self.b, self.pbx_id
        rows = [Call(pbx_id=pid, uniqueid=k, **v) for k, v in b.calls.items()]
        gone = Call.objects.filter(pbx_id=pid)
        gone = (
            gone.exclude(uniqueid__in=list(b.calls))
            if b.full
            else gone.filter(uniqueid__in=list(b.removed["calls"]))
        )
        # The endpoints whose tiles show these calls and the conversations they are part of,
        # before and after the change.
        before = Call.objects.filter(pbx_id=pid, uniqueid__in=list(b.calls))
        keys = set()
        for old in (before, gone):
            for resource, key in old.values_list("endpoint_resource", CONVERSATION_KEY):
                self.touched_endpoints.add(resource)
                keys.add(key)
        self.touched_endpoints |= {v["endpoint_resource"] for v in b.calls.values()}
        self.touched_endpoints.discard("")
        keys |= {v["linkedid"] or k for k, v in b.calls.items()}
        self._delete("calls", gone)
        _upsert(Call, rows, ["pbx", "uniqueid"], CALL_FIELDS)
        self.summary["calls"] |= set(
            _pks(Call.objects.filter(pbx_id=pid), "uniqueid", b.calls).values()
        )
        self._conversations(keys)

    def _conversations(self, keys: set[str]) -> None:
        """Split the conversations a flush touched into those still up and those ended."""
        present = Call.objects.filter(pbx_id=self.pbx_id)
        if not self.b.full:
            present = present.conversations(keys)
        alive = set(present.values_list(CONVERSATION_KEY, flat=True))
        self.summary["conversations"] |= alive
        self.summary["conversations_removed"] |= keys - alive

    # helpers -----------------------------------------------------------------------------
    def _delete(self, kind: str, qs: Any) -> None:
        pks = list(qs.values_list("pk", flat=True))
        if pks:
            qs.model.objects.filter(pk__in=pks).delete()
            self.summary[f"{kind}_removed"] |= set(pks)

    def _sync_keyed(
        self,
        kind: str,
        model: type[Model],
        field_name: str,
        present: dict[tuple[str, str], Any],
        queue_ids: dict[str, int],
    ) -> None:
        """After the upsert of ``present``: delete the rows the state no longer has (a full
        write) or removed (otherwise), and note the pks of both, from one read of the rows."""
        keep = {(queue_ids[q], k) for q, k in present if q in queue_ids}
        if self.b.full:
            # Every row of the PBX's queues in one query (a query per queue made a resync of
            # 200 queues 800 queries); those the state no longer has go.
            rows = model.objects.filter(queue_id__in=list(queue_ids.values()))
            values = rows.values_list("queue_id", field_name, "pk")
            found = {(qid, key): pk for qid, key, pk in values}
            gone = {pk for qk, pk in found.items() if qk not in keep}
        else:
            removed = {(queue_ids[q], k) for q, k in self.b.removed[kind] if q in queue_ids}
            found = self._keyed_pks(model, field_name, keep | removed)
            gone = {pk for qk, pk in found.items() if qk in removed}
        if gone:
            model.objects.filter(pk__in=sorted(gone)).delete()
            self.summary[f"{kind}_removed"] |= gone
        self.summary[kind] |= {pk for qk, pk in found.items() if qk in keep} - gone

    @staticmethod
    def _keyed_pks(
        model: type[Model], field_name: str, wanted: set[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        """``{(queue id, key): pk}`` of the rows keyed (queue id, ``field_name``) in ``wanted``."""
        if not wanted:
            return {}
        # One query for all queues, not one per queue (half of a busy flush's queries were
        # these); it may return the same key in another queue too, which is dropped here.
        rows = model.objects.filter(queue_id__in={q for q, _ in wanted})
        out: dict[tuple[int, str], int] = {}
        keys_only = sorted({k for _, k in wanted})
        for i in range(0, len(keys_only), CHUNK * 4):
            part = rows.filter(**{f"{field_name}__in": keys_only[i : i + CHUNK * 4]})
            for qid, key, pk in part.values_list("queue_id", field_name, "pk"):
                if (qid, key) in wanted:
                    out[(qid, key)] = pk
        return out


def _upsert(model: type[Model], rows: list[Model], unique: list[str], fields: list[str]) -> None:
    for i in range(0, len(rows), CHUNK):
        model.objects.bulk_create(
            rows[i : i + CHUNK], update_conflicts=True, unique_fields=unique, update_fields=fields
        )


def _pks(qs: Any, key: str, keys: Iterable[str]) -> dict[str, int]:
    keys = list(keys)
    out: dict[str, int] = {}
    for i in range(0, len(keys), CHUNK * 4):
        part = keys[i : i + CHUNK * 4]
        out.update(qs.filter(**{f"{key}__in": part}).values_list(key, "pk"))
    return out
