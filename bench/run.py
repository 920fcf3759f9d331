"""Run every benchmark in bench/ and print one table and one JSON object (``make bench``).

    .venv/bin/python bench/run.py [NAME ...]      # e.g. ami_parse mirror; default: all

A benchmark is a ``bench/*.py`` that ends in ``if __name__ == "__main__": main()`` and prints,
as its last line, one JSON object of figures (``streams.py`` is a helper, not a benchmark).
Each runs as its own process, exactly as ``.venv/bin/python bench/<name>.py`` would; its output
is passed through as it comes. Then one table, a row per figure naming the command it came
from, and as the last line one JSON object: ``{"<name>": <that benchmark's JSON>, ...}``.
A benchmark that fails is reported and makes the exit status 1; the others still run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HEADER = ("command", "figure", "value")
RUNS_MAIN = re.compile(r'^if __name__ == "__main__":\n\s+main\(\)', re.MULTILINE)


def benchmarks(names: list[str]) -> list[Path]:
    found = [
        p
        for p in sorted(BENCH.glob("*.py"))
        if p.name != Path(__file__).name and RUNS_MAIN.search(p.read_text())
    ]
    if not names:
        return found
    by_name = {p.stem: p for p in found}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(unknown)}; there are {', '.join(by_name)}")
    return [by_name[n] for n in names]


def run(path: Path) -> dict[str, Any] | None:
    """Run one benchmark, echoing its output; its final JSON object, or None if it failed."""
    command = [sys.executable, str(path.relative_to(BENCH.parent))]
    print(f"$ {' '.join(command)}", flush=True)
    proc = subprocess.Popen(command, cwd=BENCH.parent, stdout=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  {line}", end="", flush=True)
        last = line.strip() or last
    if proc.wait() != 0:
        print(f"{path.name}: exit status {proc.returncode}", file=sys.stderr)
        return None
    try:
        figures = json.loads(last)
    except json.JSONDecodeError:
        print(f"{path.name}: its last line is not JSON: {last[:200]!r}", file=sys.stderr)
        return None
    return figures if isinstance(figures, dict) else None


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": [...]}`` -> ``[("a.b", 1)]``: lists (a benchmark's per-step
    details, already in its own table above) stay in the JSON only."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return []
    return [(prefix.rstrip("."), value)]


def show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def print_table(lines: list[tuple[str, str, str]]) -> None:
    """Command and figure left-aligned, value right-aligned."""
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    for command, figure, value in lines:
        print(f"{command:<{widths[0]}}  {figure:<{widths[1]}}  {value:>{widths[2]}}")


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    results: dict[str, Any] = {}
    failed = []
    for path in benchmarks(names):
        figures = run(path)
        if figures is None:
            failed.append(path.name)
        else:
            results[path.stem] = figures
    rows = [
        (f"bench/{name}.py", key, show(value))
        for name, figures in results.items()
        for key, value in flatten(figures)
    ]
    print()
    print_table([HEADER, *rows])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
