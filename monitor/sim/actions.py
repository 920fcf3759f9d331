"""AMI actions of the simulator: dispatch, privileges and the handlers.

Messages, field names and their order are copied from the lab transcripts (a1-a5, b1-b4, c1,
c3, d1, d2) and, for the FCM630A's ``Queues`` action, from its guide. ``process`` follows
Asterisk's ``process_message``: missing Action, then login, then unknown action, then the
account's write classes, then the handler. A handler writes its reply with the session's
``ack``/``error``/``list_*`` helpers; what the action changes in the PBX runs in
``s.after(...)`` so that its events follow the reply, as on the wire.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable

from monitor.ami.packet import Packet

from . import clicmds, dialects, pjsip
from .model import EXTEN_TEXT, Channel, Endpoint
from .session import SYSTEM, Session
from .users import CLASSES, class_mask, event_mask

Handler = Callable[[Session, Packet], "Awaitable[None] | None"]
HANDLERS: dict[str, Handler] = {}
OPEN = {"login", "logoff", "challenge"}


def action(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name.lower()] = fn
        return fn

    return register


_AUTHORITY: dict[str, dict[str, tuple[str, int]]] = {}


def _authority(s: Session) -> dict[str, tuple[str, int]]:
    """action (lower) -> (name, write classes) from the dialect's ListCommands table."""
    dialect = s.server.dialect
    table = _AUTHORITY.get(dialect.name)
    if table is None:
        table = {}
        for name, _, priv in dialects.command_table(dialect):
            words = [w for w in priv.split(",") if w not in ("all", "<none>")]
            table[name.lower()] = (name, class_mask(",".join(words)) if words else 0)
        for name in ("PJSIPShowEndpoints", "PJSIPShowEndpoint", "PJSIPShowContacts"):
            mask = 0
            for cls in dialect.pjsip_show_classes:
                mask |= CLASSES[cls]
            table[name.lower()] = (name, mask)
        _AUTHORITY[dialect.name] = table
    return table


def _writable(authority: int, writeperm: int) -> bool:
    # manager.c: (writeperm & authority) || authority == 0 -- any one class is enough.
    return authority == 0 or bool(writeperm & authority)


def process(s: Session, m: Packet) -> Awaitable[None] | None:
    names = [v for v in m.get_all("action") if v.strip()]
    if not names:
        s.error(m, "Missing action in request")
        s.after(lambda: _bad_format(s, "NONE"))
        return None
    name = names[0].strip()
    low = name.lower()
    if not s.authenticated and low not in OPEN:
        s.error(m, "Permission denied")
        return None
    if s.server.shutting_down and low not in OPEN:
        s.error(m, "Asterisk is shutting down")
        return None
    table = _authority(s)
    handler = HANDLERS.get(low)
    known = table.get(low)
    if (
        handler is None
        and known is None
        or (low == "queues" and not s.server.dialect.queues_action)
    ):
        s.error(
            m,
            f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.",  # noqa: E501
        )
        s.after(lambda: _bad_format(s, name))
        return None
    if known is not None and not _writable(known[1], s.writeperm):
        s.error(m, "Permission denied")
        return None
    if handler is None:
        s.error(m, f"{name} is not simulated by pbxsim")
        return None
    return handler(s, m)


def _bad_format(s: Session, name: str) -> None:
    s.security_event(
        "RequestBadFormat",
        "Error",
        ("SessionID", s.session_id),
        ("LocalAddress", s.address("local")),
        ("RemoteAddress", s.address("remote")),
        ("RequestType", f"Action: {name}"),
        ("SessionTV", s.session_tv),
        ("AccountID", s.username),
    )


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"yes", "true", "y", "t", "1", "on"}


def _get(m: Packet, key: str) -> str:
    return (m.get(key) or "").strip()


# -- session ------------------------------------------------------------------------------------
@action("Login")
def login(s: Session, m: Packet) -> Awaitable[None] | None:
    if s.authenticated:
        s.ack(m, "Already authenticated")
        return None
    user = s.server.users.get(_get(m, "Username").lower())
    ok = user is not None and not s.server.faults.login_fails and user.permits(s.peer[0])
    if ok and user is not None:
        if _get(m, "AuthType").lower() == "md5":
            expected = hashlib.md5((s.challenge + user.secret).encode()).hexdigest()
            ok = bool(s.challenge) and _get(m, "Key").lower() == expected
        else:
            ok = (m.get("Secret") or "") == user.secret
    if not ok or user is None:
        return _login_failed(s, m)
    s.logged_in(user)
    events = m.get("Events")
    if events is not None:
        mask = event_mask(events)
        if mask is not None:
            s.send_events = mask
    s.ack(m, "Authentication accepted")
    if s.send_events & SYSTEM and s.readperm & SYSTEM:
        # Written straight to this session (no Timestamp, a6), not published as an event.
        pbx = s.server.pbx
        uptime = str(pbx.uptime)
        reload = str(int(pbx.clock() - pbx.reload_time))
        s.send(
            [
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", uptime),
                ("LastReload", reload),
                ("Status", "Fully Booted"),
            ]
        )
    s.after(
        lambda: s.security_event(
            "SuccessfulAuth",
            "Informational",
            ("AccountID", s.username),
            ("SessionID", s.session_id),
            ("LocalAddress", s.address("local")),
            ("RemoteAddress", s.address("remote")),
            ("UsingPassword", "0"),
            ("SessionTV", s.session_tv),
        )
    )
    return None


async def _login_failed(s: Session, m: Packet) -> None:
    await asyncio.sleep(s.server.auth_fail_delay)
    s.error(m, "Authentication failed")
    s.close()


@action("Challenge")
def challenge(s: Session, m: Packet) -> None:
    if _get(m, "AuthType").lower() != "md5":
        s.error(m, "Must specify AuthType")
        return
    if not s.challenge:
        s.challenge = str(s.server.rng.randrange(100_000_000, 1_000_000_000))
    s.respond(m, "Success", ("Challenge", s.challenge))


@action("Logoff")
def logoff(s: Session, m: Packet) -> None:
    s.respond(m, "Goodbye", ("Message", "Thanks for all the fish."))
    s.after(s.close)


@action("Events")
def events(s: Session, m: Packet) -> None:
    mask = event_mask(m.get("EventMask") or "")
    if mask is None:
        s.error(m, "Invalid event mask")
        return
    s.send_events = mask
    s.respond(m, "Success", ("Events", "On" if mask else "Off"))


@action("Ping")
def ping(s: Session, m: Packet) -> None:
    s.respond(m, "Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))


@action("ListCommands")
def listcommands(s: Session, m: Packet) -> None:
    dialect = s.server.dialect
    table = _authority(s)
    lines = []
    for name, text, priv in dialects.command_table(dialect):
        if _writable(table[name.lower()][1], s.writeperm):
            lines.append((name, dialects.command_line(dialect, name, text, priv)))
    s.respond(m, "Success", *lines)


@action("UserEvent")
def userevent(s: Session, m: Packet) -> None:
    name = _get(m, "UserEvent")
    s.ack(m, "Event Sent")
    extra = [(k, v) for k, v in _pairs(m) if k.lower() not in ("action", "userevent")]
    s.after(lambda: s.server.pbx.emit("UserEvent", "user", [("UserEvent", name), *extra]))


def _pairs(m: Packet) -> list[tuple[str, str]]:
    """The packet's headers in wire order, keys as sent."""
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for key in m.keys:
        values = m.get_all(key)
        i = seen.get(key.lower(), 0)
        seen[key.lower()] = i + 1
        out.append((key, values[i] if i < len(values) else ""))
    return out


# -- core -----------------------------------------------------------------------------------------
def _date(ts: float) -> tuple[str, str]:
    t = time.gmtime(ts)
    return time.strftime("%Y-%m-%d", t), time.strftime("%H:%M:%S", t)


@action("CoreStatus")
def corestatus(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    boot_d, boot_t = _date(pbx.boot_time)
    rel_d, rel_t = _date(pbx.reload_time)
    s.respond(
        m,
        "Success",
        ("CoreStartupDate", boot_d),
        ("CoreStartupTime", boot_t),
        ("CoreReloadDate", rel_d),
        ("CoreReloadTime", rel_t),
        ("CoreCurrentCalls", str(len(pbx.channels))),
        ("CoreProcessedCalls", str(pbx.processed_calls)),
    )


@action("CoreSettings")
def coresettings(s: Session, m: Packet) -> None:
    d = s.server.dialect
    s.respond(
        m,
        "Success",
        ("AMIversion", d.ami_version),
        ("AsteriskVersion", d.asterisk_version),
        ("SystemName", ""),
        ("CoreMaxCalls", "0"),
        ("CoreMaxLoadAvg", "0.000000"),
        ("CoreRunUser", ""),
        ("CoreRunGroup", ""),
        ("CoreMaxFilehandles", "0"),
        ("CoreRealTimeEnabled", "No"),
        ("CoreCDRenabled", "Yes"),
        ("CoreHTTPenabled", "No"),
        ("SoundsSearchCustomDir", "No"),
    )


@action("Command")
def command(s: Session, m: Packet) -> None:
    text = _get(m, "Command")
    if any(text.lower().startswith(b) for b in ("module load", "module unload")):
        s.error(m, "Command blacklisted")
        return
    ok, output = clicmds.run(s.server.pbx, text)
    s.respond(
        m,
        "Success" if ok else "Error",
        ("Message", "Command output follows"),
        *(("Output", line) for line in output),
    )


@action("Reload")
def reload(s: Session, m: Packet) -> None:
    module = _get(m, "Module")
    s.ack(m, "Module Reloaded.")
    s.after(lambda: s.server.pbx.reload(module))


@action("Setvar")
def setvar(s: Session, m: Packet) -> None:
    name, value = _get(m, "Variable"), m.get("Value") or ""
    if not name:
        s.error(m, "No variable specified")
        return
    chan_name = _get(m, "Channel")
    ch = s.server.pbx.by_name.get(chan_name) if chan_name else None
    if chan_name and ch is None:
        s.error(m, "No such channel")
        return
    s.ack(m, "Variable Set")
    if ch is not None:
        s.after(lambda: s.server.pbx.calls.varset(ch, name, value))
    else:
        s.server.pbx.globals[name] = value
        s.after(
            lambda: s.server.pbx.emit(
                "VarSet",
                "dialplan",
                [("Channel", "none"), ("Uniqueid", "none"), ("Variable", name), ("Value", value)],
            )
        )


@action("Getvar")
def getvar(s: Session, m: Packet) -> None:
    name = _get(m, "Variable")
    chan_name = _get(m, "Channel")
    ch = s.server.pbx.by_name.get(chan_name) if chan_name else None
    if chan_name and ch is None:
        s.error(m, "No such channel")
        return
    s.respond(m, "Success", ("Variable", name), ("Value", _variable(s, ch, name)))


def _variable(s: Session, ch: Channel | None, name: str) -> str:
    pbx = s.server.pbx
    fn = re.fullmatch(r"(\w+)\((.*)\)", name)
    if fn:
        func, arg = fn.group(1).upper(), fn.group(2)
        if func == "DEVICE_STATE":
            return pbx.device_state(arg)
        if func == "EXTENSION_STATE":
            exten, _, context = arg.partition("@")
            hint = pbx.hints.get(f"{exten}@{context or 'default'}")
            return EXTEN_TEXT.get(hint.status, "UNKNOWN").upper() if hint else "UNKNOWN"
        if func == "CHANNEL" and ch is not None and arg == "name":
            return ch.name
        if func == "CDR" and ch is not None and arg == "src":
            return ch.caller_num
        return ""
    if ch is not None:
        return ch.vars.get(name, "")
    return pbx.globals.get(name, "")


# -- state lists ----------------------------------------------------------------------------------
@action("DeviceStateList")
def devicestatelist(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    s.list_start(m, "Device State Changes will follow")
    devices = pbx.devices_in_order()
    for device in devices:
        s.item(m, "DeviceStateChange", [("Device", device), ("State", pbx.devices[device])])
    s.list_complete(m, "DeviceStateListComplete", len(devices))


@action("ExtensionStateList")
def extensionstatelist(s: Session, m: Packet) -> None:
    hints = s.server.pbx.hints_in_order()
    if not hints:
        s.error(m, "No dialplan hints are available")
        return
    s.list_start(m, "Extension Statuses will follow")
    for hint in hints:
        s.item(m, "ExtensionStatus", s.server.pbx.hint_block(hint))
    s.list_complete(m, "ExtensionStateListComplete", len(hints))


@action("ExtensionState")
def extensionstate(s: Session, m: Packet) -> None:
    exten, context = _get(m, "Exten"), _get(m, "Context") or "default"
    hint = s.server.pbx.hints.get(f"{exten}@{context}")
    status = hint.status if hint else -1
    s.respond(
        m,
        "Success",
        ("Message", "Extension Status"),
        ("Exten", exten),
        ("Context", context),
        ("Hint", hint.device if hint else ""),
        ("Status", str(status)),
        ("StatusText", EXTEN_TEXT.get(status, "Unknown")),
    )


def _duration(seconds: float) -> str:
    secs = int(seconds)
    return f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"


@action("CoreShowChannels")
def coreshowchannels(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    s.list_start(m, "Channels will follow")
    chans = list(pbx.channels.values())
    now = pbx.clock()
    for ch in chans:
        s.item(
            m,
            "CoreShowChannel",
            ch.block()
            + [
                ("Application", ch.app),
                ("ApplicationData", ch.appdata),
                ("Duration", _duration(now - ch.created)),
                ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
            ],
        )
    s.list_complete(m, "CoreShowChannelsComplete", len(chans))


@action("Status")
def status(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    name = _get(m, "Channel")
    if name:
        ch = pbx.by_name.get(name)
        if ch is None:
            s.error(m, "No such channel")
            return
        chans = [ch]
    else:
        chans = list(pbx.channels.values())
    wanted = [v.strip() for v in _get(m, "Variables").split(",") if v.strip()]
    s.list_start(m, "Channel status will follow")
    now = pbx.clock()
    for ch in chans:
        pairs = [("Privilege", "Call"), *ch.block()]
        pairs += [
            ("Type", ch.name.split("/")[0]),
            ("DNID", ""),
            ("EffectiveConnectedLineNum", ch.connected_num or "<unknown>"),
            ("EffectiveConnectedLineName", ch.connected_name or "<unknown>"),
            ("TimeToHangup", "0"),
            ("BridgeID", ch.bridge.uniqueid if ch.bridge else ""),
            ("Application", ch.app),
            ("Data", ch.appdata),
            ("Nativeformats", "(ulaw)"),
            ("Readformat", "ulaw"),
            ("Readtrans", ""),
            ("Writeformat", "ulaw"),
            ("Writetrans", ""),
            ("Callgroup", "0"),
            ("Pickupgroup", "0"),
            ("Seconds", str(int(now - (ch.answered or ch.created)))),
        ]
        pairs += [("Variable", f"{v}={_variable(s, ch, v)}") for v in wanted]
        s.item(m, "Status", pairs, id_last=True)
    s.list_complete(m, "StatusComplete", len(chans), ("Items", str(len(chans))))


@action("Agents")
def agents(s: Session, m: Packet) -> None:
    s.list_start(m, "Agents will follow")
    s.list_complete(m, "AgentsComplete", 0)


# -- PJSIP ----------------------------------------------------------------------------------------
def _endpoints(s: Session) -> list[Endpoint]:
    return s.server.pbx.endpoints_in_order()


@action("PJSIPShowEndpoints")
def pjsipshowendpoints(s: Session, m: Packet) -> None:
    eps = _endpoints(s)
    if not eps:
        s.error(m, "No endpoints found\n")
        return
    fcm = s.server.dialect.fcm_style
    s.list_start(m, "A listing of Endpoints follows, presented as EndpointList events")
    for ep in eps:
        s.item(m, "EndpointList", pjsip.endpoint_list(ep, fcm))
    s.list_complete(m, "EndpointListComplete", len(eps))


@action("PJSIPShowEndpoint")
def pjsipshowendpoint(s: Session, m: Packet) -> None:
    name = _get(m, "Endpoint")
    if not name:
        s.error(m, "Endpoint parameter missing.")
        return
    ep = s.server.pbx.endpoints.get(name)
    if ep is None:
        # The lab's reply carries a stray LF before the CRLF (b1).
        s.error(m, f"Unable to retrieve endpoint {name}\n")
        return
    fcm = s.server.dialect.fcm_style
    the = "the the" if fcm else "the"
    s.list_start(m, f"Following are Events for each object associated with {the} Endpoint")
    items = [
        ("EndpointDetail", pjsip.fcm_endpoint_detail(ep) if fcm else pjsip.endpoint_detail(ep))
    ]
    if ep.kind == "phone":
        items.append(("AuthDetail", pjsip.auth_detail(ep)))
    items.append(("TransportDetail", pjsip.transport_detail(ep)))
    items.append(("AorDetail", pjsip.aor_detail(ep)))
    items += [("ContactStatusDetail", pjsip.contact_status_detail(ep, c)) for c in ep.contacts]
    for event, pairs in items:
        s.item(m, event, pairs)
    s.list_complete(m, "EndpointDetailComplete", len(items))


@action("PJSIPShowContacts")
def pjsipshowcontacts(s: Session, m: Packet) -> None:
    contacts = [(ep, c) for ep in _endpoints(s) for c in ep.contacts if not c.static]
    contacts.sort(key=lambda pair: pair[1].object_name)
    s.list_start(m, "A listing of Contacts follows, presented as ContactList events")
    for ep, c in contacts:
        s.item(m, "ContactList", pjsip.contact_list(ep, c))
    s.list_complete(m, "ContactListComplete", len(contacts))


@action("PJSIPShowAors")
def pjsipshowaors(s: Session, m: Packet) -> None:
    eps = _endpoints(s)
    s.list_start(m, "A listing of AORs follows, presented as AorList events")
    for ep in eps:
        s.item(m, "AorList", pjsip.aor_list(ep))
    s.list_complete(m, "AorListComplete", len(eps))


@action("PJSIPShowAuths")
def pjsipshowauths(s: Session, m: Packet) -> None:
    eps = [ep for ep in _endpoints(s) if ep.kind == "phone"]
    s.list_start(m, "A listing of Auths follows, presented as AuthList events")
    for ep in eps:
        s.item(m, "AuthList", pjsip.auth_list(ep))
    s.list_complete(m, "AuthListComplete", len(eps))


@action("PJSIPShowRegistrationsInbound")
def pjsipshowregistrationsinbound(s: Session, m: Packet) -> None:
    eps = _endpoints(s)
    s.list_start(m, "Following are Events for each Inbound registration")
    for ep in eps:
        s.item(m, "InboundRegistrationDetail", pjsip.inbound_registration(ep))
    s.list_complete(m, "InboundRegistrationDetailComplete", len(eps))


# -- queues ---------------------------------------------------------------------------------------
@action("QueueStatus")
def queuestatus(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    qfilter, mfilter = _get(m, "Queue"), _get(m, "Member")
    s.list_start(m, "Queue status will follow")
    count = 0
    now = pbx.clock()
    for q in pbx.queues_in_order():
        if qfilter and q.name != qfilter:
            continue
        s.item(m, "QueueParams", q.params_block(), id_last=True)
        count += 1
        for mem in q.ordered_members():
            if mfilter and mfilter not in (mem.interface, mem.name):
                continue
            pairs = [
                ("Queue", q.name),
                ("Name", mem.name),
                ("Location", mem.interface),
                ("StateInterface", mem.state_interface),
                ("Membership", mem.membership),
                ("Penalty", str(mem.penalty)),
                ("CallsTaken", str(mem.calls_taken)),
                ("LastCall", str(mem.last_call)),
                ("LastPause", str(mem.last_pause)),
                ("LoginTime", str(mem.login_time)),
                ("InCall", str(int(mem.in_call))),
                ("Status", str(mem.status)),
                ("Paused", str(int(mem.paused))),
                ("PausedReason", mem.paused_reason),
                ("Wrapuptime", str(mem.wrapuptime)),
            ]
            s.item(m, "QueueMember", pairs, id_last=True)
            count += 1
        for pos, caller in enumerate(q.callers, 1):
            ch = caller.channel
            s.item(
                m,
                "QueueEntry",
                [
                    ("Queue", q.name),
                    ("Position", str(pos)),
                    ("Channel", ch.name),
                    ("Uniqueid", ch.uniqueid),
                    ("CallerIDNum", ch.caller_num or "unknown"),
                    ("CallerIDName", ch.caller_name or "unknown"),
                    ("ConnectedLineNum", ch.connected_num or "unknown"),
                    ("ConnectedLineName", ch.connected_name or "unknown"),
                    ("Wait", str(int(now - caller.joined))),
                    ("Priority", "0"),
                ],
                id_last=True,
            )
            count += 1
    s.list_complete(m, "QueueStatusComplete", count)


@action("QueueSummary")
def queuesummary(s: Session, m: Packet) -> None:
    pbx = s.server.pbx
    qfilter = _get(m, "Queue")
    s.list_start(m, "Queue summary will follow")
    count = 0
    now = pbx.clock()
    for q in pbx.queues_in_order():
        if qfilter and q.name != qfilter:
            continue
        logged = [mem for mem in q.members.values() if mem.status not in (4, 5)]
        available = [mem for mem in logged if mem.status in (0, 1) and not mem.paused]
        longest = max((int(now - c.joined) for c in q.callers), default=0)
        s.item(
            m,
            "QueueSummary",
            [
                ("Queue", q.name),
                ("LoggedIn", str(len(logged))),
                ("Available", str(len(available))),
                ("Callers", str(len(q.callers))),
                ("HoldTime", str(q.holdtime)),
                ("TalkTime", str(q.talktime)),
                ("LongestHoldTime", str(longest)),
            ],
            id_last=True,
        )
        count += 1
    s.list_complete(m, "QueueSummaryComplete", count)


@action("Queues")
def queues(s: Session, m: Packet) -> None:
    """The FCM630A's vendor listing: QueueStatus + QueueMemberStatus items, no end marker."""
    pbx = s.server.pbx
    s.list_start(m, "Queues list will follow")
    for q in pbx.queues_in_order():
        avail = sum(1 for mem in q.members.values() if mem.status in (0, 1) and not mem.paused)
        total = q.completed + q.abandoned
        sl = 100.0 * q.completed_in_sl / q.completed if q.completed else 0.0
        rate = 100.0 * q.abandoned / total if total else 0.0
        s.item(
            m,
            "QueueStatus",
            [
                ("Queue", q.name),
                ("CallsTotal", str(q.calls_total)),
                ("CallCount", str(len(q.callers))),
                ("CallsComplete", str(q.completed)),
                ("CallsAbandoned", str(q.abandoned)),
                ("Strategy", q.strategy),
                ("Chairman", q.chairman),
                ("EnableAgentLogin", "no"),
                ("QueueName", q.display_name or q.name),
                ("ServiceLevel", f"SL:{sl:.1f}% within {q.servicelevel}s"),
                ("AbandonedRate", f"{rate:.2f}%"),
                ("AvgWaitTime", str(q.holdtime)),
                ("AvgTalkTime", str(q.talktime)),
                ("AvailableCount", str(avail)),
                ("AgentCount", str(len(q.members))),
            ],
            id_last=True,
        )
        for mem in q.ordered_members():
            caller = mem.ringing.name if mem.ringing is not None else ""
            s.item(
                m,
                "QueueMemberStatus",
                [
                    ("Queue", q.name),
                    ("Location", mem.interface),
                    ("MemberName", mem.name),
                    ("Membership", mem.membership),
                    ("Penalty", str(mem.penalty)),
                    ("CallsTaken", str(mem.calls_taken)),
                    ("LastCall", str(mem.last_call)),
                    ("Status", str(mem.status)),
                    ("EnableAgentLogin", "no"),
                    ("LoginTime", str(mem.login_time)),
                    ("CallsAbandon", str(mem.calls_abandoned)),
                    ("TalkTime", str(mem.talk_time)),
                    ("CallerChannel", caller),
                    ("PausedTime", str(mem.last_pause if mem.paused else 0)),
                    ("Paused", str(int(mem.paused))),
                ],
                id_last=True,
            )


@action("QueuePause")
def queuepause(s: Session, m: Packet) -> None:
    interface, paused_text = _get(m, "Interface"), _get(m, "Paused")
    if not interface or not paused_text:
        s.error(m, "Need 'Interface' and 'Paused' parameters.")
        return
    queue, reason, paused = _get(m, "Queue"), _get(m, "Reason"), _true(paused_text)
    pbx = s.server.pbx
    queues = [pbx.queues.get(queue)] if queue else list(pbx.queues.values())
    if not any(q is not None and interface in q.members for q in queues):
        s.error(m, "Interface not found")
        return
    s.ack(m, "Interface paused successfully" if paused else "Interface unpaused successfully")
    s.after(lambda: pbx.queue_pause(interface, paused, queue or None, reason))
    s.after(lambda: pbx.calls.queue_ring_all())


@action("QueueAdd")
def queueadd(s: Session, m: Packet) -> None:
    queue, interface = _get(m, "Queue"), _get(m, "Interface")
    if not queue or not interface:
        s.error(m, "'Queue' and 'Interface' must be set.")
        return
    pbx = s.server.pbx
    q = pbx.queues.get(queue)
    if q is None:
        s.error(m, "Unable to add interface to queue: No such queue")
        return
    if interface in q.members:
        s.error(m, "Unable to add interface: Already there")
        return
    penalty = int(_get(m, "Penalty") or 0) if _get(m, "Penalty").isdigit() else 0
    s.ack(m, "Added interface to queue")
    s.after(
        lambda: pbx.queue_add(
            queue,
            interface,
            name=_get(m, "MemberName"),
            state_interface=_get(m, "StateInterface"),
            penalty=penalty,
            paused=_true(m.get("Paused")),
            reason=_get(m, "Reason"),
        )
    )
    s.after(lambda: pbx.calls.queue_ring(q))


@action("QueueRemove")
def queueremove(s: Session, m: Packet) -> None:
    queue, interface = _get(m, "Queue"), _get(m, "Interface")
    if not queue or not interface:
        s.error(m, "Need 'Queue' and 'Interface' parameters.")
        return
    pbx = s.server.pbx
    q = pbx.queues.get(queue)
    if q is None:
        s.error(m, "Unable to remove interface from queue: No such queue")
        return
    member = q.members.get(interface)
    if member is None:
        s.error(m, "Unable to remove interface: Not there")
        return
    if member.membership == "static":
        s.error(m, "Member not dynamic")
        return
    s.ack(m, "Removed interface from queue")
    s.after(lambda: pbx.queue_remove(queue, interface))


@action("QueuePenalty")
def queuepenalty(s: Session, m: Packet) -> None:
    interface, penalty, queue = _get(m, "Interface"), _get(m, "Penalty"), _get(m, "Queue")
    pbx = s.server.pbx
    queues = [pbx.queues.get(queue)] if queue else list(pbx.queues.values())
    if not penalty.isdigit() or not any(q is not None and interface in q.members for q in queues):
        s.error(m, "Invalid interface, queuename or penalty")
        return
    s.ack(m, "Interface penalty set successfully")
    s.after(lambda: pbx.queue_penalty(interface, int(penalty), queue or None))


@action("QueueMemberRingInUse")
def queuememberringinuse(s: Session, m: Packet) -> None:
    interface, value, queue = _get(m, "Interface"), _get(m, "RingInUse"), _get(m, "Queue")
    pbx = s.server.pbx
    queues = [pbx.queues.get(queue)] if queue else list(pbx.queues.values())
    if not value or not any(q is not None and interface in q.members for q in queues):
        s.error(m, "Invalid interface, queuename, or ringinuse value")
        return
    s.ack(m, "Interface ringinuse set successfully")
    s.after(lambda: pbx.queue_ringinuse(interface, _true(value), queue or None))


# -- calls ----------------------------------------------------------------------------------------
def _callerid(text: str) -> tuple[str, str] | None:
    """``"Name" <num>``, ``Name <num>``, ``<num>`` or ``num`` -> (name, number)."""
    text = text.strip()
    if not text:
        return None
    match = re.fullmatch(r'\s*(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*', text)
    if match:
        return (
            match.group(1) if match.group(1) is not None else match.group(2) or ""
        ).strip(), match.group(3)
    return ("", text) if text.replace("+", "").isdigit() else (text, "")


@action("Originate")
def originate(s: Session, m: Packet) -> Awaitable[None] | None:
    channel = _get(m, "Channel")
    if not channel:
        s.error(m, "Channel not specified")
        return None
    priority = _get(m, "Priority") or "1"
    if not priority.isdigit():
        s.error(m, "Invalid priority")
        return None
    timeout_text = _get(m, "Timeout")
    timeout = int(timeout_text) / 1000 if timeout_text.isdigit() else 30.0
    context, exten = _get(m, "Context"), _get(m, "Exten")
    application, data = _get(m, "Application"), m.get("Data") or ""
    callerid = _callerid(m.get("CallerID") or "")
    action_id = s.action_id(m)
    pbx = s.server.pbx
    asynchronous = _true(m.get("Async"))
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def result(success: bool, reason: int, ch: Channel | None) -> None:
        if asynchronous:
            _originate_response(
                pbx, action_id, success, reason, ch, channel, context, exten, application, data
            )
        if not done.done():
            done.set_result(success)

    def start() -> None:
        ok = pbx.calls.originate(
            channel,
            context=context,
            exten=exten,
            priority=int(priority),
            application=application,
            data=data,
            callerid=callerid,
            timeout=timeout,
            on_result=result,
        )
        if not ok:
            result(False, 0, None)

    if asynchronous:
        s.ack(m, "Originate successfully queued")
        s.after(start)
        return None

    async def wait() -> None:
        start()
        if await done:
            s.ack(m, "Originate successfully queued")
        else:
            s.error(m, "Originate failed")

    return wait()


def _originate_response(
    pbx: object,
    action_id: str | None,
    success: bool,
    reason: int,
    ch: Channel | None,
    channel: str,
    context: str,
    exten: str,
    application: str,
    data: str,
) -> None:
    pairs = [("ActionID", action_id)] if action_id else []
    pairs += [
        ("Response", "Success" if success else "Failure"),
        ("Channel", ch.name if ch else channel),
    ]
    pairs += (
        [("Application", application), ("Data", data)]
        if application
        else [("Context", context), ("Exten", exten)]
    )
    pairs += [
        ("Reason", str(reason)),
        ("Uniqueid", ch.uniqueid if ch else "<unknown>"),
        ("CallerIDNum", ch.caller_num if ch and ch.caller_num else "<unknown>"),
        ("CallerIDName", ch.caller_name if ch and ch.caller_name else "<unknown>"),
    ]
    pbx.emit("OriginateResponse", "call", pairs)  # type: ignore[attr-defined]


@action("Hangup")
def hangup(s: Session, m: Packet) -> None:
    name = _get(m, "Channel")
    if not name:
        s.error(m, "No channel specified")
        return
    cause_text = _get(m, "Cause")
    cause = int(cause_text) if cause_text.isdigit() else 0
    pbx = s.server.pbx
    if len(name) > 2 and name.startswith("/") and name.endswith("/"):
        try:
            regex = re.compile(name[1:-1])
        except re.error:
            s.error(m, "Invalid regex")
            return
        matched = [ch for ch in list(pbx.channels.values()) if regex.search(ch.name)]
        s.list_start(m, "Channels hung up will follow")
        for ch in matched:
            s.send([("Event", "ChannelHungup"), ("Channel", ch.name), *s._id(m)])
        s.list_complete(m, "ChannelsHungupListComplete", len(matched))
        for ch in matched:
            s.after(
                lambda ch=ch: (
                    pbx.calls.request_hangup(ch, cause, how="ami") if not ch.gone else None
                )
            )
        return
    ch = pbx.by_name.get(name)
    if ch is None:
        s.error(m, "No such channel")
        return
    s.ack(m, "Channel Hungup")
    s.after(lambda: pbx.calls.request_hangup(ch, cause, how="ami") if not ch.gone else None)
