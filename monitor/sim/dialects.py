"""What differs between the lab's stock Asterisk 22 and the customer's FCM630A.

The FCM630A facts come from its AMI guide (``/work/shared/seed/FCM630A-AMI-Guide.txt``):
banner ``5.0.0``, ports 7777/5039, ``Location`` in queue-member events, the vendor ``Queues``
action (no end marker), ``ListCommands`` lines as ``Name: description (Priv: <none>)`` with
vendor actions, and the "Special Command" privilege that opens the PJSIP endpoint listings.
Where the guide is silent the FCM630A behaves like stock Asterisk here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import STOCK_ACTIONS


@dataclass(frozen=True)
class Dialect:
    name: str
    ami_version: str
    version_line: str  # ``core show version``
    asterisk_version: str  # CoreSettings AsteriskVersion
    port: int  # the command's default TCP port
    tls_port: int
    member_key: str  # "Interface" (stock) or "Location" (FCM630A) in QueueMember* events
    queues_action: bool  # the vendor ``Queues`` action exists
    fcm_style: bool  # ListCommands / PJSIP listings as the guide shows them
    # Extra write classes that open PJSIPShow*: the FCM630A's "Special Command" (command).
    pjsip_show_classes: tuple[str, ...] = ("system",)

    @property
    def banner(self) -> str:
        return f"Asterisk Call Manager/{self.ami_version}"


ASTERISK = Dialect(
    name="asterisk",
    ami_version="11.0.0",
    version_line=(
        "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-27 02:13:06 UTC"
    ),
    asterisk_version="22.10.1",
    port=7777,
    tls_port=5039,
    member_key="Interface",
    queues_action=False,
    fcm_style=False,
)

FCM630A = Dialect(
    name="fcm630a",
    ami_version="5.0.0",
    # Invented: the guide shows no version string; AMI 5.0.0 is the Asterisk 16 series.
    version_line="Asterisk 16.30.0 built by root @ fcm630a on a armv7l running Linux",
    asterisk_version="16.30.0",
    port=7777,
    tls_port=5039,
    member_key="Location",
    queues_action=True,
    fcm_style=True,
    pjsip_show_classes=("system", "command"),
)

DIALECTS = {d.name: d for d in (ASTERISK, FCM630A)}


def get(name: str) -> Dialect:
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; choose from {', '.join(DIALECTS)}") from None


# The FCM630A guide's ListCommands figure (vendor and stock actions without a privilege).
FCM_LISTED: tuple[tuple[str, str], ...] = (
    ("AnalogChanlists", ""),
    ("BridgeDestroy", "Destroy a bridge."),
    ("BridgeInfo", "Get information about a bridge."),
    ("BridgeKick", "Kick a channel from a bridge."),
    ("BridgeList", "Get a list of bridges in the system."),
    ("BridgeTechnologyList", "List available bridging technologies and their statuses."),
    ("BridgeTechnologySuspend", "Suspend a bridging technology."),
    ("BridgeTechnologyUnsuspend", "Unsuspend a bridging technology."),
    ("Challenge", "Generate Challenge for MD5 Auth."),
    ("DAHDIDialOffhook", "Dial over DAHDI channel while offhook."),
    ("DAHDIDNDoff", "Toggle DAHDI channel Do Not Disturb status OFF."),
    ("DAHDIDNDon", "Toggle DAHDI channel Do Not Disturb status ON."),
    ("DAHDIHangup", "Hangup DAHDI Channel."),
    ("DAHDIRestart", "Fully Restart DAHDI channels (terminates calls)."),
    ("DAHDIShowChannels", "Show status of DAHDI channels."),
    ("DAHDITransfer", "Transfer DAHDI Channel."),
    ("Events", "Control Event Flow."),
    ("ListCommands", "List available manager commands."),
    ("Login", "Login Manager."),
    ("Logoff", "Logoff Manager."),
    ("PauseCall", ""),
    ("Ping", "Keepalive command."),
    ("PRIDebugFileUnset", "Disables file output for PRI debug messages"),
    ("PRIDebugSet", "Set PRI debug levels for a span"),
    ("PRIShowSpans", "Show status of PRI spans."),
    ("QueueChangePriorityCaller", "Change priority of a caller on queue."),
    ("QueueClean", "Clean up the seat status of the queue"),
    ("QueueReload", "Reload a queue, queues, or any sub-section of a queue or queues."),
    ("QueueReset", "Reset queue statistics."),
    ("QueueRule", "Queue Rules."),
    ("Queues", "Queues."),
    ("QueueStatus", "Show queue status."),
    ("QueueSummary", "Show queue summary."),
    ("WaitEvent", "Wait for an event to occur."),
)

# Stock actions the simulator implements; the FCM630A lists them too (with their privilege).
FCM_EXTRA = frozenset(
    {
        "Command",
        "CoreSettings",
        "CoreShowChannels",
        "CoreStatus",
        "DeviceStateList",
        "ExtensionState",
        "ExtensionStateList",
        "Getvar",
        "Hangup",
        "Originate",
        "PJSIPShowContacts",
        "PJSIPShowEndpoint",
        "PJSIPShowEndpoints",
        "QueueAdd",
        "QueueMemberRingInUse",
        "QueuePause",
        "QueuePenalty",
        "QueueRemove",
        "Reload",
        "Setvar",
        "Status",
        "UserEvent",
    }
)


def command_table(dialect: Dialect) -> list[tuple[str, str, str]]:
    """(action, synopsis, privilege text) as ListCommands shows them, in its order."""
    if not dialect.fcm_style:
        return list(STOCK_ACTIONS)
    table = [(name, text, "<none>") for name, text in FCM_LISTED]
    listed = {name for name, _ in FCM_LISTED}
    for name, text, priv in STOCK_ACTIONS:
        if name in FCM_EXTRA and name not in listed:
            if name.startswith("PJSIPShow"):
                priv = "system,command,all"
            table.append((name, text, priv))
    table.sort(key=lambda row: row[0].lower())
    return table


def command_line(dialect: Dialect, name: str, text: str, priv: str) -> str:
    if dialect.fcm_style:
        return f"{text} (Priv: {priv})" if text else f"(Priv: {priv})"
    return f"{text}  (Priv: {priv})"
