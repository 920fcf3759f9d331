"""Pure live state of one PBX: endpoints, queues, members, waiting callers and calls.

``PbxState`` is the whole interface (``engine.py``); ``states`` holds the normalised
vocabularies, ``entities`` the dataclasses it hands out.
"""

from __future__ import annotations

from .engine import Changes, PbxState
from .entities import Call, Contact, Endpoint, PbxInfo, Queue, QueueCaller, QueueMember, to_dict
from .states import DEVICE_STATES, device_state, hint_state, member_status
from .table import Delta

__all__ = [
    "DEVICE_STATES",
    "Call",
    "Changes",
    "Contact",
    "Delta",
    "Endpoint",
    "PbxInfo",
    "PbxState",
    "Queue",
    "QueueCaller",
    "QueueMember",
    "device_state",
    "hint_state",
    "member_status",
    "to_dict",
]
