"""The simulator's queue calls against the real Asterisk of f5, event for event: the queue
events of a caller (and the hangup requests around them) come in f5's order with f5's fields,
for each of f5's scenarios: (a) a ring not answered then an answer, (b) an abandon while a
member rings, (c) every member paused then an abandon, (d) ringall and the caller hangs up
first, (e) a decline then an answer; and the queue_log lines the simulator writes for them
are f5's."""

from __future__ import annotations

import asyncio
import re

import pytest

from monitor.ami.packet import Packet
from monitor.ami.parser import Parser
from monitor.sim.model import Channel
from monitor.sim.replay import items, load
from monitor.sim.server import PbxSimulator
from monitor.sim.transcript import transcripts_dir

QUEUE_EVENTS = (
    "QueueCallerJoin",
    "AgentCalled",
    "AgentRingNoAnswer",
    "QueueCallerAbandon",
    "QueueCallerLeave",
    "AgentConnect",
    "AgentComplete",
    "HangupRequest",
)
# f5's callers, by scenario
F5_CALLERS = {
    "a": "1796357342.484",
    "b": "1796357366.487",
    "c": "1796357370.489",
    "d": "1796357382.490",
    "e": "1796357389.494",
}


def story(packets: list[Packet], caller: str) -> list[tuple[str, ...]]:
    """The queue events about ``caller`` (a uniqueid), as (event, ring or hold time)."""
    out = []
    legs = set()
    for p in packets:
        name = p.name
        if name not in QUEUE_EVENTS:
            continue
        if p.get("Uniqueid") == caller:
            if p.get("DestUniqueid"):
                legs.add(p.get("DestUniqueid"))
            kind = "ms" if name == "AgentRingNoAnswer" else "s"
            out.append((name, kind if p.get("RingTime") or p.get("HoldTime") else ""))
        elif name == "HangupRequest" and p.get("Uniqueid") in legs:
            out.append(("HangupRequest of the member", ""))
    return out


def f5_story(scenario: str) -> list[tuple[str, ...]]:
    packets = [i.packet for i in items(load("f5-queue-calls-for-statistics"))]
    return story(packets, F5_CALLERS[scenario])


def f5_queue_log(caller: str) -> list[str]:
    """f5's queue_log events for ``caller``: (event, data...) without the times."""
    text = (transcripts_dir() / "f5-queue-calls-for-statistics.txt").read_text()
    lines = re.findall(r"# queue_log: (\S+)", text)
    return [line.split("|")[4] for line in lines if line.split("|")[1] == caller]


class Heard:
    """Every event the simulated PBX emits, parsed."""

    def __init__(self, lab: PbxSimulator) -> None:
        self.parser = Parser(expect_banner=False, keep_key_case=True)
        lab.pbx.listeners.append(lambda _cls, data: self.parser.feed(data))
        self.packets: list[Packet] = []

    def story(self, caller: Channel) -> list[tuple[str, ...]]:
        self.packets += [p for p in self.parser.packets() if isinstance(p, Packet)]
        return story(self.packets, caller.uniqueid)


def ringing(caller: Channel) -> Channel:
    return next(leg for leg in caller.call.run.legs if not leg.gone)


@pytest.fixture
async def lab():
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.001) as s:
        yield s


def logged(lab: PbxSimulator, caller: Channel) -> list[str]:
    """The simulator's queue_log events for ``caller``."""
    lines = [line.split("|") for line in lab.pbx.queue_log]
    return [parts[4] for parts in lines if parts[1] == caller.uniqueid]


async def test_a_ring_not_answered_then_an_answer_goes_as_in_f5_a(lab):
    heard = Heard(lab)
    caller = lab.pbx.calls.phone_call("1005", "6501")
    # The first member rings out (the queue's timeout), and after the retry the next rings.
    for _ in range(500):
        if [e for e, _ in heard.story(caller)].count("AgentCalled") == 2:
            break
        await asyncio.sleep(0.01)
    lab.pbx.calls.answer(ringing(caller).name)
    lab.pbx.calls.hangup(caller.call.agent_channel.name)  # the agent hangs up
    assert heard.story(caller) == f5_story("a")
    assert logged(lab, caller) == f5_queue_log(F5_CALLERS["a"])


async def test_an_abandon_while_a_member_rings_goes_as_in_f5_b(lab):
    heard = Heard(lab)
    caller = lab.pbx.calls.phone_call("1005", "6501")
    lab.pbx.calls.hangup(caller.name)
    assert heard.story(caller) == f5_story("b")
    assert logged(lab, caller) == f5_queue_log(F5_CALLERS["b"])


async def test_a_decline_then_an_answer_goes_as_in_f5_e(lab):
    heard = Heard(lab)
    caller = lab.pbx.calls.phone_call("1005", "6501")
    lab.pbx.calls.hangup(ringing(caller).name, 17)  # the member declines (486 Busy Here)
    lab.pbx.calls.answer(ringing(caller).name)  # the next one rang at once, and answers
    lab.pbx.calls.hangup(caller.name)  # the caller hangs up
    assert heard.story(caller) == f5_story("e")
    assert logged(lab, caller) == f5_queue_log(F5_CALLERS["e"])


async def test_every_member_paused_then_an_abandon_goes_as_in_f5_c(lab):
    heard = Heard(lab)
    for interface in ("PJSIP/1002", "PJSIP/1003", "PJSIP/1005"):
        assert lab.pbx.queue_pause(interface, True, "6501", "Lunch")
    caller = lab.pbx.calls.phone_call("1004", "6501")
    await asyncio.sleep(0.05)  # app_queue polls its members every retry: none is free
    lab.pbx.calls.hangup(caller.name)
    assert heard.story(caller) == f5_story("c")
    assert logged(lab, caller) == f5_queue_log(F5_CALLERS["c"])
    # queue_log's agent field of a PAUSE is the MemberName (f4; f5's names are interfaces).
    members = lab.pbx.queues["6501"].members
    pauses = [line.split("|")[3:6] for line in lab.pbx.queue_log if "|PAUSE|" in line]
    paused = ("PJSIP/1002", "PJSIP/1003", "PJSIP/1005")
    assert pauses == [[members[i].name, "PAUSE", "Lunch"] for i in paused]


async def test_ringall_and_the_caller_hanging_up_first_goes_as_in_f5_d(lab):
    heard = Heard(lab)
    assert lab.pbx.queue_pause("PJSIP/1001", True, "6500", "Auto-answer phone kept out")
    caller = lab.pbx.calls.phone_call("1005", "6500")  # 1002, 1003 and 1004 ring
    legs = {leg.name.split("-")[0]: leg for leg in caller.call.run.legs}
    assert sorted(legs) == ["PJSIP/1002", "PJSIP/1003", "PJSIP/1004"]
    lab.pbx.calls.answer(legs["PJSIP/1003"].name)
    lab.pbx.calls.hangup(caller.name)
    assert heard.story(caller) == f5_story("d")
    assert logged(lab, caller) == f5_queue_log(F5_CALLERS["d"])
