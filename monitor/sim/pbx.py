"""The simulated PBX: its state, the events it emits, and the operations that are not calls.

Rules:

- Every change goes through a method here (or in :mod:`monitor.sim.calls`) that emits the
  events Asterisk emits, in the order the lab transcripts show. Events are formatted once
  and handed to ``listeners`` (the AMI server) with their class bit.
- Device state is derived, never stored by hand: :meth:`Pbx.refresh` recomputes a device and
  emits, in the order asked for, ``DeviceStateChange`` (when the cached state changed),
  ``ExtensionStatus`` (when a hint's status changed) and ``QueueMemberStatus`` (for each
  member whose state interface it is). Asterisk publishes the three from different threads,
  so the transcripts show them in varying orders; callers pick the order of the scenario.
- Per-event work is O(1) in the size of the PBX: members and hints are indexed by device.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable

from monitor.ami.protocol import encode_packet

from . import dialects, queuelog
from .model import (
    DEVICE_STATES,
    EXTEN_STATE,
    EXTEN_TEXT,
    Bridge,
    Channel,
    Contact,
    Endpoint,
    Hint,
    Member,
    Queue,
    device_order,
    hint_order,
    queue_order,
)
from .users import CLASSES

Listener = Callable[[int, bytes], None]
QUEUE_LOG_LINES = 500_000  # the queue_log lines kept (a busy day of a large centre)


def _event_tv(ts: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}+0000"
    )


Pairs = list[tuple[str, str]]


class Pbx:
    """State of one simulated PBX. Not thread-safe: it lives on the server's event loop."""

    def __init__(
        self,
        *,
        dialect: dialects.Dialect = dialects.ASTERISK,
        clock: Callable[[], float] = time.time,
        timestampevents: bool = False,
        seed: int | None = None,
        boot_age: float = 5.0,
    ) -> None:
        self.dialect = dialect
        self.rng = random.Random(seed)
        self.clock = clock
        self.timestampevents = timestampevents
        self.endpoints: dict[str, Endpoint] = {}
        self.queues: dict[str, Queue] = {}
        self.hints: dict[str, Hint] = {}  # "exten@context"
        self.devices: dict[str, str] = {}  # the device-state cache, never shrinks
        self.channels: dict[str, Channel] = {}  # by uniqueid
        self.bridges: dict[str, Bridge] = {}
        self.by_name: dict[str, Channel] = {}
        self.globals: dict[str, str] = {}
        self.listeners: list[Listener] = []
        # The lab's sessions saw a PBX that had been up a few seconds (Uptime 4 in a1).
        self.boot_time = clock() - boot_age
        self.reload_time = self.boot_time
        self.processed_calls = 0
        self.events_emitted = 0
        # Asterisk's queue_log, line by line (monitor.sim.queuelog): the tally the recorder's
        # rows are held against. Bounded: a demo runs for days.
        self.queue_log: deque[str] = deque(maxlen=QUEUE_LOG_LINES)
        self._members_by_device: dict[str, list[Member]] = {}
        self._hints_by_device: dict[str, list[Hint]] = {}
        self._device_keys: dict[str, int] = {}
        self._device_sorted: list[str] | None = None
        self._queue_sorted: list[Queue] | None = None
        self._hint_sorted: list[Hint] | None = None
        self._ep_sorted: list[Endpoint] | None = None
        self._chan_seq = 0
        self._uid_seq = 0
        self._member_seq = 0
        from .calls import CallEngine  # calls.py drives this object; import late to avoid a cycle

        self.calls = CallEngine(self)

    # -- events -----------------------------------------------------------------------------
    def log_queue(self, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        """Append a queue_log line, as app_queue's ast_queue_log() writes it."""
        self.queue_log.append(queuelog.line(self.clock(), callid, queue, agent, event, *data))

    def emit(self, name: str, cls: str, pairs: Iterable[tuple[str, str]]) -> None:
        head = [("Event", name), ("Privilege", f"{cls},all")]
        if self.timestampevents:
            head.append(("Timestamp", f"{self.clock():.6f}"))
        self.send_raw(CLASSES[cls], encode_packet(head + list(pairs)))

    def send_raw(self, category: int, data: bytes) -> None:
        """Hand an already formatted event to every listener (replay and faults use this)."""
        self.events_emitted += 1
        for listener in self.listeners:
            listener(category, data)

    # -- building -----------------------------------------------------------------------------
    def add_endpoint(self, ep: Endpoint) -> Endpoint:
        self.endpoints[ep.name] = ep
        self.set_device(ep.device, ep.device_state())
        return ep

    def add_hint(self, exten: str, device: str, context: str = "ext-local") -> Hint:
        hint = Hint(exten, context, device)
        hint.status = self._hint_status(hint)
        self.hints[f"{exten}@{context}"] = hint
        self._hints_by_device.setdefault(device, []).append(hint)
        return hint

    def add_queue(self, queue: Queue) -> Queue:
        self.queues[queue.name] = queue
        self.set_device(f"Queue:{queue.name}_avail", self._avail_state(queue))
        return queue

    def new_member(
        self,
        queue: Queue,
        interface: str,
        name: str = "",
        state_interface: str = "",
        *,
        membership: str = "static",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
        login_time: int | None = None,
    ) -> Member:
        """Add a member without events (configuration, boot); QueueAdd uses :meth:`queue_add`."""
        self._member_seq += 1
        now = int(self.clock())
        member = Member(
            queue,
            interface,
            name or interface,
            state_interface or interface,
            membership=membership,
            penalty=penalty,
            paused=paused,
            paused_reason=reason if paused else "",
            last_pause=now if paused else 0,
            login_time=int(self.boot_time) if login_time is None else login_time,
            order=self._member_seq,
        )
        member.status = self.device_number(member.state_interface)
        queue.members[interface] = member
        queue.members_changed()
        self._members_by_device.setdefault(member.state_interface, []).append(member)
        self.set_device(self._pause_device(member), "INUSE" if paused else "NOT_INUSE")
        self.set_device(f"Queue:{queue.name}_avail", self._avail_state(queue))
        return member

    # -- device state -------------------------------------------------------------------------
    def device_state(self, device: str) -> str:
        """The current state of a device, computed from the model where it can be."""
        if device.startswith("PJSIP/"):
            ep = self.endpoints.get(device[6:])
            return ep.device_state() if ep else "INVALID"
        return self.devices.get(device, "UNKNOWN" if device.startswith("Queue:") else "INVALID")

    def device_number(self, device: str) -> int:
        return DEVICE_STATES.get(self.device_state(device), (0, ""))[0]

    def set_device(self, device: str, state: str) -> bool:
        """Update the device-state cache without an event; True if the state changed."""
        if device not in self._device_keys:
            self._device_keys[device] = device_order(device)
            self._device_sorted = None
        changed = self.devices.get(device) != state
        self.devices[device] = state
        return changed

    def devices_in_order(self) -> list[str]:
        if self._device_sorted is None:
            self._device_sorted = sorted(self.devices, key=self._device_keys.__getitem__)
        return self._device_sorted

    def dsc(self, device: str, state: str | None = None, *, force: bool = False) -> None:
        """Publish a device state; DeviceStateChange only when the cached value changes."""
        state = self.device_state(device) if state is None else state
        if self.set_device(device, state) or force:
            self.emit("DeviceStateChange", "call", [("Device", device), ("State", state)])

    def refresh(self, device: str, steps: str = "dsc es qms") -> None:
        """Bring the observers of ``device`` up to date, in the order of ``steps``."""
        for step in steps.split():
            if step == "dsc":
                self.dsc(device)
            elif step == "es":
                self.extension_status(device)
            elif step == "qms":
                for member in self._members_by_device.get(device, ()):
                    self.member_status(member)

    def extension_status(self, device: str) -> None:
        for hint in self._hints_by_device.get(device, ()):
            status = self._hint_status(hint)
            if status != hint.status:
                hint.status = status
                self.emit("ExtensionStatus", "call", self.hint_block(hint))

    def hint_block(self, hint: Hint) -> Pairs:
        return [
            ("Exten", hint.exten),
            ("Context", hint.context),
            ("Hint", hint.device),
            ("Status", str(hint.status)),
            ("StatusText", EXTEN_TEXT.get(hint.status, "Unknown")),
        ]

    def _hint_status(self, hint: Hint) -> int:
        return EXTEN_STATE.get(self.device_state(hint.device), 4)

    def member_status(self, member: Member, *, force: bool = False) -> None:
        """QueueMemberStatus when the member's device state number changed (or ``force``)."""
        status = self.device_number(member.state_interface)
        if status == member.status and not force:
            return
        member.status = status
        self.emit("QueueMemberStatus", "agent", member.block(self.dialect.member_key))
        self.queue_avail(member.queue)

    def queue_avail(self, queue: Queue) -> None:
        device = f"Queue:{queue.name}_avail"
        if self.set_device(device, self._avail_state(queue)):
            self.emit(
                "DeviceStateChange", "call", [("Device", device), ("State", self.devices[device])]
            )
            self.extension_status(device)

    @staticmethod
    def _avail_state(queue: Queue) -> str:
        # app_queue is_member_available(): a member counts unless paused or busy (ringinuse off).
        for m in queue.members.values():
            if m.paused or m.status in (4, 5):
                continue
            if m.status in (0, 1) or m.ringinuse:
                return "NOT_INUSE"
        return "INUSE"

    @staticmethod
    def _pause_device(member: Member) -> str:
        return f"Queue:{member.queue.name}_pause_{member.interface}"

    # -- channels -----------------------------------------------------------------------------
    def new_channel(
        self,
        name_prefix: str,
        *,
        linkedid: str | None = None,
        endpoint: Endpoint | None = None,
        local_pair: bool = False,
        **fields: object,
    ) -> Channel:
        """A channel with Asterisk's naming: ``<prefix>-%08x`` from one global counter."""
        if not local_pair:
            self._chan_seq += 1
        name = f"{name_prefix}-{self._chan_seq:08x}"
        return self._register_channel(name, linkedid, endpoint, **fields)

    def local_pair(self, target: str, **fields: object) -> tuple[Channel, Channel]:
        self._chan_seq += 1
        base = f"Local/{target}-{self._chan_seq:08x}"
        one = self._register_channel(f"{base};1", None, None, **fields)
        two = self._register_channel(f"{base};2", one.linkedid, None, **fields)
        one.device = two.device = f"Local/{target}"
        return one, two

    def _register_channel(
        self, name: str, linkedid: str | None, endpoint: Endpoint | None, **fields: object
    ) -> Channel:
        now = self.clock()
        uid = f"{int(now)}.{self._uid_seq}"
        self._uid_seq += 1
        ch = Channel(name, uid, linkedid or uid, now, endpoint=endpoint, **fields)  # type: ignore[arg-type]
        if endpoint is not None:
            ch.device = endpoint.device
            endpoint.channels[uid] = ch
        self.channels[uid] = ch
        self.by_name[name] = ch
        return ch

    def drop_channel(self, ch: Channel) -> None:
        ch.gone = True
        self.channels.pop(ch.uniqueid, None)
        if self.by_name.get(ch.name) is ch:
            del self.by_name[ch.name]
        if ch.endpoint is not None:
            ch.endpoint.channels.pop(ch.uniqueid, None)

    def next_uniqueid_peek(self) -> str:
        return f"{int(self.clock())}.{self._uid_seq}"

    # -- registrations ------------------------------------------------------------------------
    def contact_status(self, ep: Endpoint, contact: Contact, status: str, rtt: int = 0) -> None:
        contact.status = status
        if status != "Reachable":
            rtt = 0
        contact.rtt_usec = rtt
        self.emit(
            "ContactStatus",
            "system",
            [
                ("URI", contact.uri),
                ("ContactStatus", status),
                ("AOR", contact.aor),
                ("EndpointName", ep.name),
                ("RoundtripUsec", str(rtt)),
            ],
        )

    def peer_status(self, ep: Endpoint, status: str) -> None:
        self.emit(
            "PeerStatus",
            "system",
            [("ChannelType", "PJSIP"), ("Peer", ep.device), ("PeerStatus", status)],
        )

    def sip_auth(self, ep: Endpoint, contact: Contact | None, count: int = 1) -> None:
        """The security events of ``count`` authenticated REGISTERs (c4: ChallengeSent and
        SuccessfulAuth with ``Service: PJSIP``)."""
        port = contact.via_port if contact else 5060
        call_id = contact.call_id if contact else ""
        common = [
            ("Service", "PJSIP"),
            ("EventVersion", "1"),
            ("AccountID", ep.name),
            ("SessionID", call_id),
            ("LocalAddress", "IPV4/UDP/127.0.0.1/5060"),
            ("RemoteAddress", f"IPV4/UDP/127.0.0.1/{port}"),
        ]
        for _ in range(count):
            tv = _event_tv(self.clock())
            self.emit(
                "ChallengeSent",
                "security",
                [("EventTV", tv), ("Severity", "Informational"), *common, ("Challenge", "")],
            )
            self.emit(
                "SuccessfulAuth",
                "security",
                [("EventTV", tv), ("Severity", "Informational"), *common, ("UsingPassword", "1")],
            )

    def reregister(self, name: str) -> None:
        """A phone refreshes its registration: only the two security events show it."""
        ep = self.endpoints[name]
        if ep.contacts:
            self.sip_auth(ep, ep.contacts[0])

    def unregister(self, name: str, *, sip_auth: int = 0) -> None:
        """The phone sends REGISTER with Expires: 0 (c4: baresip quits)."""
        ep = self.endpoints[name]
        if sip_auth:
            self.sip_auth(ep, ep.contacts[0] if ep.contacts else None, sip_auth)
        contacts, ep.contacts = ep.contacts, []
        was_online, ep.online = ep.online, False
        self.refresh(ep.device, "es")
        if was_online:
            self.peer_status(ep, "Unreachable")
        for contact in contacts:
            self.contact_status(ep, contact, "Removed")
        self.refresh(ep.device, "dsc qms")

    def register(
        self, name: str, uri: str | None = None, *, rtt: int = 1330, sip_auth: int = 0
    ) -> Contact:
        """A phone registers (c4: NonQualified, PeerStatus Reachable, then the OPTIONS reply)."""
        ep = self.endpoints[name]
        now = int(self.clock())
        rng = self.rng
        port = rng.randrange(5100, 5900)
        contact = Contact(
            aor=name,
            uri=uri or f"sip:{name}-0x{rng.getrandbits(44):x}@127.0.0.1:{port}",
            status="NonQualified",
            rtt_usec=0,
            call_id=f"{rng.getrandbits(64):016x}",
            hash=f"{rng.getrandbits(128):032x}",
            expiration=now + 3600,
            via_port=port,
        )
        if uri:
            contact.via_port = (
                int(uri.rsplit(":", 1)[1]) if uri.rsplit(":", 1)[1].isdigit() else port
            )
        if sip_auth:
            self.sip_auth(ep, contact, sip_auth)
        ep.contacts = [contact]
        self.contact_status(ep, contact, "NonQualified")
        if not ep.online:
            ep.online = True
            self.peer_status(ep, "Reachable")
        self.refresh(ep.device, "es dsc qms")
        self.contact_status(ep, contact, "Reachable", rtt)
        return contact

    def unreachable(self, name: str) -> None:
        """Qualify OPTIONS go unanswered (c4: the phone is frozen)."""
        ep = self.endpoints[name]
        ep.online = False
        self.refresh(ep.device, "es")
        self.peer_status(ep, "Unreachable")
        for contact in ep.contacts:
            self.contact_status(ep, contact, "Unreachable")
        self.refresh(ep.device, "dsc qms")

    def reachable(self, name: str, *, rtt: int = 686, sip_auth: int = 0) -> None:
        """The phone answers OPTIONS again (c4: SIGCONT, after a few re-REGISTERs)."""
        ep = self.endpoints[name]
        if sip_auth:
            self.sip_auth(ep, ep.contacts[0] if ep.contacts else None, sip_auth)
        ep.online = True
        self.peer_status(ep, "Reachable")
        self.refresh(ep.device, "dsc es qms")
        for contact in ep.contacts:
            self.contact_status(ep, contact, "Reachable", rtt)

    # -- queue members ------------------------------------------------------------------------
    def queues_in_order(self) -> list[Queue]:
        """Queues as app_queue iterates them (QueueStatus, QueueSummary, pause in all queues)."""
        if self._queue_sorted is None or len(self._queue_sorted) != len(self.queues):
            self._queue_sorted = sorted(
                self.queues.values(), key=lambda q: (queue_order(q.name), q.name)
            )
        return self._queue_sorted

    def endpoints_in_order(self) -> list[Endpoint]:
        """Endpoints sorted by name, as sorcery lists them."""
        if self._ep_sorted is None or len(self._ep_sorted) != len(self.endpoints):
            self._ep_sorted = sorted(self.endpoints.values(), key=lambda e: e.name)
        return self._ep_sorted

    def hints_in_order(self) -> list[Hint]:
        if self._hint_sorted is None or len(self._hint_sorted) != len(self.hints):
            self._hint_sorted = sorted(
                self.hints.values(), key=lambda h: (hint_order(h.exten), h.exten)
            )
        return self._hint_sorted

    def queue_pause(
        self, interface: str, paused: bool, queue: str | None = None, reason: str = ""
    ) -> bool:
        """QueuePause: False when no matching member exists (``Interface not found``)."""
        targets = [
            q.members[interface]
            for q in (self.queues_in_order() if not queue else [self.queues.get(queue)])
            if q is not None and interface in q.members
        ]
        if not targets:
            return False
        now = int(self.clock())
        for m in targets:
            # queue_log's agent field here is the MemberName (f4), the reason its data1.
            self.log_queue("", m.queue.name, m.name, "PAUSE" if paused else "UNPAUSE", reason)
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = now
            self.dsc(self._pause_device(m), "INUSE" if paused else "NOT_INUSE")
            self.emit("QueueMemberPause", "agent", m.block(self.dialect.member_key))
            self.queue_avail(m.queue)
        return True

    def queue_add(
        self,
        queue: str,
        interface: str,
        *,
        name: str = "",
        state_interface: str = "",
        penalty: int = 0,
        paused: bool = False,
        reason: str = "",
    ) -> str | None:
        """QueueAdd; returns an error message or None."""
        q = self.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if interface in q.members:
            return "Unable to add interface: Already there"
        member = self.new_member(
            q,
            interface,
            name,
            state_interface,
            membership="dynamic",
            penalty=penalty,
            paused=paused,
            reason=reason,
            login_time=int(self.clock()),
        )
        self.emit(
            "DeviceStateChange",
            "call",
            [
                ("Device", self._pause_device(member)),
                ("State", self.devices[self._pause_device(member)]),
            ],
        )
        self.emit("QueueMemberAdded", "agent", member.block(self.dialect.member_key))
        self.queue_avail(q)
        return None

    def queue_remove(self, queue: str, interface: str) -> str | None:
        q = self.queues.get(queue)
        if q is None:
            return "Unable to remove interface from queue: No such queue"
        member = q.members.get(interface)
        if member is None:
            return "Unable to remove interface: Not there"
        if member.membership == "static":
            return "Unable to remove interface: Member not dynamic"
        self.drop_member(member)
        self.emit("QueueMemberRemoved", "agent", member.block(self.dialect.member_key))
        if member.paused:
            self.dsc(self._pause_device(member), "NOT_INUSE")
        self.queue_avail(q)
        return None

    def drop_member(self, member: Member) -> None:
        """Take a member out of its queue and the device index, without events."""
        member.queue.members.pop(member.interface, None)
        member.queue.members_changed()
        peers = self._members_by_device.get(member.state_interface, [])
        if member in peers:
            peers.remove(member)

    def queue_penalty(self, interface: str, penalty: int, queue: str | None = None) -> bool:
        found = False
        for q in self.queues.values() if not queue else [self.queues.get(queue)]:
            if q is not None and interface in q.members:
                m = q.members[interface]
                m.penalty = penalty
                found = True
                self.emit("QueueMemberPenalty", "agent", m.block(self.dialect.member_key))
        return found

    def queue_ringinuse(self, interface: str, ringinuse: bool, queue: str | None = None) -> bool:
        found = False
        for q in self.queues.values() if not queue else [self.queues.get(queue)]:
            if q is not None and interface in q.members:
                m = q.members[interface]
                m.ringinuse = ringinuse
                found = True
                self.emit("QueueMemberRinginuse", "agent", m.block(self.dialect.member_key))
        return found

    def reload(self, module: str = "") -> None:
        self.reload_time = self.clock()
        self.emit("Reload", "system", [("Module", module or "All"), ("Status", "0")])

    # -- whole-PBX operations -----------------------------------------------------------------
    def restart(self) -> None:
        """What a restart leaves: configuration and registrations, no calls, no callers."""
        for ch in list(self.channels.values()):
            self.drop_channel(ch)
        self.bridges.clear()
        self.calls.reset()
        for q in self.queues.values():
            q.callers.clear()
            for m in q.members.values():
                m.in_call = False
                m.ringing = None
                m.status = self.device_number(m.state_interface)
        self.boot_time = self.reload_time = self.clock()
        for ep in self.endpoints.values():
            self.set_device(ep.device, ep.device_state())
        for hint in self.hints.values():
            hint.status = self._hint_status(hint)
        for q in self.queues.values():
            self.set_device(f"Queue:{q.name}_avail", self._avail_state(q))

    @property
    def uptime(self) -> int:
        return int(self.clock() - self.boot_time)

    def snapshot(self) -> dict[str, object]:
        """The ground truth, as plain data: endpoints, queues, channels, hints, devices.

        ``wait`` of a waiting caller is the whole seconds since it joined, at call time.
        """
        now = self.clock()
        endpoints = {
            ep.name: {
                "kind": ep.kind,
                # What was published (the cache), which is what a mirror can know.
                "device_state": self.devices.get(ep.device, ep.device_state()),
                "registered": ep.kind == "phone" and bool(ep.contacts),
                "online": ep.online,
                "contacts": [{"uri": c.uri, "status": c.status} for c in ep.contacts],
                "active_channels": len(ep.channels),
            }
            for ep in self.endpoints.values()
        }
        queues = {}
        for q in self.queues.values():
            queues[q.name] = {
                "strategy": q.strategy,
                "max": q.max,
                "calls": len(q.callers),
                "holdtime": q.holdtime,
                "talktime": q.talktime,
                "completed": q.completed,
                "abandoned": q.abandoned,
                "servicelevel": q.servicelevel,
                "weight": q.weight,
                "members": {
                    m.interface: {
                        "name": m.name,
                        "state_interface": m.state_interface,
                        "membership": m.membership,
                        "penalty": m.penalty,
                        "calls_taken": m.calls_taken,
                        "last_call": m.last_call,
                        "last_pause": m.last_pause,
                        "login_time": m.login_time,
                        "in_call": m.in_call,
                        "status": m.status,
                        "paused": m.paused,
                        "paused_reason": m.paused_reason,
                        "ringinuse": m.ringinuse,
                        "wrapuptime": m.wrapuptime,
                    }
                    for m in q.ordered_members()
                },
                "callers": [
                    {
                        "channel": c.channel.name,
                        "uniqueid": c.channel.uniqueid,
                        "position": i,
                        "caller_id_num": c.channel.caller_num,
                        "caller_id_name": c.channel.caller_name,
                        "joined": c.joined,
                        "wait": int(now - c.joined),
                    }
                    for i, c in enumerate(q.callers, 1)
                ],
            }
        channels = {
            ch.uniqueid: {
                "name": ch.name,
                "uniqueid": ch.uniqueid,
                "linkedid": ch.linkedid,
                "state": ch.state,
                "caller_id_num": ch.caller_num,
                "caller_id_name": ch.caller_name,
                "connected_num": ch.connected_num,
                "connected_name": ch.connected_name,
                "context": ch.context,
                "exten": ch.exten,
                "priority": ch.priority,
                "application": ch.app,
                "bridge": ch.bridge.uniqueid if ch.bridge else "",
                "hold": ch.hold,
            }
            for ch in self.channels.values()
        }
        return {
            "endpoints": endpoints,
            "queues": queues,
            "channels": channels,
            "hints": {key: h.status for key, h in self.hints.items()},
            "devices": dict(self.devices),
        }
