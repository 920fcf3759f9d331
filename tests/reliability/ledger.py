"""What the suite tried to break, and how it went: the data and the Markdown table.

Pure: no pytest, no Django. :mod:`tests.reliability.plugin` fills a :class:`Ledger` while the
tests run and writes :func:`render` of it at the end.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

OUTCOMES = ("survived", "refused", "nothing lost")
FAILED = "FAILED"
# Areas in the order the table shows them.
AREAS = ("PBX fault", "service fault", "soak", "bad input", "security")
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"


@dataclass
class Row:
    area: str
    what: str
    outcome: str
    times: int = 0
    failed: int = 0


@dataclass
class Ledger:
    """Attempts per (area, what) and fuzzed inputs per kind, in the order first seen."""

    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    fuzzed: Counter[str] = field(default_factory=Counter)

    def add(self, area: str, what: str, outcome: str, times: int = 1, *, ok: bool = True) -> None:
        if area not in AREAS:
            raise ValueError(f"area must be one of {AREAS}, not {area!r}")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        row = self.rows.setdefault((area, what), Row(area, what, outcome))
        if row.outcome != outcome:
            raise ValueError(f"{what!r} is recorded as {row.outcome!r} and as {outcome!r}")
        row.times += times
        if not ok:
            row.failed += times

    def fuzz(self, kind: str, count: int = 1) -> None:
        self.fuzzed[kind] += count

    def __bool__(self) -> bool:
        return bool(self.rows or self.fuzzed)


def _outcome(row: Row) -> str:
    if row.failed:
        return f"**{FAILED}** ({row.failed} of {row.times})"
    return row.outcome


def render(ledger: Ledger, *, secrets_note: str = "") -> str:
    """The table and the fuzz count as Markdown (no heading)."""
    lines = ["| area | fault or attack tried | times | outcome |", "|---|---|---:|---|"]
    ordered = sorted(ledger.rows.values(), key=lambda r: AREAS.index(r.area))  # stable
    lines += [f"| {r.area} | {r.what} | {r.times:,} | {_outcome(r)} |" for r in ordered]
    total = sum(ledger.fuzzed.values())
    parts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(ledger.fuzzed.items()))
    lines += ["", f"Fuzzed inputs: **{total:,}** ({parts or 'none this run'})."]
    if secrets_note:
        lines += ["", secrets_note]
    return "\n".join(lines) + "\n"


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with what lies between the reliability markers replaced by ``block``.

    Raises ValueError if the markers are missing (the README section was edited away).
    """
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {START} ... {END} markers")
    return pattern.sub(lambda _: f"{START}\n{block}{END}", text, count=1)
