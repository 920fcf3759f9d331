"""Reader for the lab's AMI transcripts (``tests/fixtures/ami-transcripts/README.md``).

Each line is ``<seconds> <tag> <text>``: ``C:`` client line, ``S:`` server line (CRLF on the
wire), ``S~:`` server line ended by a bare LF, ``S+:`` bytes with no line ending, ``X:`` a
connection event, ``#`` a comment. Tags may carry a connection number (``C1:``, ``S2:``).
Lines are rebuilt byte for byte, so a transcript can be replayed on a real socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^(\d+\.\d+) (#|[CSX])(\d*)([~+]?):?(?: (.*))?$")


@dataclass(frozen=True, slots=True)
class Record:
    t: float
    kind: str  # "C", "S", "X" or "#"
    conn: int  # 1 when the file has a single connection
    text: str
    ending: bytes  # b"\r\n", b"\n" or b""

    @property
    def wire(self) -> bytes:
        return self.text.encode("utf-8") + self.ending


@dataclass
class Transcript:
    name: str
    scenario: str
    records: list[Record]

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        path = Path(path)
        scenario = ""
        records: list[Record] = []
        for raw in path.read_text(encoding="utf-8").split("\n"):
            if raw.startswith("# scenario:"):
                scenario = raw.partition(":")[2].strip()
                continue
            m = _LINE.match(raw)
            if not m:
                continue
            t, kind, conn, flag, text = m.groups()
            ending = {"": b"\r\n", "~": b"\n", "+": b""}[flag]
            records.append(Record(float(t), kind, int(conn or 1), text or "", ending))
        return cls(path.stem, scenario, records)

    def connections(self) -> list[int]:
        return sorted({r.conn for r in self.records if r.kind in "CSX"})

    def server_bytes(self, conn: int = 1) -> bytes:
        return b"".join(r.wire for r in self.records if r.kind == "S" and r.conn == conn)

    def client_bytes(self, conn: int = 1) -> bytes:
        return b"".join(r.wire for r in self.records if r.kind == "C" and r.conn == conn)

    def server_reads(self, conn: int = 1) -> list[bytes]:
        """Server bytes grouped as they arrived: one item per TCP read (same timestamp)."""
        reads: list[bytes] = []
        last: float | None = None
        for r in self.records:
            if r.kind != "S" or r.conn != conn:
                continue
            if r.t == last:
                reads[-1] += r.wire
            else:
                reads.append(r.wire)
                last = r.t
        return reads


def transcripts_dir() -> Path:
    """The copy of the lab transcripts kept with the tests (and used by ``pbxsim --replay``)."""
    return Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ami-transcripts"
