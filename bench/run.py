"""Run every benchmark in bench/ and print one table and one JSON object (``make bench``).

    .venv/bin/python bench/run.py [--quick] [NAME ...]   # e.g. ami_parse mirror; default: all

A benchmark is a ``bench/*.py`` that ends in ``if __name__ == "__main__": main()`` and prints,
as its last line, one JSON object of figures (``streams.py`` is a helper, not a benchmark).
Each runs as its own process, exactly as ``.venv/bin/python bench/<name>.py`` would; its output
is passed through as it comes. Then one table, a row per figure naming the command it came
from, the targets of the issue with whether each is met, and as the last line one JSON object:
``{"<name>": <that benchmark's JSON>, ..., "targets": {...}}``. A benchmark that fails is
reported and makes the exit status 1; the others still run.

PostgreSQL and Redis: the benchmarks that need them (pipeline, page, memory) use
``DATABASE_URL`` / ``REDIS_URL``, else the servers the tests use (127.0.0.1:5432 database
``test``, 127.0.0.1:6379). ``mirror`` measures PostgreSQL besides SQLite only with
``DATABASE_URL`` set, so it is set here to that default when PostgreSQL answers there.
``--quick`` (about two minutes) passes each benchmark the shorter options in ``QUICK``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HEADER = ("command", "figure", "value")
RUNS_MAIN = re.compile(r'^if __name__ == "__main__":\n\s+main\(\)', re.MULTILINE)
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
QUICK = {
    "ami_parse": ["--events", "50000", "--runs", "1"],
    "mirror": ["--rates", "100,400,1600", "--seconds", "2"],
    "pipeline": ["--quick"],
    "page": ["--quick"],
    "memory": ["--quick"],
}
# (benchmark, figure path, target, "max" or "min": the figure must stay at most / at least it)
TARGETS = [
    (
        "pipeline",
        "clients_200.max_events_per_s_p99_target",
        5000,
        "min",
        "events/s at 200 clients with p99 <= 250 ms",
    ),
    (
        "pipeline",
        "clients_200.p99_ms_at_5000",
        250,
        "max",
        "p99 ms at 200 clients, first step >= 5,000 events/s",
    ),
    (
        "mirror",
        "postgresql.resync.runs.empty_database.total_s",
        2.0,
        "max",
        "resync s, 5,000 endpoints + 200 x 25 members, PostgreSQL",
    ),
    ("mirror", "sqlite.resync.runs.empty_database.total_s", 2.0, "max", "resync s, SQLite"),
    ("page", "wallboard.median_ms", 150, "max", "wallboard / ms, 1,000 extensions, 50 queues"),
    (
        "memory",
        "rss_after_resync_mb",
        200,
        "max",
        "worker RSS MB after the resync, 10,000 endpoints",
    ),
    ("memory", "rss_max_mb", 200, "max", "worker RSS MB, most while calls went on"),
]


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


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    if "DATABASE_URL" not in env:
        try:
            import psycopg

            psycopg.connect(DEFAULT_POSTGRES, connect_timeout=3).close()
            env["DATABASE_URL"] = DEFAULT_POSTGRES
        except Exception:  # no PostgreSQL here: mirror measures SQLite only
            pass
    return env


def command_of(path: Path, quick: bool) -> list[str]:
    return [str(path.relative_to(BENCH.parent)), *(QUICK.get(path.stem, []) if quick else [])]


def run(path: Path, quick: bool = False) -> dict[str, Any] | None:
    """Run one benchmark, echoing its output; its final JSON object, or None if it failed."""
    command = [sys.executable, *command_of(path, quick)]
    print(f"$ {' '.join(command)}", flush=True)
    proc = subprocess.Popen(
        command, cwd=BENCH.parent, stdout=subprocess.PIPE, text=True, env=child_env()
    )
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


def lookup(figures: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(figures, dict) or key not in figures:
            return None
        figures = figures[key]
    return figures


def targets(results: dict[str, Any], commands: dict[str, str]) -> dict[str, Any]:
    """``{"<benchmark>.<figure>": {"value", "target", "met"}}`` for the figures measured."""
    out = {}
    for name, path, target, kind, _ in TARGETS:
        value = lookup(results.get(name), path)
        if value is None and name not in results:
            continue
        met = None if value is None else value <= target if kind == "max" else value >= target
        out[f"{name}.{path}"] = {"value": value, "target": target, "kind": kind, "met": met}
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    names = [a for a in args if a != "--quick"]
    results: dict[str, Any] = {}
    commands: dict[str, str] = {}
    failed = []
    for path in benchmarks(names):
        commands[path.stem] = " ".join(command_of(path, quick))
        figures = run(path, quick)
        if figures is None:
            failed.append(path.name)
        else:
            results[path.stem] = figures
    rows = [
        (commands[name], key, show(value))
        for name, figures in results.items()
        for key, value in flatten(figures)
    ]
    goals = targets(results, commands)
    words = {(n, p): what for n, p, _, _, what in TARGETS}
    for key, goal in goals.items():
        name, _, path = key.partition(".")
        sign = "<=" if goal["kind"] == "max" else ">="
        verdict = {True: "met", False: "MISSED", None: "not measured"}[goal["met"]]
        rows.append(
            (
                commands.get(name, f"bench/{name}.py"),
                f"TARGET {words[(name, path)]}",
                f"{show(goal['value'])} {sign} {show(goal['target'])}: {verdict}",
            )
        )
    print()
    print_table([HEADER, *rows])
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    print(json.dumps({**results, "targets": goals}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
