"""Queues, their members and their waiting callers.

Two list forms load the same tables: stock ``QueueStatus`` (``QueueParams``, ``QueueMember``
with ``Name``/``Location``, ``QueueEntry``) and the FCM630A ``Queues`` action (``QueueStatus``
per queue with ``CallCount``/``CallsComplete``/``ServiceLevel: SL:0.0% within 0s``, and
``QueueMemberStatus`` per member with ``Location``). The FCM630A form lists no callers, so it
keeps the callers it cannot see unless the queue reports none waiting.

Counters moved by events (completed, abandoned, calls taken, the hold/talk averages, which
Asterisk keeps as ``(3 * old + new) / 4``) are estimates until the next list corrects them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..ami.packet import Packet
from .endpoints import Endpoints
from .entities import Queue, QueueCaller, QueueMember
from .states import (
    caller_text,
    device_resource,
    epoch,
    member_status,
    service_level,
    to_bool,
    to_float,
    to_int,
)
from .table import Table

MemberKey = tuple[str, str]
CallerKey = tuple[str, str]

_MEMBER_FIELDS: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    ("stateinterface", "state_interface", str),
    ("membership", "membership", str),
    ("penalty", "penalty", to_int),
    ("callstaken", "calls_taken", to_int),
    ("lastcall", "last_call", epoch),
    ("lastpause", "last_pause", epoch),
    ("logintime", "login_time", epoch),
    ("incall", "in_call", to_bool),
    ("status", "status", member_status),
    ("paused", "paused", to_bool),
    ("ringinuse", "ringinuse", to_bool),
    ("wrapuptime", "wrapuptime", to_int),
)

# Stock QueueParams and the FCM630A QueueStatus, each AMI key to (attribute, parser).
_QUEUE_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "strategy": ("strategy", str),
    "max": ("max", to_int),
    "calls": ("calls", to_int),
    "callcount": ("calls", to_int),
    "completed": ("completed", to_int),
    "callscomplete": ("completed", to_int),
    "abandoned": ("abandoned", to_int),
    "callsabandoned": ("abandoned", to_int),
    "holdtime": ("holdtime", to_int),
    "avgwaittime": ("holdtime", to_int),
    "talktime": ("talktime", to_int),
    "avgtalktime": ("talktime", to_int),
    "servicelevelperf": ("service_level_perf", lambda v: to_float(v, None)),
    "weight": ("weight", to_int),
    "chairman": ("chairman", str),
    "queuename": ("display_name", str),
}


def member_values(f: dict[str, str]) -> dict[str, object]:
    """The member fields an event or list item carries (absent keys stay as they were)."""
    values: dict[str, object] = {}
    name = f.get("membername", f.get("name"))
    if name is not None:
        values["name"] = name
    reason = f.get("pausedreason", f.get("reason"))  # ``Reason`` on older QueueMemberPause
    if reason is not None:
        values["paused_reason"] = reason
    for key, attr, parse in _MEMBER_FIELDS:
        raw = f.get(key)
        if raw is not None:
            values[attr] = parse(raw)
    return values


def queue_values(f: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for key, raw in f.items():
        spec = _QUEUE_FIELDS.get(key)
        if spec is not None:
            values[spec[0]] = spec[1](raw)
    sl = f.get("servicelevel")
    if sl is not None:
        if sl.strip().upper().startswith("SL:"):
            seconds, perf = service_level(sl)
            values["service_level"] = seconds
            values["service_level_perf"] = perf
        else:
            values["service_level"] = to_int(sl, None)
    return values


def assign(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


def interface_of(f: dict[str, str]) -> str:
    """Stock events say ``Interface``; QueueStatus items and the FCM630A say ``Location``."""
    interface = f.get("interface") or f.get("location")
    if not interface:
        raise KeyError("interface")
    return interface


class Queues:
    """Queue, member and caller tables. Handlers take (fields, seq, time)."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.queues: Table[str, Queue] = Table()
        self.members: Table[MemberKey, QueueMember] = Table(grouped=True)
        self.callers: Table[CallerKey, QueueCaller] = Table(grouped=True)
        self.seq_all = 0
        self.seq_queue: dict[str, int] = {}  # QueueStatus filtered to one queue
        self._endpoints = endpoints

    def floor(self, queue: str | None) -> int:
        """Seq of the newest list that covered ``queue``: older events about it are stale."""
        if queue is None:
            return self.seq_all
        return max(self.seq_all, self.seq_queue.get(queue, 0))

    def begin_session(self) -> None:
        self.seq_all = 0
        self.seq_queue.clear()
        for table in (self.queues, self.members, self.callers):
            for entity in table.rows.values():
                entity.seq = 0  # type: ignore[attr-defined]
            table.forget_history()

    # -- lists -----------------------------------------------------------------------------
    def load(
        self, items: Iterable[Packet], seq: int, now: float | None, only: str | None = None
    ) -> None:
        seen_q: set[str] = set()
        seen_m: set[MemberKey] = set()
        seen_c: set[CallerKey] = set()
        fcm = False
        for item in items:
            f = item.fields
            kind = f.get("event", "").lower()
            name = f.get("queue")
            if not name or (only is not None and name != only):
                continue
            if kind in ("queueparams", "queuestatus"):
                fcm |= kind == "queuestatus"
                seen_q.add(name)
                self._load_queue(name, f, seq, now)
            elif kind in ("queuemember", "queuememberstatus"):
                interface = f.get("location") or f.get("interface")
                if interface:
                    seen_q.add(name)
                    seen_m.add((name, interface))
                    self._load_member(name, interface, f, seq, now)
            elif kind == "queueentry":
                uid = f.get("uniqueid") or f.get("channel")
                if uid:
                    seen_c.add((name, uid))
                    self._load_caller(name, uid, f, seq, now)
        scope = [q for q in self.queues.rows if only is None or q == only]
        for name in scope:
            queue = self.queues.rows[name]
            if name not in seen_q and queue.seq <= seq:
                self._drop_queue(name, seq)
                continue
            self._drop_unseen(self.members, name, seen_m, seq)
            if not fcm or queue.calls == 0:
                self._drop_unseen(self.callers, name, seen_c, seq)
        if only is None:
            self.seq_all = seq
            self.seq_queue.clear()
        else:
            self.seq_queue[only] = seq

    def _load_queue(self, name: str, f: dict[str, str], seq: int, now: float | None) -> None:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues.add(name, Queue(name, updated_at=now))
        elif queue.seq > seq:
            return
        if assign(queue, queue_values(f)):
            self._touch_queue(queue, now)

    def _load_member(
        self, name: str, interface: str, f: dict[str, str], seq: int, now: float | None
    ) -> None:
        key = (name, interface)
        member = self.members.get(key)
        if member is None:
            if self.members.removed_after(key, seq):
                return
            member = self.members.add(key, QueueMember(name, interface, updated_at=now))
        elif member.seq > seq:
            return
        values = member_values(f)
        if assign(member, values):
            self._touch_member(member, now)
        self._learn_name(member, now)

    def _load_caller(
        self, name: str, uid: str, f: dict[str, str], seq: int, now: float | None
    ) -> None:
        key = (name, uid)
        caller = self.callers.get(key)
        if caller is None:
            if self.callers.removed_after(key, seq):
                return
            wait = to_int(f.get("wait"), None)
            joined = now - wait if now is not None and wait is not None else None
            caller = self.callers.add(key, QueueCaller(name, uid, joined_at=joined, updated_at=now))
        elif caller.seq > seq:
            return
        values = {
            "position": to_int(f.get("position")),
            "channel": f.get("channel", ""),
            "caller_id_num": caller_text(f.get("calleridnum")),
            "caller_id_name": caller_text(f.get("calleridname")),
        }
        if assign(caller, values):
            self._touch(self.callers, key, caller, now)

    def _drop_unseen(self, table: Table, name: str, seen: set, seq: int) -> None:
        for key, entity in list(table.group(name).items()):
            if key not in seen and entity.seq <= seq:
                table.remove(key, seq)

    def _drop_queue(self, name: str, seq: int) -> None:
        for table in (self.members, self.callers):
            for key in list(table.group(name)):
                table.remove(key, seq)
        self.queues.remove(name, seq)

    # -- events ----------------------------------------------------------------------------
    def on_params(self, f: dict[str, str], seq: int, t: float) -> None:
        """QueueParams (stock) or QueueStatus (FCM630A) for one queue."""
        queue = self._queue(f["queue"], seq, t)
        queue.seq = seq
        if assign(queue, queue_values(f)):
            self._touch_queue(queue, t)

    def on_member(self, f: dict[str, str], seq: int, t: float) -> None:
        """QueueMemberStatus / Added / Pause / Penalty / Ringinuse: the full member block."""
        name, interface = f["queue"], interface_of(f)
        self._queue(name, seq, t)
        key = (name, interface)
        member = self.members.get(key)
        if member is None:
            member = self.members.add(key, QueueMember(name, interface, updated_at=t))
        member.seq = seq
        if assign(member, member_values(f)):
            self._touch_member(member, t)
        self._learn_name(member, t)

    def on_member_removed(self, f: dict[str, str], seq: int, t: float) -> None:
        key = (f["queue"], interface_of(f))
        if self.members.remove(key, seq) is None:
            self.members.bury(key, seq)

    def on_caller_join(self, f: dict[str, str], seq: int, t: float) -> None:
        name, uid = f["queue"], f["uniqueid"]
        position = to_int(f.get("position"))
        queue = self._queue(name, seq, t)
        key = (name, uid)
        if key not in self.callers:
            # Asterisk inserts by priority: whoever stood at that position or behind moves back.
            self._shift(name, position, +1, t)
            self.callers.add(key, QueueCaller(name, uid, joined_at=t))
        caller = self.callers.rows[key]
        caller.seq = seq
        values = {
            "position": position,
            "channel": f.get("channel", ""),
            "caller_id_num": caller_text(f.get("calleridnum")),
            "caller_id_name": caller_text(f.get("calleridname")),
        }
        if assign(caller, values):
            self._touch(self.callers, key, caller, t)
        self._set_calls(queue, to_int(f.get("count"), None), t)

    def on_caller_leave(self, f: dict[str, str], seq: int, t: float) -> None:
        name, uid = f["queue"], f["uniqueid"]
        queue = self.queues.get(name)
        left = self._leave(name, uid, seq, t)
        if queue is not None:
            count = to_int(f.get("count"), None)
            self._set_calls(queue, count if count is not None else queue.calls - left, t)

    def on_caller_abandon(self, f: dict[str, str], seq: int, t: float) -> None:
        name, uid = f["queue"], f["uniqueid"]
        queue = self.queues.get(name)
        left = self._leave(name, uid, seq, t)  # QueueCallerLeave follows; it finds nobody
        if queue is not None:
            queue.abandoned += 1
            queue.calls = max(0, queue.calls - left)
            self._touch_queue(queue, t)

    def on_agent_connect(self, f: dict[str, str], seq: int, t: float) -> None:
        member = self.members.get((f["queue"], interface_of(f)))
        if member is not None and not member.in_call:
            member.in_call = True
            self._touch_member(member, t)
        queue = self.queues.get(f["queue"])
        hold = to_int(f.get("holdtime"), None)
        if queue is not None and hold is not None:
            queue.holdtime = (3 * queue.holdtime + hold) // 4
            self._touch_queue(queue, t)

    def on_agent_complete(self, f: dict[str, str], seq: int, t: float) -> None:
        member = self.members.get((f["queue"], interface_of(f)))
        if member is not None:
            member.in_call = False
            member.calls_taken += 1
            member.last_call = t
            self._touch_member(member, t)
        queue = self.queues.get(f["queue"])
        if queue is not None:
            _count_service_level(queue, to_int(f.get("holdtime"), None))
            queue.completed += 1
            talk = to_int(f.get("talktime"), None)
            if talk is not None:
                queue.talktime = (3 * queue.talktime + talk) // 4
            self._touch_queue(queue, t)

    def on_agent_ring(self, f: dict[str, str], seq: int, t: float) -> None:
        """AgentCalled / AgentRingNoAnswer: nothing to count; QueueMemberStatus follows."""

    def clear_callers(self, seq: int, t: float | None) -> None:
        """The PBX is going away: nobody is waiting any more."""
        for key in list(self.callers.rows):
            self.callers.remove(key, seq)
        for queue in self.queues.rows.values():
            if queue.calls:
                queue.calls = 0
                self._touch_queue(queue, t)

    # -- helpers ---------------------------------------------------------------------------
    def _queue(self, name: str, seq: int, t: float | None) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues.add(name, Queue(name, updated_at=t))
            queue.seq = seq
        return queue

    def _leave(self, name: str, uid: str, seq: int, t: float | None) -> int:
        caller = self.callers.remove((name, uid), seq)
        if caller is None:
            self.callers.bury((name, uid), seq)
            return 0
        self._shift(name, caller.position, -1, t, after=True)
        return 1

    def _shift(
        self, name: str, position: int | None, step: int, t: float | None, *, after: bool = False
    ) -> None:
        if position is None:
            return
        for key, caller in self.callers.group(name).items():
            if caller.position > position or (not after and caller.position == position):
                caller.position += step
                self._touch(self.callers, key, caller, t)

    def _set_calls(self, queue: Queue, count: int | None, t: float | None) -> None:
        if count is not None and count >= 0 and queue.calls != count:
            queue.calls = count
            self._touch_queue(queue, t)

    def _learn_name(self, member: QueueMember, t: float | None) -> None:
        name = member.name
        if not name or name == member.interface or name == member.state_interface:
            return
        resource = device_resource(member.state_interface) or device_resource(member.interface)
        if resource is not None:
            self._endpoints.learn_name(resource, name, 1, t)

    def _touch_queue(self, queue: Queue, t: float | None) -> None:
        self._touch(self.queues, queue.name, queue, t)

    def _touch_member(self, member: QueueMember, t: float | None) -> None:
        self._touch(self.members, (member.queue, member.interface), member, t)

    @staticmethod
    def _touch(table: Table, key: object, entity: object, t: float | None) -> None:
        if t is not None:
            entity.updated_at = t  # type: ignore[attr-defined]
        table.mark(key, entity)


def _count_service_level(queue: Queue, hold: int | None) -> None:
    """Move ``ServicelevelPerf`` (answered within the service level, of those completed) by
    one completed call that waited ``hold`` seconds, before ``completed`` counts it.

    app_queue decides "within" when the call is answered (hold <= servicelevel) and counts it
    when it ends, as AgentComplete does; without this the percentage the last list gave
    (0.0 before any call) would stand until the next list.
    """
    if hold is None or queue.service_level is None or queue.service_level_perf is None:
        return
    within = 100.0 if hold <= queue.service_level else 0.0
    done = queue.completed
    queue.service_level_perf = (queue.service_level_perf * done + within) / (done + 1)
