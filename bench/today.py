"""Server time of the Today page, the agent board, the day's API and CSV for a busy day.

    .venv/bin/python bench/today.py [--queues 50] [--agents 1000] [--calls 20000] [--runs 10]

A fresh PostgreSQL database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/test``:
a new database on that server, dropped at the end) gets one PBX with ``--queues`` queues and
``--agents`` agents, each a member of two queues, and the history of today so far as the
recorder writes it (monitor/history_models.py): ``--calls`` queue calls spread over the day
(answered 80 %, abandoned 12 %, timed out 4 %, exit empty 2 %, a few still waiting or talking),
each agent's spans in both of its queues (available, ringing, in a call, paused twice a day),
a missed ring per ten calls and one gap. Each page is fetched ``--runs`` times with Django's
test client as the supervisor after two warm-up fetches (``first_ms``: the first, cold): the
whole request through the middleware, view and templates, in this process. Prints a table; the
last line is one JSON object. It never asserts a timing (the issue's target: the Today page
under 300 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline import production  # noqa: E402

PAGES = (
    ("today", "/today/"),
    ("agent_board", "/agents/"),
    ("api_today", "/api/v1/today"),
    ("queues_csv", "/today/queues.csv"),
    ("calls_csv", "/today/calls.csv"),
    ("wallboard", "/"),
)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        stack.enter_context(production(stack, redis=False))
        rows = fill(args.queues, args.agents, args.calls)
        rows |= compare()
        pages = measure(args.runs)
    result = {"queues": args.queues, "agents": args.agents, "calls": args.calls, **rows, **pages}
    print(f"{'page':<12} {'median ms':>9} {'p90 ms':>7} {'min ms':>7} {'first ms':>8} {'kB':>6}")
    for name, _ in PAGES:
        r = result[name]
        print(
            f"{name:<12} {r['median_ms']:>9} {r['p90_ms']:>7} {r['min_ms']:>7}"
            f" {r['first_ms']:>8} {r['bytes'] / 1e3:>6.0f}"
        )
    print(
        f"numbers in SQL {result['sql_ms']} ms, in Python {result['python_ms']} ms;"
        f" they agree: {result['sql_agrees']}"
    )
    print(json.dumps(result))
    return result


def fill(n_queues: int, n_agents: int, n_calls: int) -> dict[str, Any]:
    """The PBX, its queues and members, and today's history so far; the row counts."""
    from django.utils import timezone

    from monitor.history.days import today_window
    from monitor.history_models import (
        AgentMiss,
        AgentSpan,
        AgentState,
        Outcome,
        QueueCallRecord,
        RecordGap,
        ReportSettings,
    )
    from monitor.models import DeviceState, Pbx, Queue, QueueMember

    rng = random.Random(12)
    now = timezone.now()
    window = today_window(ReportSettings.current(), now)
    start = window.start
    length = (now - start).total_seconds()
    pbx = Pbx.objects.create(name="bench", host="127.0.0.1", username="u", connected=True)
    queues = Queue.objects.bulk_create([Queue(pbx=pbx, name=f"q{n:02d}") for n in range(n_queues)])
    agents = [f"PJSIP/{2000 + n}" for n in range(n_agents)]
    memberships = {
        a: (queues[n % n_queues], queues[(n + 7) % n_queues]) for n, a in enumerate(agents)
    }
    QueueMember.objects.bulk_create(
        [
            QueueMember(
                pbx=pbx,
                queue=q,
                interface=a,
                name=f"Agent {a[6:]}",
                status=DeviceState.NOT_INUSE,
                paused=n % 10 == 0,
                paused_reason="lunch" if n % 10 == 0 else "",
            )
            for n, a in enumerate(agents)
            for q in memberships[a]
        ],
        batch_size=2000,
    )
    calls, spans, misses = [], [], []
    busy_until = dict.fromkeys(agents, start)
    for n in range(n_calls):
        entered = start + dt.timedelta(seconds=length * n / n_calls)
        queue = queues[rng.randrange(n_queues)]
        roll = rng.random()
        wait = rng.randint(0, 90)
        left = entered + dt.timedelta(seconds=wait)
        row = QueueCallRecord(
            pbx=pbx,
            queue=queue.name,
            uniqueid=f"1700000000.{n}",
            caller_num=f"0301{n:07d}",
            entered_at=entered,
            wait_seconds=wait,
        )
        if roll < 0.80 and left < now:
            agent = rng.choice(agents)
            talk = rng.randint(20, 400)
            ended = left + dt.timedelta(seconds=talk)
            row.outcome, row.answered_at, row.agent = Outcome.ANSWERED, left, agent
            row.agent_name = f"Agent {agent[6:]}"
            if ended < now:
                row.ended_at, row.talk_seconds, row.completed_by = ended, talk, "agent"
            if left - dt.timedelta(seconds=8) > busy_until[agent]:
                ring = left - dt.timedelta(seconds=8)
                for q in memberships[agent]:
                    for state, a, b in (
                        (AgentState.AVAILABLE, busy_until[agent], ring),
                        (AgentState.RINGING, ring, left),
                        (AgentState.IN_CALL, left, min(ended, now)),
                    ):
                        spans.append(
                            AgentSpan(
                                pbx=pbx,
                                queue=q.name,
                                interface=agent,
                                state=state,
                                name=row.agent_name,
                                started_at=a,
                                ended_at=b,
                            )
                        )
                busy_until[agent] = min(ended, now)
            if n % 10 == 0:
                misses.append(
                    AgentMiss(
                        pbx=pbx,
                        queue=queue.name,
                        interface=rng.choice(agents),
                        uniqueid=row.uniqueid,
                        at=entered,
                    )
                )
        elif left >= now:
            row.outcome, row.wait_seconds = Outcome.WAITING, None
        else:
            row.outcome = (
                Outcome.ABANDONED
                if roll < 0.92
                else Outcome.TIMEOUT
                if roll < 0.96
                else Outcome.EXIT_EMPTY
                if roll < 0.98
                else Outcome.OTHER
            )
            row.ended_at = left
        calls.append(row)
    for agent in agents:  # then available until now, two pauses in the day
        for q in memberships[agent]:
            spans.append(
                AgentSpan(
                    pbx=pbx,
                    queue=q.name,
                    interface=agent,
                    state=AgentState.AVAILABLE,
                    started_at=busy_until[agent],
                    ended_at=None,
                )
            )
            for hour in (0.3, 0.6):
                a = start + dt.timedelta(seconds=length * hour)
                spans.append(
                    AgentSpan(
                        pbx=pbx,
                        queue=q.name,
                        interface=agent,
                        state=AgentState.PAUSED,
                        reason="break",
                        started_at=a,
                        ended_at=a + dt.timedelta(minutes=10),
                    )
                )
    QueueCallRecord.objects.bulk_create(calls, batch_size=5000)
    AgentSpan.objects.bulk_create(spans, batch_size=5000)
    AgentMiss.objects.bulk_create(misses, batch_size=5000)
    gap = start + dt.timedelta(seconds=length / 2)
    RecordGap.objects.create(pbx=pbx, started_at=gap, ended_at=gap + dt.timedelta(minutes=3))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"spans": len(spans), "misses": len(misses), "day_hours": round(length / 3600, 1)}


def plain(value: Any) -> Any:
    """Numbers as comparable plain values, nothing empty."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(v) for k, v in vars(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if v}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def differ(a: Any, b: Any, path: str = "") -> Any:
    """(path, a's, b's) of each place where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from differ(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differ(x, y, f"{path}[{n}]")
    elif isinstance(a, float | int) and isinstance(b, float | int):
        # PostgreSQL sums microseconds, Python floats: a millisecond's rounding apart at most
        if abs(a - b) > 0.01:
            yield path, a, b
    elif a != b:
        yield path, a, b


def compare() -> dict[str, Any]:
    """Count the day both ways, in PostgreSQL and by the reference over the rows read into
    Python: whether they agree, and how long each took."""
    from django.utils import timezone

    from monitor.history.days import today_window
    from monitor.history.report import build
    from monitor.history_models import ReportSettings
    from monitor.models import Pbx

    report = ReportSettings.current()
    now = timezone.now()
    pbxes = list(Pbx.objects.all())
    found, took = {}, {}
    for how in (True, False):
        started = time.perf_counter()
        numbers = build(pbxes, today_window(report, now), now, report, in_sql=how).numbers
        took[how] = round(1000 * (time.perf_counter() - started), 1)
        found[how] = plain(numbers)
    differences = list(differ(found[True], found[False]))
    for path, a, b in differences[:5]:
        print(f"differ at {path}: in SQL {a!r}, in Python {b!r}")
    return {
        "sql_ms": took[True],
        "python_ms": took[False],
        "sql_agrees": not differences,
    }


def measure(runs: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    with open("/dev/null", "w") as quiet:
        call_command("demo_users", stdout=quiet)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="supervisor"))
    out = {}
    for name, path in PAGES:
        times, size, first = [], 0, 0.0
        for i in range(runs + 2):
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: HTTP {response.status_code}")
            size = len(response.content)
            if i >= 2:
                times.append(elapsed)
            elif i == 0:
                first = elapsed
        times.sort()
        out[name] = {
            "median_ms": round(1000 * statistics.median(times), 1),
            "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 1),
            "min_ms": round(1000 * times[0], 1),
            "first_ms": round(1000 * first, 1),
            "bytes": size,
        }
    return out


if __name__ == "__main__":
    main()
