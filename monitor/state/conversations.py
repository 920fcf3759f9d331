"""Calls as supervisors think of them: one conversation per ``Linkedid``, not one per channel.

Asterisk gives every channel a call creates the ``Linkedid`` of the channel that started it
(AMI-REFERENCE.md, channel snapshot), so the caller's leg, the legs it dials, the Local channel
halves a queue or a follow-me puts in between, and the agent's leg all share it. Rules:

- Local halves (``Local/...;1`` / ``;2``) are plumbing: they belong to the conversation (a
  hang-up ends them too) but are never shown as parties.
- The *caller* is the leg whose uniqueid is the linkedid, else the oldest party left (the
  originator of an ``Originate`` to a Local channel has none of its own).
- The *callee* is the party that answered (its leg is ``Up`` or bridged), else the newest one
  still ringing; the other parties (the rest of a ring-all queue) are ``others``.
- Direction: a party whose resource (``PJSIP/1001-…`` -> ``1001``) is all digits is an
  extension, anything else (``trunk_1``, a provider's peer) a trunk. Inbound: started on a
  trunk; outbound: an extension called a trunk; internal: extensions only.

Works on the live state's ``Call`` entities and on the mirror's ``Call`` rows alike: it reads
only the fields both have (times are epoch floats in one and datetimes in the other, compared
only with their own kind).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

INBOUND = "inbound"
OUTBOUND = "outbound"
INTERNAL = "internal"

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
# A call with no other party yet, by its caller's channel state: dialling, or answered by the
# PBX itself (an IVR, voicemail, a Wait), which the channel calls "Up".
_ALONE = {"down": "dialling", "ring": "dialling", "up": "in progress"}


def key_of(leg: Any) -> str:
    """The conversation a channel belongs to: its linkedid (its own uniqueid if it has none)."""
    return leg.linkedid or leg.uniqueid


def dom_id(pbx_id: int, key: str) -> str:
    """The conversation row's element id: stable for the conversation's whole life."""
    return f"call-{pbx_id}-{_UNSAFE_ID.sub('_', key)}"


def is_local(channel: str) -> bool:
    return channel.startswith("Local/")


def resource_of(channel: str) -> str:
    """``PJSIP/1001-00000004`` -> ``1001``, ``SIP/trunk-0000a`` -> ``trunk``; "" if unnamed."""
    _, slash, rest = channel.partition("/")
    base, dash, _ = rest.rpartition("-")
    return base if slash and dash else rest


@dataclass
class Party:
    """One end of a conversation: a real phone or trunk channel."""

    leg: Any
    resource: str
    number: str
    name: str

    @property
    def is_extension(self) -> bool:
        return self.resource.isdigit()

    @property
    def answered(self) -> bool:
        return bool(self.leg.bridge_id) or self.leg.state == "Up"


@dataclass
class Conversation:
    """Every live channel of one call (``legs``, oldest first) and what the row shows."""

    key: str
    legs: list[Any]
    caller: Party | None = None
    callee: Party | None = None
    others: list[Party] = field(default_factory=list)
    queue: str = ""
    direction: str = INTERNAL
    state: str = ""
    on_hold: bool = False
    started_at: Any = None
    answered_at: Any = None
    waited: int | None = None

    @property
    def channels(self) -> list[str]:
        """What a hang-up sends ``Hangup`` for: the parties first, then the Local halves
        (usually gone with them by then)."""
        names = [leg.channel for leg in self.legs if leg.channel]
        return sorted(names, key=is_local)


def party(leg: Any) -> Party:
    """An extension without a caller ID is its own number; a trunk's caller may have none."""
    resource = resource_of(leg.channel)
    number = leg.caller_id_num or (resource if resource.isdigit() else "")
    name = leg.caller_id_name if leg.caller_id_name != number else ""
    return Party(leg, resource, number, name)


def group(legs: Iterable[Any]) -> list[Conversation]:
    """The conversations of ``legs`` (any channels of one PBX), oldest first."""
    by_key: dict[str, list[Any]] = {}
    for leg in legs:
        by_key.setdefault(key_of(leg), []).append(leg)
    found = [conversation(key, members) for key, members in by_key.items()]
    return sorted(found, key=lambda c: (_sortable(c.started_at), c.key))


def conversation(key: str, legs: Sequence[Any]) -> Conversation:
    """One conversation from all of its live channels."""
    legs = sorted(legs, key=lambda leg: (_sortable(leg.started_at), leg.uniqueid))
    parties = [party(leg) for leg in legs if not is_local(leg.channel)]
    caller = next((p for p in parties if p.leg.uniqueid == key), parties[0] if parties else None)
    rest = [p for p in parties if p is not caller]
    answered = [p for p in rest if p.answered]
    callee = answered[0] if answered else (rest[-1] if rest else None)
    conv = Conversation(
        key,
        list(legs),
        caller=caller,
        callee=callee,
        others=[p for p in rest if p is not callee],
        queue=next((leg.queue for leg in legs if leg.queue), ""),
        direction=direction(caller, callee),
        on_hold=any(leg.on_hold for leg in legs),
        started_at=legs[0].started_at if legs else None,
    )
    conv.answered_at = min(
        (leg.answered_at for leg in legs if leg.answered_at is not None), default=None
    )
    conv.waited = _waited(caller, legs)
    conv.state = _state(conv)
    return conv


def direction(caller: Party | None, callee: Party | None) -> str:
    if caller is not None and not caller.is_extension:
        return INBOUND
    if callee is not None and not callee.is_extension:
        return OUTBOUND
    return INTERNAL


def _waited(caller: Party | None, legs: Sequence[Any]) -> int | None:
    """The caller's wait (a queue's HoldTime, else until its dial was answered)."""
    if caller is not None and caller.leg.waited is not None:
        return caller.leg.waited
    return min((leg.waited for leg in legs if leg.waited is not None), default=None)


def _state(conv: Conversation) -> str:
    if conv.on_hold:
        return "on hold"
    if conv.callee is not None and conv.callee.answered:
        return "talking"
    if conv.callee is not None:
        return "ringing"
    if conv.queue and conv.answered_at is None:
        return "waiting in queue"
    leg = conv.caller.leg if conv.caller is not None else conv.legs[0]
    return _ALONE.get((leg.state or "").lower(), (leg.state or "").lower())


def _sortable(value: Any) -> float:
    """Start times of either kind (epoch seconds, datetimes) as a sort key; unknown first."""
    if value is None:
        return 0.0
    return value if isinstance(value, (int, float)) else value.timestamp()
