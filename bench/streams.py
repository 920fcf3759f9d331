"""Realistic AMI byte streams for benchmarks, built from the lab's real Asterisk transcripts.

A busy PBX sends mostly events no tile shows: a dialplan step is a ``Newexten``, every ``Set()``
a ``VarSet``, every call a ``Cdr``, every phone REGISTER refresh a ``ChallengeSent`` +
``SuccessfulAuth`` pair (``tests/fixtures/ami-transcripts/README.md``, "Security events"). The
call, device and queue events the dashboard mirrors are the smaller part. :data:`MIX` sets that
proportion; the packets themselves are the transcripts' bytes, with uniqueids and channel
suffixes renumbered (so no two events are the same bytes) and some caller names replaced by
Latin-1 and UTF-8 ones, as a PBX with non-ASCII phonebooks sends them.

Streams are deterministic (seeded) and kept in memory only.
"""

from __future__ import annotations

import functools
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.sim.transcript import Transcript, transcripts_dir  # noqa: E402

# Relative frequency of each event name in the stream (per event, not per byte). Names not
# listed here are not used. About 70 % of the events are ones the dashboard skips.
MIX: dict[str, float] = {
    # the flood: dialplan, CDR, security, RTCP and other call plumbing
    "Newexten": 30,
    "VarSet": 18,
    "Cdr": 4,
    "SuccessfulAuth": 4,
    "ChallengeSent": 4,
    "RTCPSent": 3,
    "RTCPReceived": 3,
    "HangupRequest": 1.5,
    "SoftHangupRequest": 1.5,
    "LocalBridge": 1,
    "DialState": 1,
    "UserEvent": 0.5,
    "BridgeCreate": 0.5,
    "BridgeDestroy": 0.5,
    "PeerStatus": 0.5,
    "MusicOnHoldStop": 0.2,
    "RequestBadFormat": 0.1,
    # what the dashboard mirrors
    "DeviceStateChange": 6,
    "Newstate": 3,
    "Newchannel": 2.5,
    "Hangup": 2.5,
    "NewConnectedLine": 2,
    "ExtensionStatus": 2,
    "NewCallerid": 1.5,
    "DialBegin": 1.5,
    "DialEnd": 1.5,
    "QueueMemberStatus": 1.5,
    "BridgeEnter": 0.7,
    "BridgeLeave": 0.7,
    "ContactStatus": 0.5,
    "OriginateResponse": 0.5,
    "QueueMemberPause": 0.2,
    "QueueCallerLeave": 0.2,
    "QueueMemberAdded": 0.1,
    "QueueMemberRemoved": 0.1,
    "AgentConnect": 0.1,
    "AgentComplete": 0.1,
    "QueueMemberPenalty": 0.05,
    "QueueMemberRinginuse": 0.05,
    "FullyBooted": 0.02,
}

# Caller names as phones and trunks send them: Latin-1 (not valid UTF-8), valid UTF-8, CP1252.
NAMES: tuple[bytes, ...] = (
    b"Jos\xe9 Mu\xf1oz",
    b"Fran\xe7oise L\xe9ger",
    b"M\xfcller GmbH",
    "Zoë Ødegård".encode(),
    b"\x93Sales\x94 line",
    b"Reception",
)
NAME_SHARE = 0.25  # share of events with a caller-name header that get one of NAMES

# Tokens renumbered per event: uniqueid / linkedid / timestamps (``1795746362.7``) and the
# channel suffix (``PJSIP/1001-00000003``, ``Local/2003@from-internal-0000001a;1``).
_TOKEN = re.compile(rb"\b(1\d{9}\.\d{1,6})\b|(-[0-9a-f]{8})\b")
_NAME_LINE = re.compile(rb"^((?:CallerIDName|ConnectedLineName): )([^\r\n]*)(\r\n)", re.M)
_PACKET_END = re.compile(rb"\r\n\r\n")

TRANSCRIPTS = (
    "p1-originate-burst-rate",
    "c1-call-1001-to-1002-ami-hangup",
    "a3-login-restricted-wallboard1",
    "a6-timestampevents-yes",
    "b5-wallboard1-initial-sync-during-calls",
    "c3-queue-pause-add-remove",
    "c4-endpoint-unregister",
    "b2-state-lists-and-channels",
    "b4-core-actions",
    "b1-pjsip-show",
    "d2-errors",
)


@dataclass(frozen=True)
class Stream:
    data: bytes
    events: int  # packets in ``data``; every one is an event
    counts: Counter[str]  # events per name

    def chunks(self, size: int = 65536) -> list[bytes]:
        """``data`` cut as socket reads of ``size`` bytes: boundaries fall mid-packet."""
        return [self.data[i : i + size] for i in range(0, len(self.data), size)]


def live_event_templates() -> dict[str, list[bytes]]:
    """Every distinct live event packet (no list item) of the transcripts, by event name."""
    found: dict[str, dict[bytes, None]] = {}
    for name in TRANSCRIPTS:
        server = Transcript.load(transcripts_dir() / f"{name}.txt").server_bytes()
        server = server.partition(b"\r\n")[2]  # the banner line
        for block in _PACKET_END.split(server):
            block = block.lstrip(b"\r\n")
            if not block.startswith(b"Event: ") or b"\n\n" in block:
                continue
            event = block[7 : block.index(b"\r\n")].decode()
            # List items carry the action's ActionID; OriginateResponse carries it as a live event.
            if b"\r\nActionID: " in block and event != "OriginateResponse":
                continue
            found.setdefault(event, {})[block + b"\r\n\r\n"] = None
    return {event: list(blocks) for event, blocks in found.items()}


class _Template:
    """A packet split around its renumbered tokens, so that an instance is one ``join``."""

    __slots__ = ("parts", "kinds")

    def __init__(self, raw: bytes) -> None:
        self.parts: list[bytes] = []
        self.kinds: list[str] = []  # "uid", "chan" or "name" for each odd position of parts
        pos = 0
        marks = [(m.start(2), m.end(2), "name") for m in _NAME_LINE.finditer(raw)]
        for m in _TOKEN.finditer(raw):
            marks.append((m.start(), m.end(), "uid" if m.group(1) else "chan"))
        for start, end, kind in sorted(marks):
            self.parts.append(raw[pos:start])
            self.parts.append(raw[start:end])
            self.kinds.append(kind)
            pos = end
        self.parts.append(raw[pos:])

    def render(self, rng: random.Random, call: int) -> bytes:
        parts = self.parts[:]
        for i, kind in enumerate(self.kinds):
            j = 2 * i + 1
            if kind == "uid":
                # Keep the original's counter part so uniqueid and linkedid stay distinct.
                parts[j] = b"%d.%s" % (1795746000 + call, parts[j].partition(b".")[2])
            elif kind == "chan":
                parts[j] = b"-%08x" % (call & 0xFFFFFFFF)
            elif rng.random() < NAME_SHARE:
                parts[j] = rng.choice(NAMES)
        return b"".join(parts)


@functools.lru_cache(maxsize=4)
def realistic_stream(events: int = 200_000, seed: int = 630) -> Stream:
    """``events`` live events in the :data:`MIX` proportions, CRLF framed, no banner."""
    rng = random.Random(seed)
    templates = live_event_templates()
    names = [n for n in MIX if n in templates]
    weights = [MIX[n] for n in names]
    compiled = {n: [_Template(raw) for raw in templates[n]] for n in names}
    picks = rng.choices(names, weights, k=events)
    out: list[bytes] = []
    calls = 0
    for i, name in enumerate(picks):
        if i % 25 == 0:
            calls += 1  # a new call every 25 events, with about 40 calls up at a time
        call = calls - rng.randrange(40) if calls > 40 else calls
        out.append(rng.choice(compiled[name]).render(rng, call))
    return Stream(b"".join(out), events, Counter(picks))


if __name__ == "__main__":
    s = realistic_stream()
    print(f"{s.events} events, {len(s.data) / 1e6:.1f} MB, {len(s.data) / s.events:.0f} B/event")
    for name, n in s.counts.most_common():
        print(f"{n:8d}  {name}")
