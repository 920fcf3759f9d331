"""The recorder: live events, resyncs and session drops in; pending history rows out.

Sans-IO: it never sees a socket, a clock or the database. The worker calls

- :meth:`Recorder.on_event` with every live packet the state applied, and its time;
- :meth:`Recorder.on_resync` with the state right after a resync loaded the PBX's lists;
- :meth:`Recorder.session_down` when the AMI session drops, the PBX shuts down, or the worker
  stops; :meth:`Recorder.restore` once, at start, with what the last run left open;
- :meth:`Recorder.take` at each flush, and :meth:`Recorder.give_back` when that flush failed.

Rules (the mapping to ``queue_log`` is in :mod:`monitor.history`):

- a call is one stay of one caller channel in one queue, keyed (queue, uniqueid) as the rows
  are; WAITING from QueueCallerJoin, then ANSWERED (talking until AgentComplete) or one of the
  ways out. A QueueCallerLeave with no abandon before it is decided by what follows: the
  AgentConnect that comes right behind it, or, without one, the caller's hangup, another
  queue, or ``LEAVE_GRACE`` seconds of nothing (EXIT_KEY if the caller pressed a key, else
  OTHER);
- a member's span changes when its (state, reason) does: one open span per (queue,
  interface); a paused member is PAUSED whatever its device does;
- while the session is down nothing can be seen: a gap opens, every open span closes at its
  start, and the calls stay open until the resync after the reconnect says what became of
  them: still waiting, or still talking (its channel up), or INCOMPLETE (partial, ended when
  fcmdash lost sight of it). Events may still correct such a call later in that session (an
  AgentComplete queued behind the lists).

Memory is bounded by what is open on the PBX, plus ``RECENT`` calls ended lately (kept so that
a late ``VarSet QUEUESTATUS`` or a late event can still correct them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..ami.packet import Packet
from ..history_models import AgentState, Outcome
from ..state.queues import interface_of
from ..state.states import (
    BUSY,
    INUSE,
    INVALID,
    ONHOLD,
    RINGING,
    RINGINUSE,
    UNAVAILABLE,
    caller_text,
    event_time,
    member_status,
    to_bool,
    to_int,
)

LEAVE_GRACE = 2.0  # seconds after a QueueCallerLeave for its AgentConnect (f5: 0-4 ms)
RECENT = 10000  # ended calls kept for late corrections
MAX_NAMES = 256  # event names remembered as spelled
# While the session is up and nothing else is written, ``Pbx.recorded_until`` still moves this
# often: a worker that dies leaves a gap from there, not from its last busy moment.
RECORDED_EVERY = 5.0

# QUEUESTATUS, as app_queue's set_queue_result() writes it, for the ways out it tells apart.
QUEUESTATUS = {
    "TIMEOUT": Outcome.TIMEOUT,
    "LEAVEEMPTY": Outcome.EXIT_EMPTY,
    "LEAVEUNAVAIL": Outcome.EXIT_EMPTY,
}
INSERT, UPDATE, UPSERT = "insert", "update", "upsert"  # how a span's row is written

CallKey = tuple[str, str]  # (queue, caller uniqueid)
MemberKey = tuple[str, str]  # (queue, interface)


@dataclass(slots=True)
class Stay:
    """One caller's stay in one queue, as far as it is known."""

    queue: str
    uniqueid: str
    entered_at: float
    linkedid: str = ""
    caller_num: str = ""
    caller_name: str = ""
    position: int = 0
    outcome: str = Outcome.WAITING
    wait: int | None = None
    talk: int | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    agent: str = ""
    agent_name: str = ""
    completed_by: str = ""
    partial: bool = False
    # What decides how it left: the caller asked to hang up, pressed a key; QueueCallerLeave
    # came (``left_at``) with no abandon before it; QueueCallerAbandon's HoldTime.
    hangup_asked: bool = False
    pressed_key: bool = False
    left_at: float | None = None
    abandoned: int | None = None

    def row(self) -> dict[str, Any]:
        return {
            "linkedid": self.linkedid,
            "caller_num": self.caller_num,
            "caller_name": self.caller_name,
            "entered_at": self.entered_at,
            "position": self.position,
            "outcome": str(self.outcome),
            "wait_seconds": self.wait,
            "talk_seconds": self.talk,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "agent": self.agent,
            "agent_name": self.agent_name,
            "completed_by": self.completed_by,
            "partial": self.partial,
        }


@dataclass(slots=True)
class Span:
    state: str
    reason: str
    name: str
    started_at: float
    handed: bool = False  # its row went out with a flush: closing it updates that row


@dataclass
class Pending:
    """Row changes not yet written; times are epoch seconds (:mod:`.rows` converts them).

    Each kind is keyed as its rows are, so a later change of the same row replaces an earlier
    one and writing the same ``Pending`` twice gives the same rows."""

    calls: dict[CallKey, dict[str, Any]] = field(default_factory=dict)
    # (queue, interface, started_at) -> name, state, reason, ended_at, and ``write``: INSERT
    # (no flush had its row), UPDATE (a flush that succeeded wrote it: only ``ended_at``
    # moves) or UPSERT (a flush that had it failed, perhaps after its commit: look first)
    spans: dict[tuple[str, str, float], dict[str, Any]] = field(default_factory=dict)
    # (queue, interface, caller uniqueid, at) -> name, ring_ms
    misses: dict[tuple[str, str, str, float], dict[str, Any]] = field(default_factory=dict)
    gaps: dict[float, dict[str, Any]] = field(default_factory=dict)  # started_at -> ended_at
    recorded_until: float | None = None
    skipped: list[tuple[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.calls or self.spans or self.misses or self.gaps)

    def under(self, newer: Pending) -> Pending:
        """This older batch with ``newer``'s changes on top (newer wins row by row)."""
        spans = {**self.spans, **newer.spans}
        for key, row in self.spans.items():
            if row["write"] == UPSERT and key in newer.spans:
                spans[key] = {**newer.spans[key], "write": UPSERT}  # it may not be there yet
        out = Pending(
            calls={**self.calls, **newer.calls},
            spans=spans,
            misses={**self.misses, **newer.misses},
            gaps={**self.gaps, **newer.gaps},
        )
        out.recorded_until = max(
            (t for t in (self.recorded_until, newer.recorded_until) if t is not None),
            default=None,
        )
        return out


def agent_state(*, paused: bool, in_call: bool, status: str) -> str:
    """A member's state from its block (normalised ``Status``): paused wins, then the queue's
    own InCall, then the device."""
    if paused:
        return AgentState.PAUSED
    if status == RINGING:
        return AgentState.RINGING
    if in_call or status in (INUSE, BUSY, RINGINUSE, ONHOLD):
        return AgentState.IN_CALL
    if status in (UNAVAILABLE, INVALID):
        return AgentState.UNAVAILABLE
    return AgentState.AVAILABLE  # not in use, or unknown: app_queue rings those


class Recorder:
    """The open calls, spans and gap of one PBX, and the row changes they made."""

    def __init__(self) -> None:
        self.stays: dict[CallKey, Stay] = {}
        self.spans: dict[MemberKey, Span] = {}
        self.gap: tuple[float, str] | None = None  # (started_at, reason) while open
        self.recent: OrderedDict[CallKey, Stay] = OrderedDict()
        self.by_channel: dict[str, set[CallKey]] = {}  # caller uniqueid -> its stays
        self.pending = Pending()
        self.up = False
        self._until_written = float("-inf")
        self._handlers = {
            "queuecallerjoin": self._join,
            "queuecallerabandon": self._abandon,
            "queuecallerleave": self._leave,
            "agentconnect": self._connect,
            "agentcomplete": self._complete,
            "agentringnoanswer": self._no_answer,
            "agentcalled": self._called,
            "queuememberstatus": self._member,
            "queuememberadded": self._member,
            "queuememberpause": self._member,
            "queuememberpaused": self._member,
            "queuememberremoved": self._member_removed,
            "hanguprequest": self._hangup_asked,
            "softhanguprequest": self._hangup_asked,
            "hangup": self._hangup,
            "dtmfend": self._dtmf,
            "varset": self._varset,
            "shutdown": self._shutdown,
        }
        self._by_name: dict[str, Any] = {}

    # -- input --------------------------------------------------------------------------
    def on_event(self, packet: Packet, now: float) -> None:
        """One live event. Never raises for what it holds: a garbled one is left out."""
        f = packet.fields
        name = f.get("event", "")
        # Every event the worker applies comes here: the name as the PBX spells it is looked
        # up first, lower-cased only once per spelling (a bounded number of them).
        try:
            handler = self._by_name[name]
        except KeyError:
            handler = self._handlers.get(name.lower())
            if len(self._by_name) < MAX_NAMES:
                self._by_name[name] = handler
        if handler is None:
            return
        try:
            handler(f, event_time(f, now))
        except (KeyError, ValueError):
            return  # garbled: the state counts it as malformed and resyncs

    def session_down(self, now: float, reason: str) -> None:
        """Nothing can be seen from ``now`` on: a gap opens and the spans close at its start."""
        self.up = False
        if self.gap is None:
            self.gap = (now, reason[:200])
            self.pending.gaps[now] = {"ended_at": None, "reason": reason[:200]}
        for key in list(self.spans):
            self._close_span(key, now)

    def on_resync(self, state: Any, now: float) -> None:
        """The PBX's lists are loaded into ``state`` (a ``PbxState``): settle what the gap
        hid, reopen the spans from the members' states, and close the gap at ``now``."""
        lost_at = self.gap[0] if self.gap is not None else now
        waiting = state.queues.callers.rows
        channels = state.calls.table.rows
        for key, stay in list(self.stays.items()):
            if stay.outcome == Outcome.WAITING and key in waiting:
                continue
            if stay.outcome == Outcome.ANSWERED and stay.uniqueid in channels:
                continue
            # Gone from the lists, or left with its AgentConnect perhaps among what was lost.
            stay.left_at = None
            stay.outcome, stay.partial = Outcome.INCOMPLETE, True
            stay.ended_at = max(lost_at, stay.answered_at or stay.entered_at)
            self._end(stay)
        for (queue, uid), caller in waiting.items():
            if (queue, uid) not in self.stays:
                self._seen_waiting(queue, uid, caller, now)
        self.up = True
        members = state.queues.members.rows
        for key in [k for k in self.spans if k not in members]:
            self._close_span(key, now)
        for key, m in members.items():
            state_now = agent_state(paused=m.paused, in_call=m.in_call, status=m.status)
            self._set_span(key, state_now, m.paused_reason if m.paused else "", m.name, now)
        if self.gap is not None:
            started, reason = self.gap
            self.pending.gaps[started] = {"ended_at": now, "reason": reason}
            self.gap = None

    def restore(
        self,
        *,
        calls: list[dict[str, Any]],
        spans: list[dict[str, Any]],
        gap: dict[str, Any] | None,
        recorded_until: float | None,
        now: float,
    ) -> None:
        """What the last run left open (rows as :mod:`.rows` reads them back): its calls wait
        for the first resync; its spans close where it lost sight of the PBX (the open gap's
        start, else ``recorded_until``, else ``now``), which opens the gap if none is."""
        earlier: tuple[float, str] | None = None
        if gap is not None:
            earlier = (gap["started_at"], gap["reason"])
        elif calls or spans or recorded_until is not None:
            lost = recorded_until if recorded_until is not None else now
            earlier = (lost, "fcmdash was not running")
            self.pending.gaps[lost] = {"ended_at": None, "reason": earlier[1]}
        if earlier is not None:
            if self.gap is not None:  # a failed first connect opened one: the older covers it
                self.pending.gaps.pop(self.gap[0], None)
            self.gap = earlier
        lost_at = self.gap[0] if self.gap is not None else now
        for row in calls:
            stay = Stay(**row)
            key = (stay.queue, stay.uniqueid)
            self.stays[key] = stay
            self.by_channel.setdefault(stay.uniqueid, set()).add(key)
        for row in spans:
            ended = max(lost_at, row["started_at"])
            key = (row["queue"], row["interface"], row["started_at"])
            self.pending.spans[key] = {
                "name": row["name"],
                "state": row["state"],
                "reason": row["reason"],
                "ended_at": ended,
                "write": UPDATE,
            }

    # -- output -------------------------------------------------------------------------
    def take(self, now: float) -> Pending:
        """The row changes so far (and, while the session is up, ``recorded_until``)."""
        self.tick(now)
        out, self.pending = self.pending, Pending()
        for (queue, interface, started), _ in out.spans.items():
            span = self.spans.get((queue, interface))
            if span is not None and span.started_at == started:
                span.handed = True
        if self.up and (out or now - self._until_written >= RECORDED_EVERY):
            out.recorded_until = self._until_written = now
        return out

    def give_back(self, pending: Pending) -> None:
        """A flush failed: its rows go out with the next one (newer changes win)."""
        self.pending = pending.under(self.pending)
        self.pending.recorded_until = None
        # Its transaction may have committed with only the answer lost: look before inserting.
        for key in pending.spans:
            self.pending.spans[key]["write"] = UPSERT
        self._until_written = float("-inf")

    def tick(self, now: float) -> None:
        """Decide the leaves whose AgentConnect did not come within ``LEAVE_GRACE``."""
        for stay in list(self.stays.values()):
            if stay.left_at is not None and now - stay.left_at >= LEAVE_GRACE:
                self._decide_leave(stay)

    # -- queue calls --------------------------------------------------------------------
    def _join(self, f: dict[str, str], t: float) -> None:
        key = (f["queue"], f["uniqueid"])
        for other in self.by_channel.get(key[1], ()):
            # The caller went on to another queue: a leave waiting for its connect is over.
            stay = self.stays.get(other)
            if stay is not None and stay.left_at is not None and other != key:
                self._decide_leave(stay)
        stay = Stay(
            queue=key[0],
            uniqueid=key[1],
            entered_at=t,
            linkedid=f.get("linkedid", ""),
            caller_num=caller_text(f.get("calleridnum"))[:200],
            caller_name=caller_text(f.get("calleridname"))[:200],
            position=max(0, to_int(f.get("position")) or 0),
        )
        self.recent.pop(key, None)
        self.stays[key] = stay
        self.by_channel.setdefault(key[1], set()).add(key)
        self._changed(stay)

    def _abandon(self, f: dict[str, str], t: float) -> None:
        stay = self._stay(f)
        if stay is None:
            return
        stay.abandoned = _seconds(f.get("holdtime"), t - stay.entered_at)
        stay.ended_at = t

    def _leave(self, f: dict[str, str], t: float) -> None:
        stay = self._stay(f)
        if stay is None or stay.outcome != Outcome.WAITING:
            return
        if stay.abandoned is None:
            stay.left_at = t  # AgentConnect follows, or it left another way
            return
        # app_queue's record_abandoned(): a hangup (ABANDON), a timeout or an empty queue.
        stay.wait = stay.abandoned
        stay.outcome = Outcome.ABANDONED if stay.hangup_asked else Outcome.OTHER
        self._end(stay)

    def _decide_leave(self, stay: Stay) -> None:
        assert stay.left_at is not None
        stay.outcome = Outcome.EXIT_KEY if stay.pressed_key else Outcome.OTHER
        stay.wait = max(0, int(stay.left_at - stay.entered_at))
        stay.ended_at, stay.left_at = stay.left_at, None
        self._end(stay)

    def _connect(self, f: dict[str, str], t: float) -> None:
        stay = self._stay(f, late=True)
        if stay is None:
            key = (f["queue"], f["uniqueid"])
            hold = _seconds(f.get("holdtime"), 0)
            # It joined while fcmdash could not see (before it started): known from here on.
            stay = Stay(queue=key[0], uniqueid=key[1], entered_at=t - hold, partial=True)
            stay.linkedid = f.get("linkedid", "")
            stay.caller_num = caller_text(f.get("calleridnum"))[:200]
            stay.caller_name = caller_text(f.get("calleridname"))[:200]
            self.stays[key] = stay
            self.by_channel.setdefault(key[1], set()).add(key)
        stay.outcome = Outcome.ANSWERED
        stay.wait = _seconds(f.get("holdtime"), t - stay.entered_at)
        stay.answered_at, stay.ended_at, stay.left_at = t, None, None
        stay.agent = interface_of(f)
        stay.agent_name = (f.get("membername") or "")[:200]
        self._changed(stay)

    def _complete(self, f: dict[str, str], t: float) -> None:
        stay = self._stay(f, late=True)
        if stay is None:
            return
        if stay.outcome != Outcome.ANSWERED or stay.answered_at is None:
            stay.outcome = Outcome.ANSWERED
            stay.wait = _seconds(f.get("holdtime"), 0)
            stay.agent = interface_of(f)
            stay.agent_name = (f.get("membername") or "")[:200]
        stay.talk = _seconds(f.get("talktime"), 0)
        if stay.answered_at is None:
            stay.answered_at = t - stay.talk
        stay.completed_by = (f.get("reason") or "")[:8]
        stay.ended_at = t
        self._end(stay)

    def _no_answer(self, f: dict[str, str], t: float) -> None:
        queue, interface = f["queue"], interface_of(f)
        key = (queue, interface, f.get("uniqueid", ""), t)
        name = (f.get("membername") or "")[:200]
        ring_ms = min(max(to_int(f.get("ringtime")) or 0, 0), 2**31 - 1)
        self.pending.misses[key] = {"name": name, "ring_ms": ring_ms}

    def _hangup_asked(self, f: dict[str, str], t: float) -> None:
        for key in self.by_channel.get(f.get("uniqueid", ""), ()):
            stay = self.stays.get(key)
            if stay is not None and stay.outcome == Outcome.WAITING:
                stay.hangup_asked = True

    def _dtmf(self, f: dict[str, str], t: float) -> None:
        if f.get("direction", "").lower() != "received":
            return
        for key in self.by_channel.get(f.get("uniqueid", ""), ()):
            stay = self.stays.get(key)
            if stay is not None and stay.outcome == Outcome.WAITING:
                stay.pressed_key = True

    def _hangup(self, f: dict[str, str], t: float) -> None:
        uid = f.get("uniqueid", "")
        for key in list(self.by_channel.get(uid, ())):
            stay = self.stays.get(key)
            if stay is not None and stay.left_at is not None:
                self._decide_leave(stay)
        # The channel is gone: no VarSet can come for it any more.
        keys = self.by_channel.get(uid, set())
        if not any(k in self.stays for k in keys):
            self.by_channel.pop(uid, None)

    def _varset(self, f: dict[str, str], t: float) -> None:
        if f.get("variable", "").upper() != "QUEUESTATUS":
            return
        outcome = QUEUESTATUS.get(f.get("value", "").upper())
        if outcome is None:
            return
        for key in self.by_channel.get(f.get("uniqueid", ""), ()):
            stay = self.recent.get(key)
            if stay is not None and stay.outcome == Outcome.OTHER and stay.abandoned is not None:
                stay.outcome = outcome
                self._changed(stay)

    def _shutdown(self, f: dict[str, str], t: float) -> None:
        # Every channel dies with the PBX, and the socket may close before their events.
        self.session_down(t, "the PBX shut down")

    def _seen_waiting(self, queue: str, uid: str, caller: Any, now: float) -> None:
        """A caller the lists show waiting that no join was seen for (it came in the gap)."""
        stay = Stay(
            queue=queue,
            uniqueid=uid,
            entered_at=caller.joined_at if caller.joined_at is not None else now,
            caller_num=caller.caller_id_num[:200],
            caller_name=caller.caller_id_name[:200],
            position=max(0, caller.position),
            partial=True,
        )
        self.stays[(queue, uid)] = stay
        self.by_channel.setdefault(uid, set()).add((queue, uid))
        self._changed(stay)

    def _stay(self, f: dict[str, str], *, late: bool = False) -> Stay | None:
        """The stay an event is about; ``late``: also one the last resync concluded was
        INCOMPLETE (an event queued behind its lists corrects it)."""
        key = (f["queue"], f["uniqueid"])
        stay = self.stays.get(key)
        if stay is None and late:
            old = self.recent.get(key)
            if old is not None and old.outcome == Outcome.INCOMPLETE:
                del self.recent[key]
                self.stays[key] = stay = old
                self.by_channel.setdefault(key[1], set()).add(key)
        return stay

    def _changed(self, stay: Stay) -> None:
        self.pending.calls[(stay.queue, stay.uniqueid)] = stay.row()

    def _end(self, stay: Stay) -> None:
        key = (stay.queue, stay.uniqueid)
        self._changed(stay)
        self.stays.pop(key, None)
        self.recent[key] = stay
        self.recent.move_to_end(key)
        while len(self.recent) > RECENT:
            old, _ = self.recent.popitem(last=False)
            keys = self.by_channel.get(old[1])
            if keys is not None:
                keys.discard(old)
                if not keys:
                    del self.by_channel[old[1]]

    # -- members ------------------------------------------------------------------------
    def _member(self, f: dict[str, str], t: float) -> None:
        key = (f["queue"], interface_of(f))
        paused = to_bool(f.get("paused"))
        state = agent_state(
            paused=paused, in_call=to_bool(f.get("incall")), status=member_status(f.get("status"))
        )
        reason = (f.get("pausedreason") or f.get("reason") or "")[:200] if paused else ""
        self._set_span(key, state, reason, (f.get("membername") or "")[:200], t)

    def _member_removed(self, f: dict[str, str], t: float) -> None:
        self._close_span((f["queue"], interface_of(f)), t)

    def _called(self, f: dict[str, str], t: float) -> None:
        key = (f["queue"], interface_of(f))
        span = self.spans.get(key)
        if span is None or span.state != AgentState.PAUSED:
            name = span.name if span is not None else (f.get("membername") or "")[:200]
            self._set_span(key, AgentState.RINGING, "", name, t)

    def _set_span(self, key: MemberKey, state: str, reason: str, name: str, t: float) -> None:
        span = self.spans.get(key)
        if span is not None and (span.state, span.reason) == (state, reason):
            return
        if not self.up and self.gap is not None:
            return  # no live view: the resync after the reconnect opens the spans
        if span is not None:
            self._close_span(key, t)
        new = Span(state=str(state), reason=reason, name=name or key[1], started_at=t)
        self.spans[key] = new
        self._span_row(key, new, None)

    def _close_span(self, key: MemberKey, t: float) -> None:
        span = self.spans.pop(key, None)
        if span is not None:
            self._span_row(key, span, max(t, span.started_at))

    def _span_row(self, key: MemberKey, span: Span, ended_at: float | None) -> None:
        row_key = (key[0], key[1], span.started_at)
        waiting = self.pending.spans.get(row_key)
        if waiting is not None and waiting["write"] == UPSERT:
            write = UPSERT  # given back by a failed flush: it may not be in the database
        else:
            write = UPDATE if span.handed else INSERT
        self.pending.spans[row_key] = {
            "name": span.name,
            "state": span.state,
            "reason": span.reason,
            "ended_at": ended_at,
            "write": write,
        }


def _seconds(value: str | None, default: float) -> int:
    """Seconds as the PBX counted them (HoldTime, TalkTime), else ``default``; never < 0."""
    n = to_int(value, None)
    return min(max(int(default) if n is None else n, 0), 2**31 - 1)
