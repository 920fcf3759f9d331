"""Live channels, the bridges they sit in, and who each one is talking to.

Every channel event carries a snapshot of its channel (``Dest``-prefixed for the dialled one
in DialBegin/DialEnd), so any of them refreshes the call and creates it if its Newchannel was
missed, except for a channel this session has already seen hang up: late events must not
bring it back.

``peer``: in a two-party bridge, the other member; before that, DialBegin links caller and
callee (a caller ringing several phones points at the newest one still ringing). A channel
that leaves its bridge, or whose peer hangs up, has none. Local channels are two halves
(``;1``/``;2``) with a peer each; ``far_end`` walks through them to the real other party.

``queue``, ``answered_at``, ``waited``: the queue events name the queue a caller joined and,
with AgentConnect, its ``HoldTime``; a ``DialEnd`` with ``ANSWER`` answers any other call,
the caller having waited since its channel was created. A channel list only knows the queue
(the caller's ``Application: Queue`` with the queue first in ``ApplicationData``); what was
learnt before a resync is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ami.packet import Packet
from .endpoints import Endpoints
from .entities import Call
from .states import caller_text, channel_resource, duration, local_partner, to_float, to_int
from .table import Table

_OUTGOING_LINE = "(Outgoing Line)"  # ApplicationData of a channel that Dial/Queue created
_MAX_QUEUE = 80  # the longest queue name the mirror keeps (Queue.name)


class Calls:
    """The call table plus bridge and dial bookkeeping. Handlers take (fields, seq, time)."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.table: Table[str, Call] = Table()
        self.seq_floor = 0
        self._endpoints = endpoints
        self._by_name: dict[str, str] = {}
        self._bridges: dict[str, list[str]] = {}
        self._dialing: dict[str, list[str]] = {}  # caller uniqueid -> callees still ringing

    def begin_session(self) -> None:
        self.seq_floor = 0
        for call in self.table.rows.values():
            call.seq = 0
        self.table.forget_history()

    # -- reading ---------------------------------------------------------------------------
    def by_name(self, channel: str) -> Call | None:
        uid = self._by_name.get(channel)
        return self.table.get(uid) if uid is not None else None

    def far_end(self, uid: str) -> Call | None:
        """The party ``uid`` talks to (or rings), seen through Local channel pairs."""
        call = self.table.get(uid)
        seen = {uid}
        for _ in range(8):
            if call is None or call.peer is None or call.peer in seen:
                return None
            peer = self.table.get(call.peer)
            if peer is None:
                return None
            seen.add(peer.uniqueid)
            partner_name = local_partner(peer.channel)
            partner = self.by_name(partner_name) if partner_name else None
            if partner is None or partner.peer is None or partner.peer in seen:
                return peer
            seen.add(partner.uniqueid)
            call = partner
        return None

    # -- lists -----------------------------------------------------------------------------
    def load(self, items: Iterable[Packet], seq: int, now: float | None) -> None:
        seen: set[str] = set()
        outgoing: list[Call] = []
        old_peers: dict[str, str | None] = {}
        for item in items:
            f = item.fields
            uid = f.get("uniqueid")
            if not uid or self.table.removed_after(uid, seq):
                continue
            seen.add(uid)
            call = self.table.get(uid)
            if call is not None and call.seq > seq:
                continue  # an event newer than the list already described it
            if call is None:
                call = self._create(uid, f.get("channel", ""), now)
            old_peers[uid] = call.peer
            self._refresh(call, f, "", now)
            call.bridge_id = f.get("bridgeid") or None
            call.peer = None
            secs = duration(f.get("duration"))
            if now is not None and secs is not None:
                call.started_at = now - secs
            elif call.started_at is None:
                call.started_at = _uniqueid_time(uid)
            if f.get("applicationdata") == _OUTGOING_LINE:
                outgoing.append(call)
            elif f.get("application", "").lower() == "queue" and not call.queue:
                call.queue = f.get("applicationdata", "").partition(",")[0][:_MAX_QUEUE]
            self.table.mark(uid, call)  # a resync: the flusher rewrites every listed call
        for uid in [u for u, c in self.table.rows.items() if u not in seen and c.seq <= seq]:
            self._forget(uid, seq)
            self.table.remove(uid, seq)
        self._rebuild(old_peers, outgoing, now)
        self.seq_floor = seq

    def _rebuild(
        self, old_peers: dict[str, str | None], outgoing: list[Call], t: float | None
    ) -> None:
        rows = self.table.rows
        self._by_name = {c.channel: u for u, c in rows.items()}
        self._bridges = {}
        self._dialing = {}
        for uid, call in rows.items():
            if call.bridge_id:
                self._bridges.setdefault(call.bridge_id, []).append(uid)
        for bridge in self._bridges:
            self._relink(bridge, t)
        for uid, old in old_peers.items():
            call = rows[uid]
            if call.peer is None and old in rows and not call.bridge_id:
                self._set_peer(call, old, t)
        # A ringing leg Dial or Queue created: the party it rings for started the call.
        for call in outgoing:
            caller = rows.get(call.linkedid)
            if call.bridge_id or caller is None or caller is call:
                continue
            if call.peer is None:
                self._set_peer(call, caller.uniqueid, t)
            self._dialing.setdefault(caller.uniqueid, []).append(call.uniqueid)
            if caller.peer is None and not caller.bridge_id:
                self._set_peer(caller, call.uniqueid, t)
        counts: dict[str, int] = {}
        for call in rows.values():
            if call.endpoint:
                counts[call.endpoint] = counts.get(call.endpoint, 0) + 1
        self._endpoints.set_channel_counts(counts, t)

    # -- events ----------------------------------------------------------------------------
    def on_new_channel(self, f: dict[str, str], seq: int, t: float) -> None:
        call = self._snapshot(f, "", seq, t)
        # A new PJSIP channel carries its endpoint's configured caller ID; later snapshots
        # carry what the dialplan or an Originate made of it ("Lab Originate" <1001> in c1).
        if call is None or not call.endpoint or call.caller_id_num != call.endpoint:
            return
        if call.caller_id_name != call.endpoint:
            self._endpoints.learn_name(call.endpoint, call.caller_id_name, 2, t)

    def on_channel(self, f: dict[str, str], seq: int, t: float) -> None:
        """Newstate, NewCallerid, NewConnectedLine: a snapshot, nothing more."""
        self._snapshot(f, "", seq, t)

    def on_hangup(self, f: dict[str, str], seq: int, t: float) -> None:
        uid = f["uniqueid"]
        if uid in self.table:
            self._forget(uid, seq, t)
            self.table.remove(uid, seq)
        else:
            self.table.bury(uid, seq)  # a list older than this Hangup must not add it back

    def on_dial_begin(self, f: dict[str, str], seq: int, t: float) -> None:
        dest = self._snapshot(f, "dest", seq, t)
        caller = self._snapshot(f, "", seq, t) if "uniqueid" in f else None  # none for Originate
        if dest is None or caller is None:
            return
        self._dialing.setdefault(caller.uniqueid, []).append(dest.uniqueid)
        if not dest.bridge_id:
            self._set_peer(dest, caller.uniqueid, t)
        if not caller.bridge_id:
            self._set_peer(caller, dest.uniqueid, t)

    def on_dial_end(self, f: dict[str, str], seq: int, t: float) -> None:
        dest = self._snapshot(f, "dest", seq, t)
        caller = self._snapshot(f, "", seq, t) if "uniqueid" in f else None
        if dest is None or caller is None:
            return
        ringing = self._stop_ringing(caller.uniqueid, dest.uniqueid)
        if f.get("dialstatus", "").upper() == "ANSWER":
            self._answer(caller, t, None if caller.started_at is None else t - caller.started_at)
            self._answer(dest, t, None)
            if not dest.bridge_id:
                self._set_peer(dest, caller.uniqueid, t)
            if not caller.bridge_id:
                self._set_peer(caller, dest.uniqueid, t)
            return
        if dest.peer == caller.uniqueid and not dest.bridge_id:
            self._set_peer(dest, None, t)
        if caller.peer == dest.uniqueid and not caller.bridge_id:
            self._set_peer(caller, self._still_ringing(ringing), t)

    def on_queue_join(self, f: dict[str, str], seq: int, t: float) -> None:
        """QueueCallerJoin: the caller's call comes through this queue."""
        caller = self._snapshot(f, "", seq, t)
        if caller is not None:
            self._set_queue(caller, f["queue"], t)

    def on_agent_connect(self, f: dict[str, str], seq: int, t: float) -> None:
        """AgentConnect: the queue's own account of how long the caller waited."""
        caller = self._snapshot(f, "", seq, t)
        agent = self._snapshot(f, "dest", seq, t) if "destuniqueid" in f else None
        hold = to_int(f.get("holdtime"), None)
        for call in (caller, agent):
            if call is not None:
                self._set_queue(call, f["queue"], t)
        if caller is not None:
            self._answer(caller, t, hold, override=True)
        if agent is not None:
            self._answer(agent, t, None)

    def on_bridge_enter(self, f: dict[str, str], seq: int, t: float) -> None:
        bridge = f["bridgeuniqueid"]
        call = self._snapshot(f, "", seq, t)
        if call is None:
            return
        if call.bridge_id and call.bridge_id != bridge:
            self._leave_bridge(call, t)
        members = self._bridges.setdefault(bridge, [])
        swap = f.get("swapuniqueid")
        if swap and swap in members:
            members.remove(swap)  # it is being replaced; its own BridgeLeave follows
        if call.uniqueid not in members:
            members.append(call.uniqueid)
        if call.bridge_id != bridge:
            call.bridge_id = bridge
            self._touch(call, t)
        self._relink(bridge, t)

    def on_bridge_leave(self, f: dict[str, str], seq: int, t: float) -> None:
        bridge = f["bridgeuniqueid"]
        call = self._snapshot(f, "", seq, t)
        if call is not None and call.bridge_id == bridge:
            self._leave_bridge(call, t)

    def on_hold(self, f: dict[str, str], seq: int, t: float) -> None:
        self._set_hold(f, seq, t, True)

    def on_unhold(self, f: dict[str, str], seq: int, t: float) -> None:
        self._set_hold(f, seq, t, False)

    def clear(self, seq: int, t: float | None) -> None:
        """Every channel is about to go (Shutdown)."""
        for uid in list(self.table.rows):
            self.table.remove(uid, seq)
        self._by_name.clear()
        self._bridges.clear()
        self._dialing.clear()
        self._endpoints.set_channel_counts({}, t)

    # -- snapshot --------------------------------------------------------------------------
    def _snapshot(self, f: dict[str, str], prefix: str, seq: int, t: float) -> Call | None:
        uid = f[prefix + "uniqueid"]
        call = self.table.get(uid)
        if call is None:
            if self.table.was_removed(uid):
                return None  # hung up already: a late event must not resurrect it
            call = self._create(uid, f.get(prefix + "channel", ""), t)
            call.started_at = t
        call.seq = seq
        self._refresh(call, f, prefix, t)
        return call

    def _refresh(self, call: Call, f: dict[str, str], p: str, t: float | None) -> None:
        changed = False
        name = f.get(p + "channel")
        if name and name != call.channel:
            self._rename(call, name, t)
            changed = True
        value = f.get(p + "channelstatedesc")
        if value is not None and value != call.state:
            call.state = value
            changed = True
        value = f.get(p + "linkedid")
        if value and value != call.linkedid:
            call.linkedid = value
            changed = True
        value = f.get(p + "calleridnum")
        if value is not None and (value := caller_text(value)) != call.caller_id_num:
            call.caller_id_num = value
            changed = True
        value = f.get(p + "calleridname")
        if value is not None and (value := caller_text(value)) != call.caller_id_name:
            call.caller_id_name = value
            changed = True
        value = f.get(p + "connectedlinenum")
        if value is not None and (value := caller_text(value)) != call.connected_num:
            call.connected_num = value
            changed = True
        value = f.get(p + "connectedlinename")
        if value is not None and (value := caller_text(value)) != call.connected_name:
            call.connected_name = value
            changed = True
        value = f.get(p + "context")
        if value and value != call.context:
            call.context = value
            changed = True
        value = f.get(p + "exten")
        if value and value != call.exten:
            call.exten = value
            changed = True
        if changed:
            self._touch(call, t)

    def _create(self, uid: str, channel: str, t: float | None) -> Call:
        call = Call(uid, channel=channel, endpoint=channel_resource(channel), updated_at=t)
        self.table.add(uid, call)
        if channel:
            self._by_name[channel] = uid
        if call.endpoint:
            self._endpoints.count_channel(call.endpoint, +1, t)
        return call

    def _rename(self, call: Call, name: str, t: float | None) -> None:
        if self._by_name.get(call.channel) == call.uniqueid:
            del self._by_name[call.channel]
        self._by_name[name] = call.uniqueid
        call.channel = name
        endpoint = channel_resource(name)
        if endpoint != call.endpoint:
            if call.endpoint:
                self._endpoints.count_channel(call.endpoint, -1, t)
            if endpoint:
                self._endpoints.count_channel(endpoint, +1, t)
            call.endpoint = endpoint

    def _forget(self, uid: str, seq: int, t: float | None = None) -> None:
        """Unhook ``uid`` from names, bridges, dial links and peers before it is removed."""
        call = self.table.rows[uid]
        if self._by_name.get(call.channel) == uid:
            del self._by_name[call.channel]
        if call.endpoint:
            self._endpoints.count_channel(call.endpoint, -1, t)
        if call.bridge_id:
            self._leave_bridge(call, t)
        for dest_uid in self._dialing.pop(uid, ()):
            dest = self.table.get(dest_uid)
            if dest is not None and dest.peer == uid:
                self._set_peer(dest, None, t)
        if call.peer is not None:
            ringing = self._stop_ringing(call.peer, uid)
            other = self.table.get(call.peer)
            if other is not None and other.peer == uid:
                self._set_peer(other, self._still_ringing(ringing), t)

    # -- bridges and peers -----------------------------------------------------------------
    def _leave_bridge(self, call: Call, t: float | None) -> None:
        bridge = call.bridge_id
        assert bridge is not None
        members = self._bridges.get(bridge, [])
        if call.uniqueid in members:
            members.remove(call.uniqueid)
        call.bridge_id = None
        if call.peer in members:
            call.peer = None
        self._touch(call, t)
        if len(members) == 1:
            other = self.table.get(members[0])
            if other is not None and other.peer == call.uniqueid:
                self._set_peer(other, None, t)
        elif members:
            self._relink(bridge, t)
        else:
            self._bridges.pop(bridge, None)

    def _relink(self, bridge: str, t: float | None) -> None:
        members = self._bridges.get(bridge, [])
        calls = [self.table.get(uid) for uid in members]
        if len(calls) == 2 and calls[0] is not None and calls[1] is not None:
            self._set_peer(calls[0], calls[1].uniqueid, t)
            self._set_peer(calls[1], calls[0].uniqueid, t)
        elif len(calls) > 2:
            for call in calls:  # a conference: no single other party
                if call is not None:
                    self._set_peer(call, None, t)

    def _set_peer(self, call: Call, peer: str | None, t: float | None) -> None:
        if call.peer != peer:
            call.peer = peer
            self._touch(call, t)

    def _stop_ringing(self, caller: str, dest: str) -> list[str]:
        ringing = self._dialing.get(caller)
        if ringing is None:
            return []
        if dest in ringing:
            ringing.remove(dest)
        if not ringing:
            del self._dialing[caller]
        return ringing

    def _still_ringing(self, ringing: list[str]) -> str | None:
        return next((uid for uid in reversed(ringing) if uid in self.table.rows), None)

    def _set_hold(self, f: dict[str, str], seq: int, t: float, on_hold: bool) -> None:
        call = self._snapshot(f, "", seq, t)
        if call is not None and call.on_hold != on_hold:
            call.on_hold = on_hold
            self._touch(call, t)

    def _set_queue(self, call: Call, queue: str, t: float) -> None:
        queue = queue[:_MAX_QUEUE]
        if queue and call.queue != queue:
            call.queue = queue
            self._touch(call, t)

    def _answer(
        self, call: Call, t: float, waited: float | None, *, override: bool = False
    ) -> None:
        """Note that ``call`` was answered at ``t`` (the first answer counts) after ``waited``
        seconds; ``override``: the queue's HoldTime replaces a wait measured here."""
        changed = False
        if call.answered_at is None:
            call.answered_at = t
            changed = True
        if waited is not None and (override or call.waited is None):
            value = max(0, round(waited))
            changed |= value != call.waited
            call.waited = value
        if changed:
            self._touch(call, t)

    def _touch(self, call: Call, t: float | None) -> None:
        if t is not None:
            call.updated_at = t
        self.table.mark(call.uniqueid, call)


def _uniqueid_time(uid: str) -> float | None:
    """Asterisk uniqueids are ``[systemname-]<epoch>.<n>``: the channel's creation second."""
    epoch = uid.rpartition("-")[2].partition(".")[0]
    return to_float(epoch, None) if epoch.isdigit() else None
