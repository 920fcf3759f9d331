"""Which AMI write class each action needs, and how to say so on the FCM630A and on Asterisk.

From ``AMI-REFERENCE.md`` §3 and §6 and the FCM630A guide's privilege table. Only the actions
the dashboard uses are listed; any one of an action's classes is enough.
"""

from __future__ import annotations

ACTION_CLASSES: dict[str, tuple[str, ...]] = {
    "pjsipshowendpoints": ("system",),
    "pjsipshowendpoint": ("system",),
    "pjsipshowcontacts": ("system",),
    "coreshowchannels": ("system", "reporting"),
    "corestatus": ("system", "reporting"),
    "devicestatelist": ("call", "reporting"),
    "extensionstatelist": ("call", "reporting"),
    "extensionstate": ("call", "reporting"),
    "hangup": ("system", "call"),
    "redirect": ("call",),
    "originate": ("originate",),
    "queueadd": ("agent",),
    "queueremove": ("agent",),
    "queuepause": ("agent",),
    "command": ("command",),
    "queuestatus": (),
    "queuesummary": (),
    "queues": (),
    "ping": (),
    "events": (),
    "listcommands": (),
}

# The FCM630A's web UI names for Asterisk's classes (its guide, Table 1).
FCM630A_NAMES = {
    "system": "Special Command",
    "call": "Call",
    "agent": "Agent",
    "originate": "Originate",
    "reporting": "Reporting",
    "command": "Special Command",
}


def privilege_hint(action: str) -> str:
    """A sentence naming the privilege to grant, e.g. for a disabled button or an error."""
    classes = ACTION_CLASSES.get(action.lower())
    if not classes:
        return "the AMI user may not run it (check its privileges and Permitted IP(s) on the PBX)"
    fcm = " or ".join(dict.fromkeys(FCM630A_NAMES.get(c, c.title()) for c in classes))
    ast = " or ".join(classes)
    return f"needs {fcm} on the FCM630A AMI user (write = {ast} in Asterisk's manager.conf)"
