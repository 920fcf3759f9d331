"""``PbxState``: the live state of one PBX, fed by list replies and events. Pure: no I/O,
no clock (the caller passes ``now``), nothing raised for what the PBX sends.

Ordering rules (seq = a packet's position in its connection's stream):

- a ``load_*`` replaces its domain wholesale, so nothing the PBX no longer reports survives,
  and remembers the seq of the list's Response;
- an event older than the newest list covering it is skipped: the list already holds its
  effect, or a later one;
- an entity an event newer than the list touched keeps that event's word, and one such an
  event removed stays removed, whatever order the caller applies them in;
- ``begin_session()`` on every new connection, since seq restarts with it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..ami.packet import Packet
from .calls import Calls
from .endpoints import Endpoints
from .entities import Call, Endpoint, PbxInfo, Queue, QueueCaller, QueueMember, to_dict
from .queues import Queues
from .states import event_time, to_float
from .table import Delta

Handler = Callable[[dict[str, str], int, float], None]

# Reload ``Module`` -> the domains whose lists it makes stale.
_RELOAD_DOMAINS = (("res_pjsip", "endpoints"), ("app_queue", "queues"))


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last ``take_changes()``: per table, copies of the upserted
    entities by key and the removed keys. ``pbx`` is a copy of the PBX info if it changed."""

    pbx: PbxInfo | None
    endpoints: Delta[str, Endpoint]
    queues: Delta[str, Queue]
    members: Delta[tuple[str, str], QueueMember]
    callers: Delta[tuple[str, str], QueueCaller]
    calls: Delta[str, Call]

    def __bool__(self) -> bool:
        return bool(
            self.pbx or self.endpoints or self.queues or self.members or self.callers or self.calls
        )


class PbxState:
    """Endpoints, queues, members, waiting callers and calls of one PBX.

    ``apply()`` and the ``load_*`` methods never raise for anything in a packet; ``stats``
    counts what ``apply`` did: ``applied``, ``unknown`` (no handler), ``malformed`` (a field
    it needs is missing), ``stale`` (older than a list that covers it).
    """

    def __init__(self) -> None:
        self.endpoints = Endpoints()
        self.queues = Queues(self.endpoints)
        self.calls = Calls(self.endpoints)
        self.pbx = PbxInfo()
        self._pbx_changed = False
        self._reload_seq: dict[str, int] = {}
        self.stats = {"applied": 0, "unknown": 0, "malformed": 0, "stale": 0}
        self._handlers = self._dispatch_table()

    # -- sessions and lists ----------------------------------------------------------------
    def begin_session(self) -> None:
        """A new AMI connection: its seq numbers start again from 1."""
        self.endpoints.begin_session()
        self.queues.begin_session()
        self.calls.begin_session()
        self._reload_seq.clear()

    def load_endpoints(
        self, items: Iterable[Packet], seq: int, *, now: float | None = None
    ) -> None:
        """``PJSIPShowEndpoints`` ``EndpointList`` items: the endpoint set, states, contacts."""
        self.endpoints.load_endpoints(items, seq, now)
        self._resynced("endpoints", seq)

    def load_device_states(
        self,
        items: Iterable[Packet],
        seq: int,
        *,
        now: float | None = None,
        authoritative: bool | None = None,
    ) -> None:
        """``DeviceStateList`` items; its ``PJSIP/...`` devices define the endpoint set when
        ``authoritative`` (default: unless PJSIPShowEndpoints was loaded in this session)."""
        self.endpoints.load_device_states(items, seq, now, authoritative)
        self._resynced("endpoints", seq)

    def load_extension_states(
        self,
        items: Iterable[Packet],
        seq: int,
        *,
        now: float | None = None,
        authoritative: bool | None = None,
    ) -> None:
        """``ExtensionStateList`` items: single-device PJSIP hints, the last resort for both
        the set (default: unless another endpoint list was loaded) and the states."""
        self.endpoints.load_extension_states(items, seq, now, authoritative)

    def load_queues(
        self,
        items: Iterable[Packet],
        seq: int,
        *,
        now: float | None = None,
        queue: str | None = None,
    ) -> None:
        """``QueueStatus`` items (or the FCM630A ``Queues`` form). ``queue``: the action was
        filtered to that queue, so only it is replaced."""
        self.queues.load(items, seq, now, queue)
        if queue is None:
            self._resynced("queues", seq)

    def load_channels(self, items: Iterable[Packet], seq: int, *, now: float | None = None) -> None:
        """``CoreShowChannels`` items. ``now`` dates the calls from their ``Duration``."""
        self.calls.load(items, seq, now)

    def load(
        self,
        action: str,
        items: Iterable[Packet],
        seq: int,
        *,
        now: float | None = None,
        queue: str | None = None,
    ) -> bool:
        """Route a list reply by its action name; False if the action feeds no state."""
        name = action.lower()
        if name in ("queuestatus", "queues"):
            self.load_queues(items, seq, now=now, queue=queue)
            return True
        loader = {
            "pjsipshowendpoints": self.load_endpoints,
            "devicestatelist": self.load_device_states,
            "extensionstatelist": self.load_extension_states,
            "coreshowchannels": self.load_channels,
        }.get(name)
        if loader is None:
            return False
        loader(items, seq, now=now)
        return True

    # -- events ----------------------------------------------------------------------------
    def apply(self, packet: Packet, now: float) -> bool:
        """Apply one live event. Never raises for what the packet holds; False when the event
        was malformed (a field missing or unreadable) and was skipped."""
        f = packet.fields
        entry = self._handlers.get(f.get("event", "").lower())
        if entry is None:
            self.stats["unknown"] += 1
            return True
        handler, floor = entry
        if floor is not None and packet.seq < floor(f):
            self.stats["stale"] += 1
            return True
        try:
            handler(f, packet.seq, event_time(f, now))
        except (KeyError, ValueError):
            self.stats["malformed"] += 1
            return False
        self.stats["applied"] += 1
        return True

    def _dispatch_table(self) -> dict[str, tuple[Handler, Callable[[dict[str, str]], int] | None]]:
        ep, qs, cs = self.endpoints, self.queues, self.calls

        def devices(f: dict[str, str]) -> int:
            return ep.seq_devices

        def hints(f: dict[str, str]) -> int:
            return ep.seq_hints

        def contacts(f: dict[str, str]) -> int:
            return ep.seq_contacts

        def queues(f: dict[str, str]) -> int:
            return qs.floor(f.get("queue"))

        def calls(f: dict[str, str]) -> int:
            return cs.seq_floor

        table: dict[str, tuple[Handler, Callable[[dict[str, str]], int] | None]] = {
            "devicestatechange": (ep.on_device_state, devices),
            "extensionstatus": (ep.on_extension_status, hints),
            "contactstatus": (ep.on_contact_status, contacts),
            "queueparams": (qs.on_params, queues),
            "queuestatus": (qs.on_params, queues),  # FCM630A
            "queuemember": (qs.on_member, queues),
            "queuememberstatus": (qs.on_member, queues),
            "queuememberadded": (qs.on_member, queues),
            "queuememberpause": (qs.on_member, queues),
            "queuememberpaused": (qs.on_member, queues),  # Asterisk 12's spelling
            "queuememberpenalty": (qs.on_member, queues),
            "queuememberringinuse": (qs.on_member, queues),
            "queuememberremoved": (qs.on_member_removed, queues),
            "queuecallerjoin": (self._both(qs.on_caller_join, cs.on_queue_join), queues),
            "queuecallerleave": (qs.on_caller_leave, queues),
            "queuecallerabandon": (qs.on_caller_abandon, queues),
            "agentcalled": (qs.on_agent_ring, queues),
            "agentringnoanswer": (qs.on_agent_ring, queues),
            "agentconnect": (self._both(qs.on_agent_connect, cs.on_agent_connect), queues),
            "agentcomplete": (qs.on_agent_complete, queues),
            "newchannel": (cs.on_new_channel, calls),
            "newstate": (cs.on_channel, calls),
            "newcallerid": (cs.on_channel, calls),
            "newconnectedline": (cs.on_channel, calls),
            "hangup": (cs.on_hangup, calls),
            "dialbegin": (cs.on_dial_begin, calls),
            "dialend": (cs.on_dial_end, calls),
            "bridgeenter": (cs.on_bridge_enter, calls),
            "bridgeleave": (cs.on_bridge_leave, calls),
            "hold": (cs.on_hold, calls),
            "unhold": (cs.on_unhold, calls),
            "fullybooted": (self._on_fully_booted, None),
            "shutdown": (self._on_shutdown, None),
            "reload": (self._on_reload, None),
        }
        return table

    def _both(self, queue_handler: Handler, call_handler: Handler) -> Handler:
        """A queue event that also says something about the caller's channels: their part is
        skipped when it is older than the channel list (that list may have buried them)."""

        def handle(f: dict[str, str], seq: int, t: float) -> None:
            queue_handler(f, seq, t)
            if seq >= self.calls.seq_floor:
                call_handler(f, seq, t)

        return handle

    def _on_fully_booted(self, f: dict[str, str], seq: int, t: float) -> None:
        uptime = to_float(f.get("uptime"), None)
        reload = to_float(f.get("lastreload"), None)
        self._set_pbx(
            status="up",
            started_at=t - uptime if uptime is not None else self.pbx.started_at,
            reloaded_at=t - reload if reload is not None else self.pbx.reloaded_at,
            t=t,
        )

    def _on_shutdown(self, f: dict[str, str], seq: int, t: float) -> None:
        # Every channel dies with the PBX and no Hangup may reach us before the socket closes.
        self.calls.clear(seq, t)
        self.queues.clear_callers(seq, t)
        self._set_pbx(status="shutting_down", t=t)

    def _on_reload(self, f: dict[str, str], seq: int, t: float) -> None:
        module = f.get("module", "").lower()
        stale = {d for prefix, d in _RELOAD_DOMAINS if module.startswith(prefix)}
        if not stale:  # All, or a module we cannot tell apart: trust nothing
            stale = {d for _, d in _RELOAD_DOMAINS}
        for domain in stale:
            self._reload_seq[domain] = seq
        self._set_pbx(reloaded_at=t, resync=self.pbx.resync | stale, t=t)

    def _resynced(self, domain: str, seq: int) -> None:
        if domain in self.pbx.resync and seq > self._reload_seq.get(domain, -1):
            self._set_pbx(resync=self.pbx.resync - {domain}, t=None)

    def _set_pbx(self, *, t: float | None, **values: object) -> None:
        for attr, value in values.items():
            if getattr(self.pbx, attr) != value:
                setattr(self.pbx, attr, value)
                self._pbx_changed = True
        if self._pbx_changed and t is not None:
            self.pbx.updated_at = t

    # -- reading ---------------------------------------------------------------------------
    def counts(self) -> tuple[int, int, int]:
        """(endpoints, queues, calls)."""
        return len(self.endpoints.table), len(self.queues.queues), len(self.calls.table)

    def far_end(self, uniqueid: str) -> Call | None:
        """The party a call talks to or rings, through Local channel pairs."""
        return self.calls.far_end(uniqueid)

    def calls_of(self, resource: str) -> list[Call]:
        """The live calls of one endpoint, oldest first."""
        found = [c for c in self.calls.table.rows.values() if c.endpoint == resource]
        return sorted(found, key=lambda c: (c.started_at or 0.0, c.uniqueid))

    def take_changes(self) -> Changes:
        """Everything changed since the last call, coalesced; clears the record."""
        pbx = None
        if self._pbx_changed:
            pbx = copy.copy(self.pbx)
            self._pbx_changed = False
        return Changes(
            pbx,
            self.endpoints.table.take(),
            self.queues.queues.take(),
            self.queues.members.take(),
            self.queues.callers.take(),
            self.calls.table.take(),
        )

    def snapshot(self) -> dict[str, object]:
        """Plain dicts of everything: queues hold their members (by interface) and their
        callers (by position)."""
        queues: dict[str, object] = {}
        for name, queue in self.queues.queues.rows.items():
            q = to_dict(queue)
            q["members"] = {k[1]: to_dict(m) for k, m in self.queues.members.group(name).items()}
            callers = sorted(self.queues.callers.group(name).values(), key=lambda c: c.position)
            q["callers"] = [to_dict(c) for c in callers]
            queues[name] = q
        return {
            "pbx": to_dict(self.pbx),
            "endpoints": {k: to_dict(e) for k, e in self.endpoints.table.rows.items()},
            "queues": queues,
            "calls": {k: to_dict(c) for k, c in self.calls.table.rows.items()},
        }
