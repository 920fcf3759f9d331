"""Asterisk's ``queue_log``, as the simulator writes it, and a tally of its lines.

A line is ``epoch|callid|queue|agent|event|data1|data2|...`` (``apps/app_queue.c``
``ast_queue_log``; the lab's f5 transcript shows the real lines beside their AMI events).
The simulator appends one wherever it emits the events that made Asterisk write it
(``Pbx.queue_log``): it is the independent account of the calls the recorder's rows are
held against, the way a supervisor holds a report against a real PBX's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# queue_log's event -> the outcome (monitor.history_models.Outcome values) it ends a stay with
OUTCOMES = {
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "exitempty",
    "EXITWITHKEY": "exitkey",
}


def line(t: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
    """One line in Asterisk's format (whole seconds, ``NONE`` for no call or no agent)."""
    return "|".join([str(int(t)), callid or "NONE", queue, agent or "NONE", event, *map(str, data)])


@dataclass
class Tally:
    """What a day's ``queue_log`` says, in the recorder's terms."""

    # (queue, callid) -> outcome, wait_seconds, talk_seconds, agent, completed_by
    calls: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    misses: list[tuple[str, str, str, int]] = field(default_factory=list)  # queue, agent, id, ms
    # (queue, agent) -> [(reason, ended), ...]: each pause period, in order. A PAUSE with the
    # reason already running continues it; one with another reason starts a new period.
    pauses: dict[tuple[str, str], list[tuple[str, bool]]] = field(default_factory=dict)


def tally(lines: list[str]) -> Tally:
    out = Tally()
    for text in lines:
        parts = text.split("|")
        _, callid, queue, agent, event, *data = parts
        data += [""] * (4 - len(data))
        key = (queue, callid)
        if event == "ENTERQUEUE":
            out.calls[key] = {
                "outcome": "waiting",
                "wait_seconds": None,
                "talk_seconds": None,
                "agent": "",
                "completed_by": "",
            }
        elif event == "CONNECT":
            out.calls[key].update(outcome="answered", wait_seconds=int(data[0]), agent=agent)
        elif event in ("COMPLETEAGENT", "COMPLETECALLER"):
            out.calls[key].update(
                outcome="answered",
                wait_seconds=int(data[0]),
                talk_seconds=int(data[1]),
                agent=agent,
                completed_by=event[8:].lower(),
            )
        elif event == "EXITWITHKEY":
            out.calls[key].update(outcome="exitkey", wait_seconds=int(data[3]))
        elif event in OUTCOMES:
            out.calls[key].update(outcome=OUTCOMES[event], wait_seconds=int(data[2]))
        elif event == "RINGNOANSWER":
            out.misses.append((queue, agent, callid, int(data[0])))
        elif event == "PAUSE":
            periods = out.pauses.setdefault((queue, agent), [])
            if not periods or periods[-1] != (data[0], False):
                if periods and not periods[-1][1]:
                    periods[-1] = (periods[-1][0], True)
                periods.append((data[0], False))
        elif event == "UNPAUSE":
            periods = out.pauses.get((queue, agent))
            if periods and not periods[-1][1]:
                periods[-1] = (periods[-1][0], True)
    return out
