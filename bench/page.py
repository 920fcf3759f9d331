"""Server time and size of the wallboard ``/`` (and the kiosk link) for a big PBX.

    .venv/bin/python bench/page.py [--extensions 1000] [--queues 50] [--members 10] [--runs 30]

A fresh PostgreSQL database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/test``:
a new database on that server, dropped at the end) is filled through the real worker from
``PbxSimulator(extensions=1000, queues=50, members_per_queue=10)``; the scenario runs for a few
seconds first so that there are calls and waiting callers, then the PBX is frozen and the
database checked against the simulator's truth. Each page is then fetched ``--runs`` times with
Django's test client, logged in as the supervisor (tiles with controls) and through a kiosk link
(read-only), after two warm-up fetches (the first one's time is ``first_ms``): the time is the
whole request through the middleware, view and templates, in this process; bytes are the
response body (no compression). Prints a table; the last line is one JSON object. It never
asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline import make_pbx, production  # noqa: E402

TIME_SCALE = 0.05


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extensions", type=int, default=1000)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--members", type=int, default=10, help="per queue")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="10 runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = 10
    with contextlib.ExitStack() as stack:
        stack.enter_context(production(stack, redis=False))
        fill = asyncio.run(fill_database(args.extensions, args.queues, args.members))
        pages = measure(fill.pop("pbx_id"), args.runs)
    result = {
        "extensions": args.extensions,
        "queues": args.queues,
        "members_per_queue": args.members,
        **fill,
        **pages,
    }
    print(f"{'page':<12} {'median ms':>9} {'p90 ms':>7} {'min ms':>7} {'kB':>6} {'queries':>7}")
    for name in ("wallboard", "kiosk"):
        r = result[name]
        print(
            f"{name:<12} {r['median_ms']:>9} {r['p90_ms']:>7} {r['min_ms']:>7}"
            f" {r['bytes'] / 1e3:>6.0f} {r['queries']:>7}"
        )
    print(json.dumps(result))
    return result


async def fill_database(extensions: int, queues: int, members: int) -> dict[str, Any]:
    """The worker mirrors the simulator, with some calls going on, then the PBX stands still."""
    from asgiref.sync import sync_to_async

    from bench.mirror import new_worker
    from bench.pipeline import settle
    from monitor.sim.scenario import Scenario, ScenarioConfig
    from tests.support.simthread import SimThread

    size = {"extensions": extensions, "queues": queues, "members_per_queue": members}
    with SimThread(**size, seed=1, time_scale=TIME_SCALE, write_timeout=2.0) as st:
        pbx_id = await sync_to_async(make_pbx)(st.port)
        worker = new_worker(st.port, pbx_id)
        task = asyncio.create_task(worker.run())
        try:
            config = ScenarioConfig(call_rate=40 * TIME_SCALE, pause_rate=0.0)
            scenario = st.call(lambda: Scenario(st.sim.pbx, seed=1, config=config))
            while worker.resyncs == 0:
                await asyncio.sleep(0.1)
            st.call(scenario.start)
            await asyncio.sleep(4.0)
            st.call(scenario.stop)
            st.call(st.sim.pbx.calls.reset)  # the PBX stands still
            correct = await sync_to_async(settle)(st, pbx_id, 60.0)
            counts = st.call(lambda: st.sim.snapshot())
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {
        "pbx_id": pbx_id,
        "calls": len(counts["channels"]),
        "waiting_callers": sum(q["calls"] for q in counts["queues"].values()),
        "mirror_correct": correct,
    }


def measure(pbx_id: int, runs: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from monitor.web_models import KioskLink

    with open("/dev/null", "w") as quiet:
        call_command("demo_users", stdout=quiet)
    supervisor = Client(HTTP_HOST="127.0.0.1")
    supervisor.force_login(get_user_model().objects.get(username="supervisor"))
    link = KioskLink(name="bench", pbx_id=pbx_id)
    token = link.issue()
    link.save()
    out = {}
    for name, client, path in (
        ("wallboard", supervisor, "/"),
        ("kiosk", Client(HTTP_HOST="127.0.0.1"), f"/kiosk/{token}/"),
    ):
        times, size, first = [], 0, 0.0
        for i in range(runs + 2):
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: HTTP {response.status_code}")
            size = len(response.content)
            if i >= 2:  # warm-up: template loading, first connection, tile URLs
                times.append(elapsed)
            elif i == 0:
                first = elapsed
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        times.sort()
        out[name] = {
            "median_ms": round(1000 * statistics.median(times), 1),
            "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 1),
            "min_ms": round(1000 * times[0], 1),
            "first_ms": round(1000 * first, 1),  # cold: nothing loaded or remembered yet
            "bytes": size,
            "queries": len(queries),
            "runs": runs,
        }
    return out


if __name__ == "__main__":
    main()
