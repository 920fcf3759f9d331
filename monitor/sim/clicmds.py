"""The few CLI commands the ``Command`` action runs, with the lab's 22.x output.

``channel originate <chan> extension <exten>@<context>`` and ``channel request hangup``
drive calls the way the lab scripts did from the CLI (a3, a6, b2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import CHANNEL_STATES

if TYPE_CHECKING:
    from .pbx import Pbx


def run(pbx: Pbx, command: str) -> tuple[bool, list[str]]:
    """(ok, output lines) for ``command``."""
    words = command.split()
    text = " ".join(words).lower()
    if text == "core show version":
        return True, [pbx.dialect.version_line]
    if text == "pjsip show contacts":
        return True, _contacts(pbx)
    if text in ("core show channels", "core show channels concise"):
        return True, _channels(pbx)
    if text == "core show uptime":
        return True, [
            f"System uptime: {_duration(pbx.uptime)}",
            f"Last reload: {_duration(int(pbx.clock() - pbx.reload_time))}",
        ]
    if (
        len(words) == 5
        and text.startswith("channel originate ")
        and words[3].lower() == "extension"
    ):
        exten, _, context = words[4].partition("@")
        pbx.calls.originate(words[2], context=context or "default", exten=exten)
        return True, []
    if text.startswith("channel request hangup ") and len(words) == 4:
        target = words[3]
        if pbx.calls.hangup(target, 16, how="ami"):
            return True, [f"Requested Hangup on channel '{target}'"]
        return True, [f"{target} is not a known channel"]
    best = " ".join(words[:2])
    said = " ".join(words)
    return False, [
        f"No such command '{said}' (type 'core show help {best}' for other possible commands)"
    ]


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return ", ".join(parts)


def _contacts(pbx: Pbx) -> list[str]:
    lines = [
        "",
        "  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>",  # noqa: E501
        "==========================================================================================",
        "",
    ]
    count = 0
    for name in sorted(pbx.endpoints):
        for c in pbx.endpoints[name].contacts:
            count += 1
            status = {
                "Reachable": "Avail",
                "NonQualified": "NonQual",
                "Unreachable": "Unavail",
            }.get(c.status, c.status)
            rtt = f"{c.rtt_usec / 1000:.3f}" if c.status == "Reachable" else "nan"
            lines.append(
                f"  Contact:  {c.aor + '/' + c.uri:<46} {c.hash[:10]} {status:<7} {rtt:>11}"
            )
    lines += ["", f"Objects found: {count}", ""]
    return lines


def _channels(pbx: Pbx) -> list[str]:
    fmt = "{:<64.64} {:<32.32} {:<7.7} {:<30.30}"
    lines = [fmt.format("Channel", "Location", "State", "Application(Data)")]
    for ch in pbx.channels.values():
        location = f"{ch.exten}@{ch.context}:{ch.priority}"
        app = f"{ch.app}({ch.appdata})"
        lines.append(fmt.format(ch.name, location, CHANNEL_STATES.get(ch.state, "Unknown"), app))
    calls = len({ch.linkedid for ch in pbx.channels.values()})
    n = len(pbx.channels)
    lines.append(f"{n} active channel{'s' if n != 1 else ''}")
    lines.append(f"{calls} active call{'s' if calls != 1 else ''}")
    lines.append(f"{pbx.processed_calls} call{'s' if pbx.processed_calls != 1 else ''} processed")
    return lines
