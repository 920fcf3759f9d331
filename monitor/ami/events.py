"""The AMI events the dashboard uses. Everything else is skipped by the parser before it is
decoded (``Parser(keep_events=WANTED_EVENTS)``): on a busy PBX most of the stream is Newexten,
VarSet, Cdr and security events that no tile shows."""

from __future__ import annotations

WANTED_EVENTS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        # endpoints and hints
        "DeviceStateChange",
        "ExtensionStatus",
        "ContactStatus",
        # queues (stock Asterisk, and the FCM630A's QueueStatus / QueueMemberStatus forms)
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "QueueStatus",
        "QueueParams",
        "AgentCalled",
        "AgentConnect",
        "AgentComplete",
        "AgentRingNoAnswer",
        # calls
        "Newchannel",
        "Newstate",
        "NewCallerid",
        "NewConnectedLine",
        "Hangup",
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
        "BridgeLeave",
        "Hold",
        "Unhold",
        "OriginateResponse",
        # what tells an abandon from a timeout, and a key pressed to leave a queue (the
        # history's outcomes, monitor/history/__init__.py)
        "HangupRequest",
        "SoftHangupRequest",
        "DTMFEnd",
        # the PBX itself
        "FullyBooted",
        "Shutdown",
        "Reload",
    )
)

# Events kept only when they hold these bytes: app_queue's QUEUESTATUS (TIMEOUT, LEAVEEMPTY)
# tells a timeout from an empty queue, among the hundreds of VarSets of a busy PBX (f5 has
# 397 for five calls), which stay skipped unread. Only users reading ``dialplan`` get them.
WANTED_IF: dict[str, bytes] = {"varset": b"Variable: QUEUESTATUS\r"}
