"""Calls: channels, the lab dialplan, Dial, Queue, bridges and hangups, with Asterisk's events.

The event sequences are scripted after the lab transcripts: ``c1`` (Originate to a phone that
auto-answers, Dial of a second phone, answer, AMI Hangup), ``b2`` (Hangup of a channel in an
application), ``b5`` (a queue call answered by one of several ringing members, torn down by the
caller), ``p1`` (Local channel originates). Sequences the lab did not capture (a caller joining
a queue, a member not answering, an abandoned call, hold) follow app_queue and the bridging core
as documented in ``AMI-REFERENCE.md``; their order is plausible, not measured.

Timers (Wait, Playback, ring timeouts) run on the event loop, scaled by ``time_scale`` so
tests can make a 30 s ring timeout take 30 ms. Everything else happens at once, inside the
call that caused it, so a test sees a whole sequence as soon as its action is answered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .model import (
    HANGUP_CAUSES,
    RING,
    RINGING,
    UP,
    Bridge,
    Caller,
    Channel,
    Endpoint,
    Member,
    Queue,
)

if TYPE_CHECKING:
    from .pbx import Pbx

OriginateResult = Callable[[bool, int, "Channel | None"], None]

DIAL_VARS = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)
PLAYBACK_FILE = "/var/lib/asterisk/sounds/custom/lab-tone"


@dataclass(eq=False)
class DialRun:
    """One Dial() or Queue() attempt of ``caller``: the legs it rings and when it started."""

    caller: Channel
    kind: str  # "dial", "queue" or "originate"
    started: float
    legs: list[Channel] = field(default_factory=list)
    ring_started: float | None = None
    answered: Channel | None = None
    timer: asyncio.TimerHandle | None = None
    cont: Callable[[], None] | None = None  # where the caller's dialplan goes on
    dial_string: str = ""


@dataclass(eq=False)
class QueueCall:
    """A queue caller's state while it waits, rings members and talks."""

    caller: Caller
    run: DialRun | None = None
    members: dict[str, Member] = field(default_factory=dict)  # leg uniqueid -> member
    agent: Member | None = None
    agent_channel: Channel | None = None
    connected_at: float = 0.0
    cont: Callable[[], None] | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    in_sl: bool = False  # answered within the queue's service level
    retry: asyncio.TimerHandle | None = None
    # f5 (e): after a decline the next member rings at once, and its ring time counts from
    # the declined ring's start.
    rung_since: float | None = None


class CallEngine:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.time_scale = 1.0
        self.playback_seconds = 4.0
        self.dial_timeout = 30
        self._timers: set[asyncio.TimerHandle] = set()
        # Deferred steps keyed by channel uniqueid: the OriginateResponse of an originated
        # channel (sent once its dialplan got going, as in c1) and the answer of a Local ;1
        # that follows its ;2 half.
        self._pending_originate: dict[str, Callable[[], None]] = {}
        self._local_answer: dict[str, Callable[[], None]] = {}
        # The people and phones (monitor.sim.scenario): told when a phone rings, two parties
        # are connected, a caller queues and a channel ends.
        self.observer: Any = None

    # -- time -------------------------------------------------------------------------------
    def later(self, delay: float, fn: Callable[..., object], *args: object) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            fn(*args)

        handle = loop.call_later(max(0.0, delay * self.time_scale), fire)
        self._timers.add(handle)
        return handle

    def cancel(self, handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()
            self._timers.discard(handle)

    def reset(self) -> None:
        for handle in list(self._timers):
            handle.cancel()
        self._timers.clear()

    @property
    def now(self) -> float:
        return self.pbx.clock()

    # -- small event helpers ------------------------------------------------------------------
    def _ev(self, name: str, ch: Channel, *extra: tuple[str, str], cls: str = "call") -> None:
        self.pbx.emit(name, cls, ch.block() + list(extra))

    def newstate(self, ch: Channel, state: int) -> None:
        ch.state = state
        self._ev("Newstate", ch)

    def varset(self, ch: Channel, name: str, value: str) -> None:
        ch.vars[name] = value
        self._ev("VarSet", ch, ("Variable", name), ("Value", value), cls="dialplan")

    def newexten(self, ch: Channel) -> None:
        self._ev(
            "Newexten",
            ch,
            ("Extension", ch.exten),
            ("Application", ch.app),
            ("AppData", ch.appdata),
            cls="dialplan",
        )

    def dial_event(
        self, name: str, caller: Channel | None, dest: Channel, *extra: tuple[str, str]
    ) -> None:
        pairs = (caller.block() if caller is not None else []) + dest.block("Dest") + list(extra)
        # app_queue's Agent* events are class agent; Dial* are class call.
        self.pbx.emit(name, "agent" if name.startswith("Agent") else "call", pairs)

    def refresh(self, ch: Channel, steps: str = "dsc es qms") -> None:
        if ch.device.startswith("PJSIP/"):
            self.pbx.refresh(ch.device, steps)

    def _local_dsc(self, ch: Channel) -> None:
        # Local device states are republished on every change of either half (p1: 4 per call).
        if not ch.device.startswith("Local/"):
            return
        busy = any(
            c.device == ch.device and c.state == UP and not c.gone
            for c in self.pbx.channels.values()
        )
        self.pbx.dsc(ch.device, "INUSE" if busy else "NOT_INUSE", force=True)

    # -- dialplan -----------------------------------------------------------------------------
    def dialplan(self, context: str, exten: str) -> list[tuple[str, str]] | None:
        """The lab's dialplan (README of the transcripts), for any number of phones/queues."""
        ep = self.pbx.endpoints.get(exten)
        if context in ("from-internal", "from-trunk", "ext-local"):
            if ep is not None and ep.kind == "phone":
                return [("NoOp", f"Internal call to {exten}"), ("Dial", f"PJSIP/{exten},30")]
            if exten in self.pbx.queues:
                return [
                    ("NoOp", f"Queue call to {exten}"),
                    ("Answer", ""),
                    ("Queue", f"{exten},t,,,120"),
                ]
            if exten == "2001":
                return [("Answer", ""), ("Wait", "600")]
            if exten == "2002":
                return [("Answer", ""), ("Playback", PLAYBACK_FILE), ("Hangup", "")]
            if exten == "2003":
                return [("Answer", ""), ("UserEvent", "LabEvent,Foo: bar,Ext: 2003"), ("Wait", "2")]
        return None

    def run(self, ch: Channel, context: str, exten: str, priority: int = 1) -> None:
        """Execute from ``exten@context`` until an application blocks or the channel ends."""
        while not ch.gone:
            steps = self.dialplan(context, exten)
            if steps is None or priority > len(steps):
                cause = 1 if steps is None and priority == 1 else 16
                self.end_unbridged(ch, cause, how="dialplan")
                return
            app, data = steps[priority - 1]
            ch.context, ch.exten, ch.priority, ch.app, ch.appdata = (
                context,
                exten,
                priority,
                app,
                data,
            )
            self.newexten(ch)
            nxt = priority + 1

            def cont(nxt: int = nxt) -> None:
                self.run(ch, context, exten, nxt)

            if not self._app(ch, app, data, cont):
                return
            priority = nxt

    def _app(self, ch: Channel, app: str, data: str, cont: Callable[[], None]) -> bool:
        """Run one application; True to go on at once, False when it continues later."""
        if app == "NoOp":
            return True
        if app == "Answer":
            self.answer_channel(ch)
            return True
        if app == "UserEvent":
            name, *headers = data.split(",")
            extra = [("UserEvent", name)] + [tuple(h.split(": ", 1)) for h in headers if ": " in h]
            self._ev("UserEvent", ch, *extra, cls="user")  # type: ignore[arg-type]
            return True
        if app == "Wait":
            self._settle_originate(ch)
            ch.call = self.later(float(data), cont)
            return False
        if app == "Playback":
            self._settle_originate(ch)
            ch.call = self.later(self.playback_seconds, cont)
            return False
        if app == "Hangup":
            self._settle_originate(ch)
            self.end_unbridged(ch, 16, how="app")
            return False
        if app == "Dial":
            self.dial(ch, data, cont)
            return False
        if app == "Queue":
            self._settle_originate(ch)
            self.queue_join(ch, data, cont)
            return False
        return True

    def answer_channel(self, ch: Channel) -> None:
        if ch.state == UP:
            return
        ch.answered = self.now
        self.newstate(ch, UP)
        self._local_dsc(ch)
        self.refresh(ch)
        follow = self._local_answer.pop(ch.uniqueid, None)
        if follow is not None:
            follow()

    # -- originate ----------------------------------------------------------------------------
    def originate(
        self,
        channel: str,
        *,
        context: str = "",
        exten: str = "",
        priority: int = 1,
        application: str = "",
        data: str = "",
        callerid: tuple[str, str] | None = None,
        timeout: float = 30.0,
        on_result: OriginateResult | None = None,
    ) -> bool:
        """Start an Originate; False when the channel cannot be created (Reason 0, no events)."""
        tech, _, dest = channel.partition("/")
        if tech.upper() == "PJSIP":
            ep = self.pbx.endpoints.get(dest.split("/")[0])
            if ep is None or not ep.online:
                return False
            self._originate_pjsip(
                ep, context, exten, priority, application, data, callerid, timeout, on_result
            )
            return True
        if tech.lower() == "local" and "@" in dest:
            target = dest.split("/")[0]
            self._originate_local(
                target, application, data, context, exten, priority, callerid, on_result
            )
            return True
        return False

    def _originate_pjsip(
        self,
        ep: Endpoint,
        context: str,
        exten: str,
        priority: int,
        application: str,
        data: str,
        callerid: tuple[str, str] | None,
        timeout: float,
        on_result: OriginateResult | None,
    ) -> None:
        pbx = self.pbx
        a = pbx.new_channel(
            ep.device,
            endpoint=ep,
            caller_num=ep.name,
            caller_name=ep.callerid_name,
            context=context or "default",
            exten="s",
            app="AppDial2",
            appdata="(Outgoing Line)",
        )
        a.vars["__cdr"] = "1"
        pbx.processed_calls += 1
        self._ev("Newchannel", a)
        self.newexten(a)
        if callerid is not None:
            a.caller_name, a.caller_num = callerid[0], callerid[1] or a.caller_num
            self._ev(
                "NewCallerid", a, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")
            )
            a.connected_num, a.connected_name = a.caller_num, a.caller_name
            self._ev("NewConnectedLine", a)
        run = DialRun(a, "originate", self.now, legs=[a], dial_string=ep.name)
        a.call = run
        self.dial_event("DialBegin", None, a, ("DialString", ep.name))
        self.newstate(a, RINGING)
        run.ring_started = self.now
        self.dial_event("DialState", None, a, ("DialStatus", "RINGING"))

        def answered() -> None:
            self.cancel(run.timer)
            a.answered = self.now
            self.newstate(a, UP)
            self.dial_event("DialEnd", None, a, ("DialStatus", "ANSWER"))
            self._pending_originate[a.uniqueid] = lambda: (
                on_result(True, 4, a) if on_result else None
            )
            if application:
                self._settle_originate(a)
                self._run_application(a, application, data)
            else:
                self.run(a, context, exten, priority)
                self._settle_originate(a)

        def no_answer() -> None:
            self.dial_event("DialEnd", None, a, ("DialStatus", "NOANSWER"))
            self._hangup_plain(a, 0)
            self.refresh(a)
            if on_result:
                on_result(False, 3, None)

        run.cont = answered
        if ep.auto_answer:
            answered()
        else:
            self.refresh(a)
            run.timer = self.later(timeout, no_answer)
            if self.observer is not None:
                self.observer.ringing(a)

    def _settle_originate(self, ch: Channel) -> None:
        """Send the OriginateResponse once the originated channel's dialplan got going (c1)."""
        pending = self._pending_originate.pop(ch.uniqueid, None)
        if pending is not None:
            pending()
            self.refresh(ch)

    def _run_application(self, ch: Channel, application: str, data: str) -> None:
        ch.app, ch.appdata = application, data

        def done() -> None:
            self.end_unbridged(ch, 0, how="app")

        app = application.lower()
        if app == "wait":
            ch.call = self.later(float(data or 0), done)
        elif app == "playback":
            ch.call = self.later(self.playback_seconds, done)
        elif app == "hangup":
            done()
        else:
            ch.call = self.later(1.0, done)

    def _originate_local(
        self,
        target: str,
        application: str,
        data: str,
        context: str,
        exten: str,
        priority: int,
        callerid: tuple[str, str] | None,
        on_result: OriginateResult | None,
    ) -> None:
        pbx = self.pbx
        dest_exten, _, dest_context = target.partition("@")
        one, two = pbx.local_pair(target, context=dest_context, exten=dest_exten)
        two.state = RING
        pbx.processed_calls += 1
        one.vars["__cdr"] = two.vars["__cdr"] = "1"
        self._ev("Newchannel", one)
        self._ev("Newchannel", two)
        one.app, one.appdata = "AppDial2", "(Outgoing Line)"
        self.newexten(one)
        if callerid is not None:
            for ch in (one, two):
                ch.caller_name, ch.caller_num = callerid
                ch.connected_name, ch.connected_num = callerid
            self._ev(
                "NewCallerid", one, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")
            )
            self._ev("NewConnectedLine", one)
            self._ev(
                "NewCallerid", two, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")
            )
            self._ev("NewConnectedLine", two)
        one.peer, two.peer = two, one
        self.pbx.emit(
            "LocalBridge",
            "call",
            one.block("LocalOne")
            + two.block("LocalTwo")
            + [("Context", dest_context), ("Exten", dest_exten), ("LocalOptimization", "Yes")],
        )
        self.dial_event("DialBegin", None, one, ("DialString", target))

        def answered_one() -> None:
            if one.state == UP or one.gone:
                return
            one.answered = self.now
            self.newstate(one, UP)
            self._local_dsc(one)
            self.dial_event("DialEnd", None, one, ("DialStatus", "ANSWER"))
            if on_result:
                on_result(True, 4, one)
            if application:
                self._run_application(one, application, data)
            else:
                self.run(one, context, exten, priority)

        self._local_answer[two.uniqueid] = answered_one
        self.run(two, dest_context, dest_exten)

    # -- Dial ---------------------------------------------------------------------------------
    def dial(self, a: Channel, data: str, cont: Callable[[], None]) -> None:
        target, _, rest = data.partition(",")
        timeout = float(rest.split(",")[0] or self.dial_timeout) if rest else self.dial_timeout
        run = DialRun(a, "dial", self.now, cont=cont, dial_string=target.partition("/")[2])
        a.call = run
        for var in DIAL_VARS:
            self.varset(a, var, "")
        self._settle_originate(a)
        ep = self.pbx.endpoints.get(run.dial_string)
        if ep is None or not ep.online:
            self.varset(a, "DIALSTATUS", "CHANUNAVAIL")
            cont()
            return
        b = self.pbx.new_channel(
            ep.device,
            endpoint=ep,
            linkedid=a.linkedid,
            caller_num=ep.name,
            caller_name=ep.callerid_name,
            context=a.context,
            exten="s",
        )
        b.call = run
        run.legs.append(b)
        self._ev("Newchannel", b)
        self.varset(b, "DIALEDPEERNUMBER", run.dial_string)
        b.exten, b.connected_num, b.connected_name = run.dial_string, a.caller_num, a.caller_name
        b.app, b.appdata = "AppDial", "(Outgoing Line)"
        self.newexten(b)
        self._ev("NewConnectedLine", b)
        self.dial_event("DialBegin", a, b, ("DialString", run.dial_string))
        a.connected_num, a.connected_name = b.caller_num, b.caller_name
        self._ev("NewConnectedLine", a)
        self.newstate(b, RINGING)
        run.ring_started = self.now
        self.refresh(b)
        ring_ms = int((run.ring_started - run.started) * 1000)
        self.varset(a, "RINGTIME", str(ring_ms // 1000))
        self.varset(a, "RINGTIME_MS", str(ring_ms))
        self.dial_event("DialState", a, b, ("DialStatus", "RINGING"))
        run.timer = self.later(timeout, self._dial_timeout, run)
        if ep.auto_answer:
            self.answer(b.name)
        elif self.observer is not None:
            self.observer.ringing(b)

    def _dial_timeout(self, run: DialRun) -> None:
        a = run.caller
        for b in list(run.legs):
            if b.gone:
                continue
            self.dial_event("DialEnd", a, b, ("DialStatus", "NOANSWER"))
            self._hangup_plain(b, 0)
            self.refresh(b)
        run.legs.clear()
        self.varset(a, "DIALSTATUS", "NOANSWER")
        a.call = None
        if run.cont:
            run.cont()

    def answer(self, name: str) -> bool:
        """The phone of channel ``name`` picks up. False when nothing there can be answered."""
        ch = self.pbx.by_name.get(name)
        if ch is None or ch.gone or ch.state == UP:
            return False
        run = ch.call
        if isinstance(run, DialRun) and run.kind == "originate" and run.cont:
            run.cont()
            return True
        if isinstance(run, DialRun) and run.kind == "dial":
            self._dial_answered(run, ch)
            return True
        if isinstance(run, QueueCall):
            self._queue_answered(run, ch)
            return True
        return False

    def _dial_answered(self, run: DialRun, b: Channel) -> None:
        a = run.caller
        self.cancel(run.timer)
        run.answered = b
        b.answered = self.now
        b.state = UP
        self.refresh(b, "es")
        self._ev("Newstate", b)
        self.refresh(b, "dsc")
        self.varset(a, "DIALSTATUS", "ANSWER")
        self.varset(a, "DIALEDPEERNAME", b.name)
        self.varset(a, "DIALEDPEERNUMBER", run.dial_string)
        b.exten = ""
        self.dial_event("DialEnd", a, b, ("DialStatus", "ANSWER"))
        if a.state != UP:
            self.answer_channel(a)
        self.bridge(b, a, between=lambda: self.refresh(b, "qms"))
        if self.observer is not None:
            self.observer.answered(a, b)

    def bridge(
        self, first: Channel, second: Channel, *, between: Callable[[], None] | None = None
    ) -> Bridge:
        """BridgeCreate and two BridgeEnter; ``between`` runs after the first enters (c1: the
        callee's QueueMemberStatus lands there)."""
        br = Bridge(str(uuid.uuid4()))
        self.pbx.bridges[br.uniqueid] = br
        self.pbx.emit("BridgeCreate", "call", br.block())
        if first.app == "AppDial":
            self.newexten(first)
        for ch in (first, second):
            br.channels.append(ch)
            ch.bridge = br
            self.pbx.emit("BridgeEnter", "call", br.block() + ch.block())
            if ch is first and between is not None:
                between()
        # Two PJSIP legs move to native RTP once both are in (c1: BridgeLeave says native_rtp).
        br.technology = "native_rtp"
        first.peer, second.peer = second, first
        calls = {second.uniqueid: str(uuid.uuid4()), first.uniqueid: str(uuid.uuid4())}
        for _ in range(3):
            for ch, other in ((second, first), (first, second)):
                self.varset(ch, "BRIDGEPEER", other.name)
                self.varset(ch, "BRIDGEPVTCALLID", calls[ch.uniqueid])
        return br

    # -- hangups ------------------------------------------------------------------------------
    def hangup(self, name: str, cause: int = 16, *, how: str = "phone") -> bool:
        """End channel ``name``: ``how`` is ``phone`` (BYE from the device) or ``ami``."""
        ch = self.pbx.by_name.get(name)
        if ch is None or ch.gone:
            return False
        self.request_hangup(ch, cause, how=how)
        return True

    def request_hangup(self, ch: Channel, cause: int, *, how: str) -> None:
        run = ch.call
        if how == "phone":
            self._ev("HangupRequest", ch)
        if isinstance(run, QueueCall):
            self._queue_hangup(run, ch, cause, how)
            return
        if ch.bridge is not None and ch.peer is not None:
            self._bridged_hangup(ch, cause)
            return
        if isinstance(run, DialRun) and ch is not run.caller and run.kind == "dial":
            self._leg_hangup(run, ch, cause)
            return
        if isinstance(run, DialRun) and ch is run.caller and run.kind == "dial":
            self._caller_cancel(run, cause, how)
            return
        if isinstance(run, DialRun) and run.kind == "originate":
            self.cancel(run.timer)
            self.dial_event("DialEnd", None, ch, ("DialStatus", "CANCEL"))
        if ch.device.startswith("Local/") and ch.peer is not None and not ch.peer.gone:
            self._local_hangup(ch)
            return
        self.end_unbridged(ch, cause if how == "ami" else 16, how=how)

    def end_unbridged(self, ch: Channel, cause: int, *, how: str) -> None:
        """b2: a channel that is in an application (not bridged) goes away."""
        if ch.gone:
            return
        if isinstance(ch.call, asyncio.TimerHandle):
            self.cancel(ch.call)
        if ch.device.startswith("Local/") and ch.peer is not None and not ch.peer.gone:
            self._local_hangup(ch)
            return
        if how in ("ami", "app"):
            self._ev("SoftHangupRequest", ch, ("Cause", "16"))
        if how == "app":
            # a6: the Hangup application; the CDR is finalised after the channel is gone.
            self._qos(ch, 5)
            self._hangup_plain(ch, cause)
            self._cdr(ch)
            self.refresh(ch, "es dsc qms")
            return
        # b2: AMI Hangup of a channel in Wait(); the CDR goes out between the QoS variables.
        self._qos(ch, 3)
        self._cdr(ch)
        self._qos(ch, 2, start=3)
        self._hangup_plain(ch, cause)
        self.refresh(ch, "dsc qms es")

    def _local_hangup(self, ch: Channel) -> None:
        """p1: the originated half ends its application; the other half is hung up with it."""
        one, two = (ch, ch.peer) if ch.name.endswith(";1") else (ch.peer, ch)
        assert one is not None and two is not None
        for half in (one, two):
            if isinstance(half.call, asyncio.TimerHandle):
                self.cancel(half.call)
        other = two if ch is one else one
        self.pbx.emit("HangupRequest", "call", other.block() + [("Cause", "0")])
        self._ev("SoftHangupRequest", other, ("Cause", "16"))
        for half in (one, two):
            self._hangup_plain(half, 0)
            self._local_dsc(half)
        for half in (one, two):
            self._cdr(half)
        for half in (one, two):
            self.refresh(half)

    def _hangup_plain(self, ch: Channel, cause: int) -> None:
        if ch.gone:
            return
        ch.hangup_cause = cause
        self._ev(
            "Hangup", ch, ("Cause", str(cause)), ("Cause-txt", HANGUP_CAUSES.get(cause, "Unknown"))
        )
        bridge = ch.bridge
        self.pbx.drop_channel(ch)
        if self.observer is not None:
            self.observer.ended(ch)
        if bridge is not None and ch in bridge.channels:
            bridge.channels.remove(ch)
        if isinstance(ch.call, asyncio.TimerHandle):
            self.cancel(ch.call)
        self._pending_originate.pop(ch.uniqueid, None)
        self._local_answer.pop(ch.uniqueid, None)

    def _bridged_hangup(self, first: Channel, cause: int) -> None:
        """c1: one party of a bridged two-party call hangs up; the other follows."""
        cause = cause or 16
        other = first.peer
        assert other is not None and first.bridge is not None
        br = first.bridge
        for ch in (first, other):
            if "BRIDGEPEER" in ch.vars:
                self.varset(ch, "BRIDGEPEER", "")
                self.varset(ch, "BRIDGEPVTCALLID", "")
        for ch in (first, other):
            br.channels.remove(ch)
            self.pbx.emit("BridgeLeave", "call", br.block() + ch.block())
        first.bridge = other.bridge = None
        dialer = first if isinstance(first.call, DialRun) and first.call.caller is first else other
        run = dialer.call if isinstance(dialer.call, DialRun) else None
        if dialer is other:
            self._dial_done(dialer, run)
            self._ev("SoftHangupRequest", dialer, ("Cause", "16"))
            self._cdr(dialer, run)
            self._qos(dialer, 5)
            self._hangup_plain(dialer, cause)
            self._destroy(br)
            self.refresh(dialer, "dsc qms es")
            self._qos(first, 5)
            self._hangup_plain(first, cause)
            self.refresh(first, "dsc es qms")
        else:
            self._dial_done(dialer, run)
            self._cdr(dialer, run)
            self._qos(dialer, 5)
            self._hangup_plain(dialer, cause)
            self._ev("SoftHangupRequest", other, ("Cause", "16"))
            self._destroy(br)
            self.refresh(dialer, "dsc qms es")
            self._qos(other, 5)
            self._hangup_plain(other, cause)
            self.refresh(other, "dsc es qms")

    def _destroy(self, br: Bridge) -> None:
        self.pbx.bridges.pop(br.uniqueid, None)
        self.pbx.emit("BridgeDestroy", "call", br.block())

    def _dial_done(self, a: Channel, run: DialRun | None) -> None:
        if run is None or run.kind != "dial":
            return
        answered_ms = int((self.now - (a.answered or self.now)) * 1000)
        dialed_ms = int((self.now - run.started) * 1000)
        self.varset(a, "ANSWEREDTIME", str(answered_ms // 1000))
        self.varset(a, "ANSWEREDTIME_MS", str(answered_ms))
        self.varset(a, "DIALEDTIME", str(dialed_ms // 1000))
        self.varset(a, "DIALEDTIME_MS", str(dialed_ms))
        self.varset(a, "DIALSTATUS", "ANSWER")

    def _leg_hangup(self, run: DialRun, b: Channel, cause: int) -> None:
        """A ringing callee goes away before answering (rejected, or hung up by AMI)."""
        a = run.caller
        self.dial_event("DialEnd", a, b, ("DialStatus", "BUSY" if cause == 17 else "NOANSWER"))
        self._hangup_plain(b, cause)
        self.refresh(b)
        run.legs = [leg for leg in run.legs if leg is not b]
        if not run.legs:
            self.cancel(run.timer)
            self.varset(a, "DIALSTATUS", "BUSY" if cause == 17 else "NOANSWER")
            a.call = None
            if run.cont:
                run.cont()

    def _caller_cancel(self, run: DialRun, cause: int, how: str) -> None:
        a = run.caller
        self.cancel(run.timer)
        for b in run.legs:
            if not b.gone:
                self.dial_event("DialEnd", a, b, ("DialStatus", "CANCEL"))
                self._hangup_plain(b, 0)
                self.refresh(b)
        run.legs.clear()
        self.varset(a, "DIALSTATUS", "CANCEL")
        a.call = None
        self.end_unbridged(a, cause if how == "ami" else 16, how=how)

    def _qos(self, ch: Channel, count: int, start: int = 0) -> None:
        if ch.device.startswith("Local/"):
            return
        names = (
            "RTPAUDIOQOS",
            "RTPAUDIOQOSJITTER",
            "RTPAUDIOQOSLOSS",
            "RTPAUDIOQOSRTT",
            "RTPAUDIOQOSMES",
        )
        values = (
            "ssrc=1525660863;themssrc=1149357932;lp=0;rxjitter=0.001000;rxcount=451;"
            "txjitter=0.001250;txcount=450;rlp=0;rtt=0.000000;rxmes=88.087887;txmes=88.087887",
            "minrxjitter=000.000000;maxrxjitter=000.002000;avgrxjitter=000.001128;"
            "stdevrxjitter=000.000211;mintxjitter=000.001000;maxtxjitter=000.001000;"
            "avgtxjitter=000.001000;stdevtxjitter=000.000000;",
            "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;"
            "  stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;"
            "  avgtxlost=000.000000;  stdevtxlost=000.000000;",
            "     minrtt=000.000000;     maxrtt=000.000000;     avgrtt=000.000000;"
            "     stdevrtt=000.000000;",
            "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;"
            "   stdevrxmes=000.000000;   mintxmes=088.087887;   maxtxmes=088.087887;"
            "   avgtxmes=088.087887;   stdevtxmes=000.000000;",
        )
        for i in range(start, start + count):
            self.varset(ch, names[i], values[i])

    def _cdr(self, ch: Channel, run: DialRun | None = None) -> None:
        if ch.vars.get("__cdr") != "1":
            return
        end = self.now
        dest = run.answered if run is not None and run.answered is not None else None
        fmt = "%Y-%m-%d %H:%M:%S"
        start = time.strftime(fmt, time.gmtime(ch.created))
        answer = time.strftime(fmt, time.gmtime(ch.answered)) if ch.answered else ""
        callerid = (
            f'"{ch.caller_name}" <{ch.caller_num}>' if ch.caller_name else f"<{ch.caller_num}>"
        )
        self.pbx.emit(
            "Cdr",
            "cdr",
            [
                ("AccountCode", ch.accountcode),
                ("Source", ch.caller_num),
                ("Destination", ch.vars.get("__cdr_dst", ch.exten)),
                ("DestinationContext", ch.context),
                ("CallerID", callerid),
                ("Channel", ch.name),
                ("DestinationChannel", dest.name if dest else ""),
                ("LastApplication", ch.app),
                ("LastData", ch.appdata),
                ("StartTime", start),
                ("AnswerTime", answer),
                ("EndTime", time.strftime(fmt, time.gmtime(end))),
                ("Duration", str(int(end - ch.created))),
                ("BillableSeconds", str(int(end - ch.answered)) if ch.answered else "0"),
                ("Disposition", "ANSWERED" if ch.answered else "NO ANSWER"),
                ("AMAFlags", "DOCUMENTATION"),
                ("UniqueID", ch.uniqueid),
                ("UserField", ""),
            ],
        )

    # -- calls from phones --------------------------------------------------------------------
    def phone_call(self, caller: str, exten: str, *, context: str | None = None) -> Channel | None:
        """Phone ``caller`` dials ``exten`` (an INVITE arrives): None if it is not online."""
        ep = self.pbx.endpoints.get(caller)
        if ep is None or not ep.online:
            return None
        a = self.pbx.new_channel(
            ep.device,
            endpoint=ep,
            caller_num=ep.name,
            caller_name=ep.callerid_name,
            context=context or ep.context,
            exten=exten,
            state=RING,
        )
        a.vars["__cdr"] = "1"
        self.pbx.processed_calls += 1
        self._ev("Newchannel", a)
        self.refresh(a)
        self.run(a, a.context, exten)
        return a

    def trunk_call(
        self, number: str, exten: str, *, trunk: str = "trunk_1", name: str = ""
    ) -> Channel | None:
        """An outside caller reaches ``exten`` through the trunk (from-trunk context)."""
        ep = self.pbx.endpoints.get(trunk)
        if ep is None:
            return None
        a = self.pbx.new_channel(
            ep.device,
            endpoint=ep,
            caller_num=number,
            caller_name=name,
            context="from-trunk",
            exten=exten,
            state=RING,
        )
        a.vars["__cdr"] = "1"
        self.pbx.processed_calls += 1
        self._ev("Newchannel", a)
        self.run(a, "from-trunk", exten)
        return a

    def hold(self, name: str, on: bool = True) -> bool:
        ch = self.pbx.by_name.get(name)
        if ch is None or ch.gone or ch.state != UP or ch.hold == on:
            return False
        ch.hold = on
        if on:
            self._ev("Hold", ch, ("MusicClass", "default"))
        else:
            self._ev("Unhold", ch)
        self.refresh(ch, "dsc es qms")
        return True

    # -- queues -------------------------------------------------------------------------------
    def queue_join(self, ch: Channel, data: str, cont: Callable[[], None]) -> None:
        pbx = self.pbx
        parts = data.split(",")
        q = pbx.queues.get(parts[0])
        if q is None:
            cont()
            return
        caller = Caller(ch, q, self.now, original_position=len(q.callers) + 1)
        q.callers.append(caller)
        q.calls_total += 1
        qc = QueueCall(caller, cont=cont)
        ch.call = qc
        ch.vars["__cdr_dst"] = ch.exten
        pbx.dsc(f"Queue:{q.name}", "RINGING")
        pbx.log_queue(ch.uniqueid, q.name, "", "ENTERQUEUE", "", ch.caller_num, len(q.callers))
        self._ev(
            "QueueCallerJoin",
            ch,
            ("Queue", q.name),
            ("Position", str(len(q.callers))),
            ("Count", str(len(q.callers))),
            cls="agent",
        )
        self._ev("MusicOnHoldStart", ch, ("Class", "default"))
        if self.observer is not None:
            self.observer.queued(ch)
        max_wait = float(parts[4]) if len(parts) > 4 and parts[4] else 0
        if max_wait:
            qc.timers.append(self.later(max_wait, self._queue_timeout, qc))
        self.queue_ring(q)

    def queue_ring_all(self) -> None:
        for q in self.pbx.queues.values():
            if q.callers:
                self.queue_ring(q)

    def queue_ring(self, q: Queue) -> None:
        """Ring members for waiting callers, in order, while members are free."""
        for caller in list(q.callers):
            qc = caller.channel.call
            if not isinstance(qc, QueueCall) or qc.run is not None or qc.agent is not None:
                continue
            members = self._pick(q)
            if not members:
                # app_queue polls again every ``retry`` seconds while a caller waits.
                for waiting in q.callers:
                    wqc = waiting.channel.call
                    if isinstance(wqc, QueueCall) and wqc.run is None and wqc.retry is None:
                        wqc.retry = self.later(q.retry, self._queue_poll, wqc)
                return
            self._ring(qc, members)

    def free(self, m: Member) -> bool:
        """Whether queue member ``m`` can be rung now (the scenario sizes bursts by it)."""
        if m.paused or m.in_call or m.ringing is not None:
            return False
        if not m.interface.startswith("PJSIP/"):
            return False
        ep = self.pbx.endpoints.get(m.interface[6:])
        if ep is None or not ep.online:
            return False
        return m.status in (0, 1) or (m.ringinuse and m.status not in (4, 5))

    def _pick(self, q: Queue) -> list[Member]:
        ordered = q.ordered_members()
        free = [m for m in ordered if self.free(m)]
        if not free:
            return []
        low = min(m.penalty for m in free)
        free = [m for m in free if m.penalty == low]
        s = q.strategy
        if s == "ringall":
            return free
        if s == "rrmemory" or s == "rrordered":
            for step in range(1, len(ordered) + 1):
                m = ordered[(q.rr_last + step) % len(ordered)]
                if m in free:
                    q.rr_last = ordered.index(m)
                    return [m]
            return []
        if s == "leastrecent":
            return [min(free, key=lambda m: (m.last_call, m.order))]
        if s == "fewestcalls":
            return [min(free, key=lambda m: (m.calls_taken, m.order))]
        if s == "random":
            return [free[self.pbx.rng.randrange(len(free))]]
        return [free[0]]  # linear and anything else

    def _ring(self, qc: QueueCall, members: list[Member]) -> None:
        a = qc.caller.channel
        run = DialRun(a, "queue", self.now)
        qc.run = run
        run.ring_started = qc.rung_since if qc.rung_since is not None else self.now
        qc.rung_since = None
        legs = []
        for m in members:
            ep = self.pbx.endpoints[m.interface[6:]]
            leg = self.pbx.new_channel(
                ep.device,
                endpoint=ep,
                linkedid=a.linkedid,
                caller_num=ep.name,
                caller_name=ep.callerid_name,
                connected_num=a.caller_num,
                connected_name=a.caller_name,
                context=a.context,
                exten=a.exten,
                app="AppQueue",
                appdata="(Outgoing Line)",
            )
            leg.call = qc
            m.ringing = leg
            qc.members[leg.uniqueid] = m
            run.legs.append(leg)
            legs.append((leg, m))
            self._ev("Newchannel", leg)
            self.dial_event("DialBegin", a, leg, ("DialString", m.interface))
            self.dial_event(
                "AgentCalled",
                a,
                leg,
                ("Queue", qc.caller.queue.name),
                ("Interface", m.interface),
                ("MemberName", m.name),
            )
        for leg, _m in legs:
            self.newstate(leg, RINGING)
            self.refresh(leg)
            self.dial_event("DialState", a, leg, ("DialStatus", "RINGING"))
        run.timer = self.later(qc.caller.queue.timeout, self._queue_ring_timeout, qc)
        for leg, _m in legs:
            if (
                leg.endpoint is not None
                and leg.endpoint.auto_answer
                and not leg.gone
                and qc.agent is None
            ):
                self._queue_answered(qc, leg)
            elif self.observer is not None and not leg.gone and qc.agent is None:
                self.observer.ringing(leg)

    def _queue_ring_timeout(self, qc: QueueCall) -> None:
        run = qc.run
        if run is None:
            return
        a = qc.caller.channel
        q = qc.caller.queue
        # f5 (a): RingTime in milliseconds, as queue_log's RINGNOANSWER.
        ring_ms = int((self.now - (run.ring_started or self.now)) * 1000)
        for leg in list(run.legs):
            m = qc.members.pop(leg.uniqueid, None)
            if m is None or leg.gone:
                continue
            self._ring_no_answer(qc, leg, m, ring_ms)
            self.dial_event("DialEnd", a, leg, ("DialStatus", "NOANSWER"))
            m.ringing = None
            self._hangup_plain(leg, 0)
            self.refresh(leg)
        qc.run = None
        qc.timers.append(self.later(q.retry, self._queue_retry, q))

    def _ring_no_answer(self, qc: QueueCall, leg: Channel, m: Member, ring_ms: int) -> None:
        """AgentRingNoAnswer and queue_log's RINGNOANSWER (f5 (a) and (e): milliseconds)."""
        a, q = qc.caller.channel, qc.caller.queue
        self.dial_event(
            "AgentRingNoAnswer",
            a,
            leg,
            ("Queue", q.name),
            ("Interface", m.interface),
            ("MemberName", m.name),
            ("RingTime", str(ring_ms)),
        )
        self.pbx.log_queue(a.uniqueid, q.name, m.interface, "RINGNOANSWER", ring_ms)

    def _queue_retry(self, q: Queue) -> None:
        self.queue_ring(q)

    def _queue_poll(self, qc: QueueCall) -> None:
        qc.retry = None
        if not qc.caller.channel.gone and qc.agent is None:
            self.queue_ring(qc.caller.queue)

    def _queue_answered(self, qc: QueueCall, leg: Channel) -> None:
        """b5: a ringing member answers; the other legs are cancelled and the call bridged."""
        run = qc.run
        if run is None or leg.gone or qc.agent is not None:
            return
        self.cancel(run.timer)
        a = qc.caller.channel
        q = qc.caller.queue
        member = qc.members[leg.uniqueid]
        others = [ch for ch in run.legs if ch is not leg and not ch.gone]
        leg.answered = self.now
        leg.state = UP
        self.refresh(leg, "es")
        self._ev("Newstate", leg)
        self.dial_event("DialEnd", a, leg, ("DialStatus", "ANSWER"))
        for other in others:
            self.dial_event("DialEnd", a, other, ("DialStatus", "CANCEL"))
        a.connected_num, a.connected_name = leg.caller_num, leg.caller_name
        self._ev("NewConnectedLine", a)
        for other in others:
            self.dial_event("DialEnd", a, other, ("DialStatus", "CANCEL"))
        self._ev("MusicOnHoldStop", a)
        self.refresh(leg, "dsc")
        for other in others:
            qc.members.pop(other.uniqueid).ringing = None
            self._hangup_plain(other, 26)
            self.refresh(other, "dsc es")
        member.ringing = None
        # app_queue takes the time once (callstart): CONNECT's and COMPLETE*'s hold are one
        # number (f5: 18 and 18), whatever the clock does in between.
        now = self.now
        hold = int(now - qc.caller.joined)
        ring = int(now - (run.ring_started or now))
        position = q.callers.index(qc.caller) + 1 if qc.caller in q.callers else 1
        self._leave_queue(qc, position)
        self.refresh(leg, "qms")
        for other in others:
            self.refresh(other, "qms")
        self.pbx.log_queue(
            a.uniqueid, q.name, member.interface, "CONNECT", hold, leg.uniqueid, ring
        )
        self.dial_event(
            "AgentConnect",
            a,
            leg,
            ("Queue", q.name),
            ("Interface", member.interface),
            ("MemberName", member.name),
            ("HoldTime", str(hold)),
            ("RingTime", str(ring)),
        )
        # app_queue recalc_holdtime(): an exponential average over callers.
        q.holdtime = (q.holdtime * 3 + hold) // 4
        qc.in_sl = hold <= q.servicelevel
        member.in_call = True
        qc.agent, qc.agent_channel, qc.connected_at = member, leg, now
        run.answered = leg
        a.peer, leg.peer = leg, a
        self.bridge(leg, a)
        if self.observer is not None:
            self.observer.answered(a, leg)

    def _leave_queue(self, qc: QueueCall, position: int) -> None:
        q = qc.caller.queue
        if qc.caller in q.callers:
            q.callers.remove(qc.caller)
        for t in qc.timers:
            self.cancel(t)
        qc.timers.clear()
        self.cancel(qc.retry)
        qc.retry = None
        if not q.callers:
            self.pbx.dsc(f"Queue:{q.name}", "NOT_INUSE")
        self._ev(
            "QueueCallerLeave",
            qc.caller.channel,
            ("Queue", q.name),
            ("Position", str(position)),
            ("Count", str(len(q.callers))),
            cls="agent",
        )

    def _queue_timeout(self, qc: QueueCall) -> None:
        """The caller waited the Queue() timeout: it leaves and the dialplan goes on."""
        if qc.agent is not None or qc.caller.channel.gone:
            return
        self._cancel_legs(qc)
        a = qc.caller.channel
        q = qc.caller.queue
        self._ev("MusicOnHoldStop", a)
        position = q.callers.index(qc.caller) + 1 if qc.caller in q.callers else 1
        # app_queue calls record_abandoned() for a timeout too: QueueCallerAbandon, and the
        # abandoned counter; then QUEUESTATUS once the caller has left.
        hold = int(self.now - qc.caller.joined)
        self._abandoned(qc, position, hold)
        self.pbx.log_queue(
            a.uniqueid, q.name, "", "EXITWITHTIMEOUT", position, qc.caller.original_position, hold
        )
        self._leave_queue(qc, position)
        self.varset(a, "QUEUESTATUS", "TIMEOUT")
        a.call = None
        if qc.cont:
            qc.cont()
        self.queue_ring(qc.caller.queue)

    def _abandoned(self, qc: QueueCall, position: int, hold: int) -> None:
        """app_queue record_abandoned(): the event and the queue's counters."""
        q = qc.caller.queue
        self._ev(
            "QueueCallerAbandon",
            qc.caller.channel,
            ("Queue", q.name),
            ("Position", str(position)),
            ("OriginalPosition", str(qc.caller.original_position)),
            ("HoldTime", str(hold)),
            cls="agent",
        )
        q.abandoned += 1
        if hold <= q.servicelevel:
            q.abandoned_in_sl += 1

    def _cancel_legs(self, qc: QueueCall, *, log: bool = False) -> None:
        """Stop ringing the members; ``log``: the caller hung up (f5 (b): RINGCANCELED, and
        app_queue's DialEnd CANCEL twice)."""
        run = qc.run
        if run is None:
            return
        self.cancel(run.timer)
        a = qc.caller.channel
        for leg in run.legs:
            if leg.gone:
                continue
            self.dial_event("DialEnd", a, leg, ("DialStatus", "CANCEL"))
            m = qc.members.pop(leg.uniqueid, None)
            if log:
                self.dial_event("DialEnd", a, leg, ("DialStatus", "CANCEL"))
                if m is not None:
                    ring_ms = int((self.now - (run.ring_started or self.now)) * 1000)
                    self.pbx.log_queue(
                        a.uniqueid, qc.caller.queue.name, m.interface, "RINGCANCELED", ring_ms
                    )
            if m is not None:
                m.ringing = None
            self._hangup_plain(leg, 0)
            self.refresh(leg)
        qc.run = None

    def _queue_hangup(self, qc: QueueCall, ch: Channel, cause: int, how: str) -> None:
        q = qc.caller.queue
        a = qc.caller.channel
        if qc.agent is None:
            if ch is a:  # the caller abandons
                self._cancel_legs(qc, log=True)
                self._ev("MusicOnHoldStop", a)
                position = q.callers.index(qc.caller) + 1 if qc.caller in q.callers else 1
                hold = int(self.now - qc.caller.joined)
                self._abandoned(qc, position, hold)
                self.pbx.log_queue(
                    a.uniqueid, q.name, "", "ABANDON", position, qc.caller.original_position, hold
                )
                self._leave_queue(qc, position)
                a.call = None
                if how == "ami":
                    self._ev("SoftHangupRequest", a, ("Cause", "16"))
                self._cdr(a)
                self._hangup_plain(a, cause if how == "ami" else 16)
                self.refresh(a)
                self.queue_ring(q)
                return
            # f5 (e): a ringing member declines (or is hung up): logged exactly as a ring
            # timeout, and the next member rings at once, with no retry wait.
            m = qc.members.pop(ch.uniqueid, None)
            run = qc.run
            if m is not None:
                m.ringing = None
                self.dial_event("DialEnd", a, ch, ("DialStatus", "NOANSWER"))
                ring_ms = int((self.now - ((run and run.ring_started) or self.now)) * 1000)
                self._ring_no_answer(qc, ch, m, ring_ms)
                self._hangup_plain(ch, cause)
                self.refresh(ch)
            if run is not None:
                run.legs = [leg for leg in run.legs if not leg.gone]
                if not run.legs:
                    self.cancel(run.timer)
                    qc.run = None
                    qc.rung_since = run.ring_started
                    self.queue_ring(q)
            return
        self._queue_complete(qc, ch, cause, how)

    def _queue_complete(self, qc: QueueCall, first: Channel, cause: int, how: str) -> None:
        """b5: the caller (or the agent) hangs up a connected queue call."""
        q = qc.caller.queue
        a = qc.caller.channel
        leg = qc.agent_channel
        member = qc.agent
        assert leg is not None and member is not None
        br = a.bridge
        talk = int(self.now - qc.connected_at)
        hold = int(qc.connected_at - qc.caller.joined)
        reason = "caller" if first is a else "agent"
        self.pbx.log_queue(
            a.uniqueid,
            q.name,
            member.interface,
            "COMPLETECALLER" if first is a else "COMPLETEAGENT",
            hold,
            talk,
            qc.caller.original_position,
        )
        self.dial_event(
            "AgentComplete",
            a,
            leg,
            ("Queue", q.name),
            ("Interface", member.interface),
            ("MemberName", member.name),
            ("HoldTime", str(hold)),
            ("TalkTime", str(talk)),
            ("Reason", reason),
        )
        other = leg if first is a else a
        if br is not None:
            br.channels.remove(first)
            self.pbx.emit("BridgeLeave", "call", br.block() + first.block())
        if how == "ami" or first is a:
            self._ev("SoftHangupRequest", first, ("Cause", "16"))
        if br is not None:
            br.channels.remove(other)
            self.pbx.emit("BridgeLeave", "call", br.block() + other.block())
            self._destroy(br)
        a.bridge = leg.bridge = None
        # app_queue update_queue(): counters move when the call ends, before the device states.
        now = int(self.now)
        member.calls_taken += 1
        member.last_call = now
        member.in_call = False
        member.talk_time += talk
        q.completed += 1
        if qc.in_sl:
            q.completed_in_sl += 1
        q.talktime = (q.talktime * 3 + talk) // 4
        self._cdr(a, qc.run)
        for ch in (leg, a):
            self._hangup_plain(ch, 16 if how == "phone" else cause or 16)
        a.call = leg.call = None
        self.refresh(leg, "es")
        self.refresh(a, "es")
        self.refresh(leg, "dsc")
        self.refresh(a, "dsc")
        self.pbx.member_status(member, force=True)
        self.refresh(leg, "qms")
        self.refresh(a, "qms")
        self.queue_ring(q)
