"""Serve a lab transcript's scenario: its unsolicited events, verbatim, at their original pace.

The simulator starts from the lab state (:func:`monitor.sim.lab.build_lab`). The transcript's
server packets are walked in time order (scaled by ``speed``):

- an event without ActionID is sent, byte for byte, to every session whose read classes and
  event mask take its ``Privilege`` class, and applied to the model;
- a list item (it carries the lab client's ActionID) is not sent, but applied to the model:
  it is the lab PBX's own account of its state at that moment (b5's QueueStatus and
  CoreShowChannels describe calls that started before the capture);
- responses are skipped. ``FullyBooted`` is skipped too: Asterisk writes it to the session
  that logs in, it is not an event of the PBX.

So list actions sent to the simulator during or after a replay answer with the state the lab
PBX had at that point, and ``sim.snapshot()`` ends where the lab ended. Counters that no event
carries are inferred: ``AgentComplete`` counts a completed call, ``QueueCallerAbandon`` an
abandoned one (app_queue moves both counters at those moments).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.ami.packet import Packet
from monitor.ami.parser import Parser

from .model import Bridge, Caller, Channel, Contact, Member
from .transcript import Transcript, transcripts_dir
from .users import CLASSES

if TYPE_CHECKING:
    from .pbx import Pbx
    from .server import PbxSimulator


@dataclass
class Item:
    t: float
    raw: bytes
    packet: Packet


def items(transcript: Transcript, conn: int | None = None) -> list[Item]:
    """The server packets of one connection (the busiest by default), with their bytes."""
    if conn is None:
        counts: dict[int, int] = {}
        for r in transcript.records:
            if r.kind == "S":
                counts[r.conn] = counts.get(r.conn, 0) + 1
        conn = max(counts, key=counts.__getitem__) if counts else 1
    out: list[Item] = []
    chunk = bytearray()
    start = 0.0
    for r in transcript.records:
        if r.kind != "S" or r.conn != conn:
            continue
        if r.text.startswith("Asterisk Call Manager/") and not chunk:
            continue
        if not chunk:
            start = r.t
        chunk += r.wire
        if r.text == "" and r.ending:
            data = bytes(chunk)
            chunk.clear()
            if not data.strip():
                continue
            parser = Parser(expect_banner=False, keep_key_case=True)
            parser.feed(data)
            parsed = [p for p in parser.packets() if isinstance(p, Packet)]
            if parsed:
                out.append(Item(start, data, parsed[0]))
    return out


def load(path: str | Path) -> Transcript:
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = transcripts_dir() / f"{p.name}.txt"
    elif not p.exists():
        p = transcripts_dir() / p.name
    return Transcript.load(p)


class Replay:
    def __init__(self, server: PbxSimulator, transcript: Transcript, *, speed: float = 1.0) -> None:
        self.server = server
        self.transcript = transcript
        self.speed = speed
        self.items = items(transcript)
        self.sent = 0
        self.applied = 0
        self.position = 0  # index of the next packet
        self.done = asyncio.Event()

    async def run(self, until: float | None = None) -> None:
        """Play the packets (from where the last call stopped) up to transcript time ``until``
        seconds, or to the end; pauses between packets follow the lab's timing / ``speed``."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        t0 = self.items[self.position].t if self.position < len(self.items) else 0.0
        while self.position < len(self.items):
            item = self.items[self.position]
            if until is not None and item.t > until:
                return
            delay = (item.t - t0) / self.speed - (loop.time() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            self.position += 1
            self.step(item)
        self.done.set()

    def step(self, item: Item) -> None:
        p = item.packet
        if p.is_response or p.name == "FullyBooted":
            return
        apply(self.server.pbx, p)
        self.applied += 1
        if p.is_event and "actionid" not in p.fields:
            cls = (p.get("Privilege") or "system").split(",")[0].lower()
            self.server.pbx.send_raw(CLASSES.get(cls, CLASSES["system"]), item.raw)
            self.sent += 1


# -- the model, updated from what the PBX said --------------------------------------------------
QUEUE_PARAMS = (
    ("Holdtime", "holdtime"),
    ("TalkTime", "talktime"),
    ("Completed", "completed"),
    ("Abandoned", "abandoned"),
    ("Max", "max"),
    ("ServiceLevel", "servicelevel"),
    ("Weight", "weight"),
)


def _channel(pbx: Pbx, p: Packet, prefix: str = "") -> Channel | None:
    name = p.get(prefix + "Channel")
    uid = p.get(prefix + "Uniqueid")
    if not name or not uid or uid == "<unknown>":
        return None
    ch = pbx.channels.get(uid)
    if ch is None:
        ep = None
        if name.startswith("PJSIP/"):
            ep = pbx.endpoints.get(name[6:].rsplit("-", 1)[0])
        ch = Channel(name, uid, p.get(prefix + "Linkedid") or uid, pbx.clock(), endpoint=ep)
        if ep is not None:
            ch.device = ep.device
            ep.channels[uid] = ch
        elif name.startswith("Local/"):
            ch.device = name.rsplit("-", 1)[0]
        pbx.channels[uid] = ch
        pbx.by_name[name] = ch
    state = p.get(prefix + "ChannelState")
    if state and state.isdigit():
        ch.state = int(state)

    def text(key: str) -> str:
        value = p.get(prefix + key) or ""
        return "" if value == "<unknown>" else value

    ch.caller_num, ch.caller_name = text("CallerIDNum"), text("CallerIDName")
    ch.connected_num, ch.connected_name = text("ConnectedLineNum"), text("ConnectedLineName")
    ch.context, ch.exten = text("Context"), text("Exten")
    prio = p.get(prefix + "Priority") or "1"
    ch.priority = int(prio) if prio.isdigit() else 1
    return ch


def _member(pbx: Pbx, p: Packet, *, create: bool = False) -> Member | None:
    q = pbx.queues.get(p.get("Queue") or "")
    interface = p.get("Interface") or p.get("Location") or ""
    if q is None or not interface:
        return None
    m = q.members.get(interface)
    if m is None and create:
        m = pbx.new_member(
            q, interface, p.get("MemberName") or p.get("Name") or "", p.get("StateInterface") or ""
        )
    if m is None:
        return None
    ints = {
        "Penalty": "penalty",
        "CallsTaken": "calls_taken",
        "LastCall": "last_call",
        "LastPause": "last_pause",
        "LoginTime": "login_time",
        "Status": "status",
        "Wrapuptime": "wrapuptime",
    }
    for key, attr in ints.items():
        value = p.get(key)
        if value is not None and value.lstrip("-").isdigit():
            setattr(m, attr, int(value))
    for key, attr in (("InCall", "in_call"), ("Paused", "paused"), ("Ringinuse", "ringinuse")):
        value = p.get(key)
        if value is not None:
            setattr(m, attr, value == "1")
    if p.get("PausedReason") is not None:
        m.paused_reason = p.get("PausedReason") or ""
    if p.get("Membership"):
        m.membership = p.get("Membership") or m.membership
    return m


def apply(pbx: Pbx, p: Packet) -> None:  # noqa: C901 - one branch per event, flat on purpose
    """Update the model from one event or list item, without emitting anything."""
    name = p.name
    if name in ("Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "Newexten", "VarSet",
                "SoftHangupRequest", "HangupRequest", "MusicOnHoldStart", "MusicOnHoldStop",
                "CoreShowChannel", "Status", "UserEvent"):  # fmt: skip
        ch = _channel(pbx, p)
        if ch is not None and name in ("Newexten", "CoreShowChannel", "Status"):
            ch.app = p.get("Application") or ch.app
            ch.appdata = p.get("AppData") or p.get("ApplicationData") or p.get("Data") or ""
        if ch is not None and name == "CoreShowChannel" and p.get("BridgeId"):
            ch.bridge = _bridge(pbx, p.get("BridgeId") or "", ch)
    elif name in ("DialBegin", "DialState", "DialEnd", "AgentCalled", "AgentRingNoAnswer"):
        _channel(pbx, p)
        _channel(pbx, p, "Dest")
    elif name == "Hangup":
        ch = _channel(pbx, p)
        if ch is not None:
            if ch.bridge is not None and ch in ch.bridge.channels:
                ch.bridge.channels.remove(ch)
            pbx.drop_channel(ch)
    elif name in ("Hold", "Unhold"):
        ch = _channel(pbx, p)
        if ch is not None:
            ch.hold = name == "Hold"
    elif name in ("BridgeEnter", "BridgeLeave"):
        ch = _channel(pbx, p)
        if ch is not None:
            br = _bridge(pbx, p.get("BridgeUniqueid") or "", ch)
            if name == "BridgeEnter":
                ch.bridge = br
            else:
                if ch in br.channels:
                    br.channels.remove(ch)
                ch.bridge = None
                if not br.channels:
                    pbx.bridges.pop(br.uniqueid, None)
    elif name == "DeviceStateChange":
        device, state = p.get("Device") or "", p.get("State") or ""
        if device and state:
            pbx.set_device(device, state)
    elif name == "ExtensionStatus":
        hint = pbx.hints.get(f"{p.get('Exten')}@{p.get('Context')}")
        status = p.get("Status") or ""
        if hint is not None and status.lstrip("-").isdigit():
            hint.status = int(status)
    elif name in (
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
        "QueueMember",
    ):
        _member(pbx, p, create=name == "QueueMember")
    elif name == "QueueMemberAdded":
        _member(pbx, p, create=True)
    elif name == "QueueMemberRemoved":
        m = _member(pbx, p)
        if m is not None:
            pbx.drop_member(m)
    elif name in ("QueueCallerJoin", "QueueEntry"):
        q = pbx.queues.get(p.get("Queue") or "")
        ch = (
            _channel(pbx, p)
            if name == "QueueCallerJoin"
            else pbx.channels.get(p.get("Uniqueid") or "")
        )
        if ch is None and name == "QueueEntry":
            ch = Channel(
                p.get("Channel") or "",
                p.get("Uniqueid") or "",
                p.get("Uniqueid") or "",
                pbx.clock(),
            )
            ch.caller_num, ch.caller_name = p.get("CallerIDNum") or "", p.get("CallerIDName") or ""
        if (
            q is not None
            and ch is not None
            and all(c.channel.uniqueid != ch.uniqueid for c in q.callers)
        ):
            wait = p.get("Wait") or "0"
            joined = pbx.clock() - (int(wait) if wait.isdigit() else 0)
            q.callers.append(Caller(ch, q, joined, len(q.callers) + 1))
    elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
        q = pbx.queues.get(p.get("Queue") or "")
        uid = p.get("Uniqueid")
        if q is not None:
            q.callers = [c for c in q.callers if c.channel.uniqueid != uid]
            if name == "QueueCallerAbandon":
                q.abandoned += 1
    elif name == "AgentConnect":
        m = _member(pbx, p)
        if m is not None:
            m.in_call = True
    elif name == "AgentComplete":
        m = _member(pbx, p)
        q = pbx.queues.get(p.get("Queue") or "")
        if m is not None:
            m.in_call = False
        if q is not None:
            q.completed += 1
    elif name == "QueueParams":
        q = pbx.queues.get(p.get("Queue") or "")
        if q is not None:
            for key, attr in QUEUE_PARAMS:
                value = p.get(key) or ""
                if value.isdigit():
                    setattr(q, attr, int(value))
            # The service-level counters only show as percentages; turn them back into counts.
            perf, perf2 = _float(p.get("ServicelevelPerf")), _float(p.get("ServicelevelPerf2"))
            q.completed_in_sl = round(perf * q.completed / 100)
            both = round(perf2 * (q.completed + q.abandoned) / 100)
            q.abandoned_in_sl = max(0, both - q.completed_in_sl)
    elif name in ("ContactStatus", "ContactStatusDetail", "ContactList"):
        _contact(pbx, p)
    elif name == "PeerStatus":
        ep = pbx.endpoints.get((p.get("Peer") or "").partition("/")[2])
        if ep is not None:
            ep.online = p.get("PeerStatus") == "Reachable"


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def _bridge(pbx: Pbx, uid: str, ch: Channel) -> Bridge:
    br = pbx.bridges.get(uid)
    if br is None:
        br = pbx.bridges[uid] = Bridge(uid)
    if ch not in br.channels:
        br.channels.append(ch)
    return br


def _contact(pbx: Pbx, p: Packet) -> None:
    aor = p.get("AOR") or p.get("Endpoint") or ""
    ep = pbx.endpoints.get(p.get("EndpointName") or aor)
    uri = p.get("URI") or p.get("Uri") or ""
    status = p.get("ContactStatus") or p.get("Status") or ""
    if ep is None or not uri:
        return
    found = next((c for c in ep.contacts if c.uri == uri), None)
    if status == "Removed":
        if found is not None:
            ep.contacts.remove(found)
        return
    if found is None:
        found = Contact(aor=ep.name, uri=uri, status=status)
        port = uri.rsplit(":", 1)[-1]
        found.via_port = int(port) if port.isdigit() else 5060
        ep.contacts.append(found)
    found.status = status
    rtt = p.get("RoundtripUsec") or ""
    found.rtt_usec = int(rtt) if rtt.isdigit() else 0
