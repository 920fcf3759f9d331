"""What the live state holds: plain dataclasses, mutated in place by the engine.

Fields marked ``internal`` are bookkeeping (which packet last changed a value, how good a
name's source is); ``to_dict`` leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .states import ENDPOINT_TECH, UNKNOWN

_INTERNAL = {"internal": True}


def _internal(default: object = 0) -> object:
    return field(default=default, repr=False, compare=False, metadata=_INTERNAL)


def to_dict(entity: object) -> dict[str, object]:
    """Public fields as a plain dict (contacts as a list of dicts)."""
    out: dict[str, object] = {}
    for f in _public_fields(type(entity)):
        value = getattr(entity, f)
        if f == "contacts":
            value = [{"uri": c.uri, "status": c.status} for c in value]
        elif isinstance(value, frozenset):
            value = sorted(value)
        out[f] = value
    return out


_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def _public_fields(cls: type) -> tuple[str, ...]:
    names = _FIELD_CACHE.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls) if not f.metadata.get("internal"))
        _FIELD_CACHE[cls] = names
    return names


@dataclass(frozen=True, slots=True)
class Contact:
    """One registered contact of an endpoint; ``status`` is "" when only the list named it."""

    uri: str
    status: str = ""


@dataclass(slots=True)
class Endpoint:
    """A PJSIP endpoint (extension or trunk), keyed by resource (``1001``, ``trunk_1``).

    ``registered`` is None until a source that knows says so (EndpointList, ContactStatus):
    a restricted AMI user that may not list endpoints never learns it from the lists.
    """

    resource: str
    technology: str = ENDPOINT_TECH
    name: str = ""
    state: str = UNKNOWN
    registered: bool | None = None
    contacts: tuple[Contact, ...] = ()
    active_channels: int = 0
    updated_at: float | None = None
    seq: int = _internal()  # type: ignore[assignment]
    state_seq: int = _internal()  # type: ignore[assignment]
    contacts_seq: int = _internal()  # type: ignore[assignment]
    state_rank: int = _internal()  # type: ignore[assignment]  # 0 none, 1 hint, 2 device
    name_rank: int = _internal()  # type: ignore[assignment]  # 0 none, 1 queue member, 2 channel


@dataclass(slots=True)
class Queue:
    """A call queue; ``name`` is the number (``6500``), ``display_name`` the FCM630A QueueName."""

    name: str
    display_name: str = ""
    strategy: str = ""
    max: int = 0
    calls: int = 0
    completed: int = 0
    abandoned: int = 0
    service_level: int | None = None
    service_level_perf: float | None = None
    holdtime: int = 0
    talktime: int = 0
    weight: int = 0
    chairman: str = ""
    updated_at: float | None = None
    seq: int = _internal()  # type: ignore[assignment]


@dataclass(slots=True)
class QueueMember:
    """A member of one queue, keyed by (queue, interface)."""

    queue: str
    interface: str
    state_interface: str = ""
    name: str = ""
    membership: str = ""
    penalty: int = 0
    calls_taken: int = 0
    last_call: float | None = None
    last_pause: float | None = None
    login_time: float | None = None
    in_call: bool = False
    status: str = UNKNOWN
    paused: bool = False
    paused_reason: str = ""
    ringinuse: bool | None = None
    wrapuptime: int = 0
    updated_at: float | None = None
    seq: int = _internal()  # type: ignore[assignment]


@dataclass(slots=True)
class QueueCaller:
    """A caller waiting in a queue, keyed by (queue, uniqueid)."""

    queue: str
    uniqueid: str
    position: int = 0
    channel: str = ""
    caller_id_num: str = ""
    caller_id_name: str = ""
    joined_at: float | None = None
    updated_at: float | None = None
    seq: int = _internal()  # type: ignore[assignment]


@dataclass(slots=True)
class Call:
    """One live channel, keyed by uniqueid; ``linkedid`` groups the legs of one call.

    ``peer`` is the uniqueid of the other channel in its two-party bridge or, before that,
    of the party it dials or is dialled by. ``endpoint`` is the PJSIP resource the channel
    belongs to (None for Local and other technologies). ``queue`` is the queue the call came
    through, ``answered_at`` when this leg's call was answered and ``waited`` how many seconds
    it had waited by then (the queue's HoldTime for a queue call).
    """

    uniqueid: str
    channel: str = ""
    linkedid: str = ""
    state: str = ""
    caller_id_num: str = ""
    caller_id_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    started_at: float | None = None
    bridge_id: str | None = None
    peer: str | None = None
    on_hold: bool = False
    endpoint: str | None = None
    queue: str = ""
    answered_at: float | None = None
    waited: int | None = None
    updated_at: float | None = None
    seq: int = _internal()  # type: ignore[assignment]


@dataclass(slots=True)
class PbxInfo:
    """The PBX itself: ``status`` is ``unknown``, ``up`` or ``shutting_down``.

    ``resync`` names the domains (``endpoints``, ``queues``) a ``Reload`` made stale; a later
    list of that domain clears it.
    """

    status: str = UNKNOWN
    started_at: float | None = None
    reloaded_at: float | None = None
    resync: frozenset[str] = frozenset()
    updated_at: float | None = None
