"""What an AMI stream says the PBX looks like, worked out here without monitor.state, so that
the mirror can be checked against the transcript or capture itself rather than against code
that shares its assumptions.

The fold is deliberately naive and only claims what the stream states outright:

- devices: the last ``DeviceStateChange`` of each ``PJSIP/<x>`` device (live or list item);
- members: the members a ``QueueStatus`` reply listed for a queue (its ``QueueParams`` item
  starts the queue's block, so the last reply wins), then the member events after it; for each
  (queue, interface), the last ``Paused`` and ``Status`` said;
- channels: every uniqueid a channel event or ``CoreShowChannel`` item named, until its
  ``Hangup``, with its latest channel name and linkedid;
- bridges: ``BridgeEnter`` / ``BridgeLeave`` (and a hangup) membership; a bridge with exactly
  two channels makes them each other's peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.ami.packet import Packet
from monitor.ami.parser import Parser
from monitor.ami.protocol import encode_packet
from monitor.state.states import device_state, member_status

from .harness import db_calls, db_members, db_states

CACOFONISK = Path(__file__).resolve().parents[1] / "fixtures" / "cacofonisk" / "fixtures"

_CHANNEL_EVENTS = {
    "newchannel", "newstate", "newcallerid", "newconnectedline", "newexten", "newaccountcode",
    "dialbegin", "dialstate", "dialend", "bridgeenter", "bridgeleave", "hold", "unhold",
    "musiconholdstart", "musiconholdstop", "softhanguprequest", "hanguprequest",
    "coreshowchannel", "queuecallerjoin", "queuecallerleave", "agentcalled", "agentconnect",
    "agentcomplete", "varset",
}  # fmt: skip
_MEMBER_EVENTS = {
    "queuemember", "queuememberstatus", "queuememberpause", "queuememberadded",
    "queuememberpenalty", "queuememberringinuse",
}  # fmt: skip


@dataclass
class Picture:
    devices: dict[str, str] = field(default_factory=dict)
    members: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    listed_queues: set[str] = field(default_factory=set)
    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    bridges: dict[str, list[str]] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)

    # -- folding -------------------------------------------------------------------------------
    def feed(self, packets: Iterable[Packet]) -> Picture:
        for p in packets:
            self.apply(p)
        return self

    def apply(self, p: Packet) -> None:
        name = p.name.lower()
        if name == "devicestatechange":
            device = p.get("Device") or ""
            if device.startswith("PJSIP/"):
                self.devices[device[6:]] = device_state(p.get("State"))
        elif name == "queueparams":
            queue = p.get("Queue") or ""
            self.listed_queues.add(queue)
            self.members = {k: v for k, v in self.members.items() if k[0] != queue}
        elif name in _MEMBER_EVENTS:
            key = (p.get("Queue") or "", p.get("Interface") or p.get("Location") or "")
            member = self.members.setdefault(key, {})
            if p.get("Paused") is not None:
                member["paused"] = p.get("Paused") == "1"
            if p.get("Status") is not None:
                member["status"] = member_status(p.get("Status"))
        elif name == "queuememberremoved":
            key = (p.get("Queue") or "", p.get("Interface") or p.get("Location") or "")
            self.members.pop(key, None)
        if name in _CHANNEL_EVENTS:
            self._channel(p, "")
            self._channel(p, "Dest")
            if name == "coreshowchannel" and p.get("BridgeId"):
                self._enter(p.get("Uniqueid") or "", p.get("BridgeId") or "")
            elif name == "bridgeenter":
                self._enter(p.get("Uniqueid") or "", p.get("BridgeUniqueid") or "")
            elif name == "bridgeleave":
                self._leave(p.get("Uniqueid") or "")
        elif name == "hangup":
            uid = p.get("Uniqueid") or ""
            self._leave(uid)
            self.channels.pop(uid, None)
            self.dead.add(uid)

    def _channel(self, p: Packet, prefix: str) -> None:
        uid, name = p.get(prefix + "Uniqueid"), p.get(prefix + "Channel")
        if not uid or not name or uid in self.dead:
            return
        row = self.channels.setdefault(uid, {})
        row["channel"] = name
        row["linkedid"] = p.get(prefix + "Linkedid") or row.get("linkedid") or uid

    def _enter(self, uid: str, bridge: str) -> None:
        self._leave(uid)
        if uid in self.channels:
            self.bridges.setdefault(bridge, []).append(uid)

    def _leave(self, uid: str) -> None:
        for bridge, members in list(self.bridges.items()):
            if uid in members:
                members.remove(uid)
                if not members:
                    del self.bridges[bridge]

    # -- reading -------------------------------------------------------------------------------
    def peers(self) -> dict[str, tuple[str, str]]:
        """uniqueid -> (peer uniqueid, bridge) for every two-party bridge."""
        out = {}
        for bridge, (a, b) in ((k, v) for k, v in self.bridges.items() if len(v) == 2):
            out[a], out[b] = (b, bridge), (a, bridge)
        return out

    def differences(self, pbx_id: int, *, members: bool = True) -> list[str]:
        """What the database of ``pbx_id`` shows differently (sync: call from a thread)."""
        out: list[str] = []
        calls = db_calls(pbx_id)
        for uid in sorted(set(self.channels) | set(calls)):
            want, got = self.channels.get(uid), calls.get(uid)
            if want is None:
                out.append(f"call {uid} ({got['channel']}) is in the database, hung up on the PBX")
            elif got is None:
                out.append(f"call {uid} ({want['channel']}) is missing from the database")
            elif (got["channel"], got["linkedid"]) != (want["channel"], want["linkedid"]):
                out.append(f"call {uid}: {got['channel']}/{got['linkedid']} != {want}")
        for uid, (peer, bridge) in self.peers().items():
            got = calls.get(uid)
            want = (peer, self.channels[peer]["channel"], bridge)
            if (
                got is not None
                and (got["peer_uniqueid"], got["peer_channel"], got["bridge_id"]) != want
            ):
                out.append(
                    f"call {got['channel']}: peer {got['peer_channel'] or '-'} "
                    f"({got['peer_uniqueid']}) in {got['bridge_id'] or '-'}, want {want}"
                )
        states = db_states(pbx_id)
        for resource, state in sorted(self.devices.items()):
            if states.get(resource) != state:
                out.append(f"endpoint {resource}: {states.get(resource)} != {state}")
        if members:
            out.extend(self._member_differences(db_members(pbx_id)))
        return out

    def _member_differences(self, rows: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
        out = []
        for key, want in sorted(self.members.items()):
            got = rows.get(key)
            if got is None:
                out.append(f"member {key} is missing from the database")
                continue
            for attr, value in want.items():
                if got[attr] != value:
                    out.append(f"member {key}: {attr} {got[attr]!r} != {value!r}")
        for key in rows:
            if key[0] in self.listed_queues and key not in self.members:
                out.append(f"member {key} is in the database, not in the queue")
        return out


# -- cacofonisk captures -------------------------------------------------------------------------
def capture(name: str) -> list[dict[str, str]]:
    """A cacofonisk capture by its path under fixtures/, e.g. ``xfer_attended/xfer_abacbc``."""
    return json.loads((CACOFONISK / f"{name}.json").read_text())


def capture_names() -> list[str]:
    return sorted(
        str(p.relative_to(CACOFONISK).with_suffix("")) for p in CACOFONISK.rglob("*.json")
    )


def pairs(event: dict[str, str]) -> list[tuple[str, str]]:
    """The event as AMI key/value pairs (the captures add a ``content`` key of their own)."""
    return [(k, v) for k, v in event.items() if k != "content"]


def packets(events: Iterable[dict[str, str]]) -> list[Packet]:
    parser = Parser(expect_banner=False)
    for event in events:
        parser.feed(encode_packet(pairs(event)))
    return [p for p in parser.packets() if isinstance(p, Packet)]


def category(event: dict[str, str]) -> str:
    return (event.get("Privilege") or "system").split(",")[0].lower()
