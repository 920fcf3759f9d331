"""What this AMI user may do on this PBX: ListCommands, then a harmless real attempt each.

ListCommands lists only the actions the user's write classes allow on stock Asterisk, but the
FCM630A prints ``(Priv: <none>)`` for everything, so each action the dashboard needs is also
tried. Asterisk checks privileges before it looks at parameters, so an attempt that is certain
to fail on its parameters (Hangup of a channel that cannot exist, Originate without a Channel)
tells "allowed" from "Permission denied" without touching a call.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ActionTimeout, AmiError
from .privileges import privilege_hint
from .protocol import Action, Reply

# Read actions are run for real (they change nothing)...
READ_PROBES: dict[str, Action] = {
    "PJSIPShowEndpoints": Action("PJSIPShowEndpoints"),
    "DeviceStateList": Action("DeviceStateList"),
    "ExtensionStateList": Action("ExtensionStateList"),
    "QueueStatus": Action("QueueStatus"),
    "QueueSummary": Action("QueueSummary"),
    "CoreShowChannels": Action("CoreShowChannels"),
}
# ...write actions get an attempt that cannot succeed: a channel name no PBX has, a missing
# parameter. The privilege check comes first, so the answer still tells allowed from denied.
WRITE_PROBES: dict[str, Action] = {
    "Hangup": Action("Hangup", Channel="fcmdash-probe/none-00000000"),
    "Originate": Action("Originate"),
    "QueuePause": Action("QueuePause", Interface="fcmdash-probe/none", Paused=False),
    "QueueAdd": Action("QueueAdd"),
    "QueueRemove": Action("QueueRemove"),
}
PROBES = {**READ_PROBES, **WRITE_PROBES}
# The FCM630A's own queue listing (see the seed guide); stock Asterisk 14+ no longer has it.
OPTIONAL = ("Queues",)


@dataclass
class Capability:
    action: str
    allowed: bool
    detail: str  # the PBX's answer, or what to grant

    def as_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, "detail": self.detail}


@dataclass
class Report:
    banner: str
    version: str
    listed: list[str]  # lower-cased action names from ListCommands
    capabilities: dict[str, Capability]
    endpoints: int | None
    queues: int | None

    @property
    def allowed(self) -> dict[str, bool]:
        return {name: cap.allowed for name, cap in self.capabilities.items()}

    def as_dict(self) -> dict[str, object]:
        return {
            "banner": self.banner,
            "version": self.version,
            "actions": {k: v.as_dict() for k, v in self.capabilities.items()},
            "endpoints": self.endpoints,
            "queues": self.queues,
        }


def judge(name: str, reply: Reply) -> Capability:
    msg = reply.message
    if not reply.ok and msg.lower().startswith("permission denied"):
        return Capability(name, False, f"Permission denied: {privilege_hint(name)}")
    if not reply.ok and msg.lower().startswith("invalid/unknown command"):
        return Capability(name, False, "not available on this PBX")
    return Capability(name, True, msg or "ok")


def count_endpoints(replies: dict[str, Reply]) -> int | None:
    eps = replies.get("PJSIPShowEndpoints")
    if eps is not None and eps.ok:
        return sum(1 for i in eps.items if i.fields.get("event") == "EndpointList")
    devs = replies.get("DeviceStateList")
    if devs is not None and devs.ok:
        return sum(1 for i in devs.items if i.fields.get("device", "").startswith("PJSIP/"))
    return None


def count_queues(replies: dict[str, Reply]) -> int | None:
    for name, item in (("QueueStatus", "QueueParams"), ("Queues", "QueueStatus")):
        r = replies.get(name)
        if r is not None and r.ok and r.items:
            return sum(1 for i in r.items if i.fields.get("event") == item)
    r = replies.get("QueueStatus")
    return 0 if r is not None and r.ok else None


async def probe(conn: object, *, timeout: float = 10.0) -> Report:
    """Probe ``conn`` (an open AmiConnection). Raises only for a lost connection."""
    send = conn.send  # type: ignore[attr-defined]
    listed_reply = await send(Action("ListCommands"), timeout=timeout, check=False)
    # Keys arrive lower-cased; only membership matters here.
    listed = sorted(k for k in listed_reply.response.fields if k not in ("response", "actionid"))
    replies: dict[str, Reply] = {}
    caps: dict[str, Capability] = {}
    for name, action in PROBES.items():
        try:
            reply = await send(action, timeout=timeout, check=False)
        except ActionTimeout:
            caps[name] = Capability(name, False, f"no reply within {timeout:g} s")
            continue
        replies[name] = reply
        caps[name] = judge(name, reply)
    for name in OPTIONAL:
        if listed and name.lower() not in listed:
            caps[name] = Capability(name, False, "not available on this PBX")
            continue
        try:
            # The FCM630A's Queues list has no end marker; the client closes it after a quiet
            # gap, or when the Ping below is answered (actions are handled in order).
            reply = await send(Action(name), timeout=timeout, check=False)
        except (ActionTimeout, AmiError) as exc:
            caps[name] = Capability(name, False, str(exc))
            continue
        replies[name] = reply
        caps[name] = judge(name, reply)
    banner = conn.banner  # type: ignore[attr-defined]
    return Report(
        banner=banner.text if banner else "",
        version=banner.version if banner else "",
        listed=listed,
        capabilities=caps,
        endpoints=count_endpoints(replies),
        queues=count_queues(replies),
    )
