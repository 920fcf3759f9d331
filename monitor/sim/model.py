"""The objects of the simulated PBX and the AMI field blocks they print.

Field names, their order and the ``<unknown>`` spellings are those of the lab's Asterisk 22
(channel snapshot, bridge snapshot and queue-member blocks of ``AMI-REFERENCE.md`` §5).

Listing orders follow Asterisk's hash containers, so that a list reply has the lab's order:
the device-state cache (563 buckets, ``ast_hashtab_hash_string`` of the message type name plus
the device), dialplan hints (563 buckets, ``ast_str_case_hash`` of the extension), queues
(53 buckets) and queue members (37 buckets, ``member_hash_fn``: five chars from the ``/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN = "<unknown>"

CHANNEL_STATES = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}
DOWN, RING, RINGING, UP = 0, 4, 5, 6

# Device states: (number used by queue events, text of PJSIPShowEndpoints).
DEVICE_STATES = {
    "UNKNOWN": (0, "Unknown"),
    "NOT_INUSE": (1, "Not in use"),
    "INUSE": (2, "In use"),
    "BUSY": (3, "Busy"),
    "INVALID": (4, "Invalid"),
    "UNAVAILABLE": (5, "Unavailable"),
    "RINGING": (6, "Ringing"),
    "RINGINUSE": (7, "Ring+Inuse"),
    "ONHOLD": (8, "On Hold"),
}
DEVICE_BY_NUMBER = {num: name for name, (num, _) in DEVICE_STATES.items()}

# ast_devstate_to_extenstate, and the texts of ExtensionStatus.
EXTEN_STATE = {
    "ONHOLD": 16,
    "BUSY": 2,
    "UNKNOWN": 0,
    "UNAVAILABLE": 4,
    "INVALID": 4,
    "RINGINUSE": 9,
    "RINGING": 8,
    "INUSE": 1,
    "NOT_INUSE": 0,
}
EXTEN_TEXT = {
    -2: "Unknown",
    -1: "Unknown",
    0: "Idle",
    1: "InUse",
    2: "Busy",
    4: "Unavailable",
    8: "Ringing",
    9: "InUse&Ringing",
    16: "Hold",
    17: "InUse&Hold",
}

HANGUP_CAUSES = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    27: "Destination out of order",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
    127: "Interworking, unspecified",
}


def _c_int(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _bucket(value: int, buckets: int) -> int:
    # C: abs(hash % n) on a signed int, the remainder truncated toward zero.
    value = _c_int(value)
    return abs(abs(value) % buckets)


def hashtab_hash(text: str) -> int:
    total = 0
    for ch in text.encode("utf-8", "surrogateescape"):
        total = (total * 13 + ch) & 0xFFFFFFFF
    return total


def str_case_hash(text: str) -> int:
    value = 5381
    for ch in text.lower().encode("utf-8", "surrogateescape"):
        value = _c_int(value * 33 ^ ch)
    return abs(value)


_DEVSTATE_TYPE = hashtab_hash("ast_device_state_message_type")


def device_order(device: str) -> int:
    return _bucket(_DEVSTATE_TYPE + hashtab_hash(device), 563)


def hint_order(exten: str) -> int:
    return str_case_hash(exten) % 563


def queue_order(name: str) -> int:
    return str_case_hash(name) % 53


def member_order(interface: str) -> int:
    slash = interface.find("/")
    chars = interface[slash:] if slash >= 0 else interface
    total = 0
    for i, ch in enumerate(chars[:5]):
        c = ord(ch)
        total += (0 if c < 32 else c - 64 if c > 96 else c - 32) << (i * 6)
    return _bucket(total, 37)


@dataclass(slots=True, eq=False)
class Contact:
    aor: str
    uri: str
    status: str = "Reachable"  # Reachable, Unreachable, NonQualified, Unknown
    rtt_usec: int = 500
    user_agent: str = "baresip v1.0.0 (x86_64/linux)"
    call_id: str = ""
    hash: str = ""  # the contact object's id suffix, ``<aor>;@<hash>``
    expiration: int = 0
    via_addr: str = "127.0.0.1"
    via_port: int = 5060
    static: bool = False  # configured on the AOR (trunk) rather than registered

    @property
    def object_name(self) -> str:
        return f"{self.aor}{';@' if not self.static else '@@'}{self.hash}"


@dataclass(slots=True, eq=False)
class Endpoint:
    name: str
    kind: str = "phone"  # "phone" or "trunk"
    context: str = "from-internal"
    callerid_name: str = ""
    transport: str = "transport-udp"
    contacts: list[Contact] = field(default_factory=list)
    online: bool = False  # PeerStatus: Reachable once a contact answers, Unreachable otherwise
    auto_answer: bool = False
    channels: dict[str, Channel] = field(default_factory=dict, repr=False)  # by uniqueid

    @property
    def device(self) -> str:
        return f"PJSIP/{self.name}"

    @property
    def callerid(self) -> str:
        return f'"{self.callerid_name}" <{self.name}>' if self.kind == "phone" else UNKNOWN

    def device_state(self) -> str:
        """chan_pjsip's device state: offline -> UNAVAILABLE, else the channels' aggregate."""
        if not self.online:
            return "UNAVAILABLE"
        ringing = inuse = held = False
        for ch in self.channels.values():
            if ch.state == RINGING:
                ringing = True
            elif ch.hold:
                held = True
            elif ch.state != DOWN:
                inuse = True
        if ringing:
            return "RINGINUSE" if inuse or held else "RINGING"
        if inuse:
            return "INUSE"
        if held:
            return "ONHOLD"
        return "NOT_INUSE"


@dataclass(slots=True, eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    created: float
    state: int = DOWN
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = "from-internal"
    exten: str = "s"
    priority: int = 1
    app: str = ""
    appdata: str = ""
    endpoint: Endpoint | None = field(default=None, repr=False)
    device: str = ""  # device whose state this channel drives (PJSIP/x, Local/x@ctx)
    answered: float | None = None
    bridge: Bridge | None = field(default=None, repr=False)
    hold: bool = False
    peer: Channel | None = field(default=None, repr=False)  # the other leg of a two-party call
    language: str = "en"
    accountcode: str = ""
    vars: dict[str, str] = field(default_factory=dict)
    hangup_cause: int = 0
    gone: bool = False
    call: object | None = field(default=None, repr=False)  # the flow driving it (calls.py)

    def block(self, prefix: str = "") -> list[tuple[str, str]]:
        """The channel snapshot block, keys optionally prefixed (``Dest``, ``LocalOne``)."""
        p = prefix
        return [
            (p + "Channel", self.name),
            (p + "ChannelState", str(self.state)),
            (p + "ChannelStateDesc", CHANNEL_STATES.get(self.state, "Unknown")),
            (p + "CallerIDNum", self.caller_num or UNKNOWN),
            (p + "CallerIDName", self.caller_name or UNKNOWN),
            (p + "ConnectedLineNum", self.connected_num or UNKNOWN),
            (p + "ConnectedLineName", self.connected_name or UNKNOWN),
            (p + "Language", self.language),
            (p + "AccountCode", self.accountcode),
            (p + "Context", self.context),
            (p + "Exten", self.exten),
            (p + "Priority", str(self.priority)),
            (p + "Uniqueid", self.uniqueid),
            (p + "Linkedid", self.linkedid),
        ]


@dataclass(slots=True, eq=False)
class Bridge:
    uniqueid: str
    technology: str = "simple_bridge"
    channels: list[Channel] = field(default_factory=list, repr=False)

    def block(self) -> list[tuple[str, str]]:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", self.technology),
            ("BridgeCreator", UNKNOWN),
            ("BridgeName", UNKNOWN),
            ("BridgeNumChannels", str(len(self.channels))),
            ("BridgeVideoSourceMode", "none"),
        ]


@dataclass(slots=True, eq=False)
class Member:
    queue: Queue = field(repr=False)
    interface: str
    name: str
    state_interface: str
    membership: str = "static"  # static or dynamic
    penalty: int = 0
    calls_taken: int = 0
    last_call: int = 0
    last_pause: int = 0
    login_time: int = 0
    in_call: bool = False
    status: int = 1  # device-state number of state_interface
    paused: bool = False
    paused_reason: str = ""
    ringinuse: bool = False
    wrapuptime: int = 0
    order: int = 0  # insertion sequence, the tie-break inside a hash bucket
    ringing: Channel | None = field(default=None, repr=False)  # its channel while rung
    calls_abandoned: int = 0  # FCM630A QueueMemberStatus CallsAbandon
    talk_time: int = 0

    @property
    def available(self) -> bool:
        """Free for a queue call: not paused, idle (app_queue ``member_status_available``)."""
        return not self.paused and not self.in_call and self.status in (0, 1)

    def block(self, key: str = "Interface") -> list[tuple[str, str]]:
        return [
            ("Queue", self.queue.name),
            ("MemberName", self.name),
            (key, self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", self.membership),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call)),
            ("LastPause", str(self.last_pause)),
            ("LoginTime", str(self.login_time)),
            ("InCall", str(int(self.in_call))),
            ("Status", str(self.status)),
            ("Paused", str(int(self.paused))),
            ("PausedReason", self.paused_reason),
            ("Ringinuse", str(int(self.ringinuse))),
            ("Wrapuptime", str(self.wrapuptime)),
        ]


@dataclass(slots=True, eq=False)
class Caller:
    channel: Channel
    queue: Queue = field(repr=False)
    joined: float
    original_position: int
    priority: int = 0
    ring_started: float | None = None


@dataclass(slots=True, eq=False)
class Queue:
    name: str
    strategy: str = "ringall"
    display_name: str = ""  # FCM630A QueueName
    chairman: str = ""  # FCM630A Chairman
    max: int = 0
    servicelevel: int = 0
    weight: int = 0
    timeout: int = 15  # seconds a member rings before AgentRingNoAnswer
    retry: int = 5
    members: dict[str, Member] = field(default_factory=dict, repr=False)  # by interface
    callers: list[Caller] = field(default_factory=list, repr=False)
    holdtime: int = 0
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    calls_total: int = 0
    rr_last: int = -1  # rrmemory: position of the member rung last
    _ordered: list[Member] | None = field(default=None, repr=False)

    def ordered_members(self) -> list[Member]:
        if self._ordered is None:
            self._ordered = sorted(
                self.members.values(), key=lambda m: (member_order(m.interface), m.order)
            )
        return self._ordered

    def members_changed(self) -> None:
        self._ordered = None

    def params_block(self) -> list[tuple[str, str]]:
        sl = 100.0 * self.completed_in_sl / self.completed if self.completed else 0.0
        both = self.completed + self.abandoned
        sl2 = 100.0 * (self.completed_in_sl + self.abandoned_in_sl) / both if both else 0.0
        return [
            ("Queue", self.name),
            ("Max", str(self.max)),
            ("Strategy", self.strategy),
            ("Calls", str(len(self.callers))),
            ("Holdtime", str(self.holdtime)),
            ("TalkTime", str(self.talktime)),
            ("Completed", str(self.completed)),
            ("Abandoned", str(self.abandoned)),
            ("ServiceLevel", str(self.servicelevel)),
            ("ServicelevelPerf", f"{sl:2.1f}"),
            ("ServicelevelPerf2", f"{sl2:2.1f}"),
            ("Weight", str(self.weight)),
        ]


@dataclass(slots=True, eq=False)
class Hint:
    exten: str
    context: str
    device: str
    status: int = 0
