"""Drive a ``PbxState`` with recorded AMI traffic, as the worker does with a live session.

Lab transcripts go through the real ``ClientProtocol``: each client action is registered under
the ActionID the transcript shows, the server's bytes are fed read by read, list replies go to
``PbxState.load`` and events to ``apply``, with ``now`` = the read's wall-clock time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from monitor.ami.packet import Banner, Packet
from monitor.ami.parser import Parser
from monitor.ami.protocol import Action, ClientProtocol, Reply
from monitor.sim.transcript import Transcript, transcripts_dir
from monitor.state import PbxState

CACOFONISK_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "cacofonisk" / "fixtures"
_STARTED = re.compile(r"\(unix (\d+\.\d+)\)")


def started_at(name: str) -> float:
    """The unix time a transcript began, from its ``# started:`` header."""
    with open(transcripts_dir() / f"{name}.txt", encoding="utf-8") as fh:
        for line in fh:
            m = _STARTED.search(line)
            if m:
                return float(m.group(1))
    raise ValueError(f"{name}: no '# started:' line")


def _register(proto: ClientProtocol, action: Packet) -> None:
    """Make ``proto`` wait for ``action`` under the ActionID the transcript gave it."""
    want = action.action_id or ""
    want_n = int(want.rpartition("-")[2])
    headers = [(k, v) for k, v in action.items() if k not in ("action", "actionid")]
    while True:
        action_id, _ = proto.send(Action(action.name, headers))
        n = int(action_id.rpartition("-")[2])
        if action_id == want:
            return
        proto.forget(action_id)
        if n > want_n:
            raise AssertionError(f"ActionIDs out of order at {want}")


def replay(name: str, state: PbxState | None = None) -> Iterator[tuple[Reply | Packet, PbxState]]:
    """Feed transcript ``name`` to ``state``; yield each reply or event after it is used."""
    state = state or PbxState()
    transcript = Transcript.load(transcripts_dir() / f"{name}.txt")
    t0 = started_at(name)
    first_id = next(
        r.text.partition(": ")[2]
        for r in transcript.records
        if r.kind == "C" and r.text.lower().startswith("actionid:")
    )
    proto = ClientProtocol(id_prefix=first_id.rpartition("-")[0])
    client = Parser(expect_banner=False)
    actions: dict[str, Packet] = {}
    state.begin_session()
    for record in transcript.records:
        if record.kind == "C":
            client.feed(record.wire)
            for packet in client.packets():
                assert isinstance(packet, Packet)
                actions[packet.action_id or ""] = packet
                _register(proto, packet)
        elif record.kind == "S":
            now = t0 + record.t
            for item in proto.receive_data(record.wire):
                if isinstance(item, Banner):
                    continue
                if isinstance(item, Reply):
                    if item.ok and item.is_list:
                        queue = actions[item.action_id].get("Queue")
                        state.load(item.action, item.items, item.response.seq, now=now, queue=queue)
                else:
                    state.apply(item, now)
                yield item, state


def run(name: str) -> PbxState:
    """The state at the end of transcript ``name``."""
    state = PbxState()
    for _ in replay(name, state):
        pass
    return state


def cacofonisk(path: str) -> list[Packet]:
    """A cacofonisk capture as packets, numbered in order (seq 1, 2, ...)."""
    events = json.loads((CACOFONISK_DIR / path).read_text(encoding="utf-8"))
    return [Packet.from_pairs(list(e.items()), seq=i) for i, e in enumerate(events, 1)]


def cacofonisk_paths() -> list[str]:
    return sorted(str(p.relative_to(CACOFONISK_DIR)) for p in CACOFONISK_DIR.rglob("*.json"))
