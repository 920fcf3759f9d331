"""Resident memory of a real ``manage.py amiworker`` mirroring a PBX with 10,000 endpoints.

    .venv/bin/python bench/memory.py [--extensions 10000] [--queues 200] [--members 25]
                                     [--seconds 30] [--calls 50]

The production set-up (a fresh PostgreSQL database from ``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/test``, dropped at the end; Redis from ``REDIS_URL``,
default ``redis://127.0.0.1:6379/0``, under a prefix of its own) with one ``amiworker`` process
against ``PbxSimulator(extensions=10000, queues=200, members_per_queue=25)``, which runs in this
process. VmRSS of the worker (``/proc/<pid>/status``) is read once before it connects, once the
database equals the simulator's truth (the resync is written), then every second while the
scenario places ``--calls`` new calls a second for ``--seconds`` (call timers 20x faster), and
at the end; VmHWM is the kernel's peak. Prints a table; the last line is one JSON object. It
never asserts a size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pipeline import amiworker, make_pbx, production, settle  # noqa: E402

TIME_SCALE = 0.05


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (10^6 bytes)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) * 1024 / 1e6, 1)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extensions", type=int, default=10000)
    ap.add_argument("--queues", type=int, default=200)
    ap.add_argument("--members", type=int, default=25, help="per queue")
    ap.add_argument("--seconds", type=float, default=30.0, help="of scenario after the resync")
    ap.add_argument("--calls", type=float, default=50.0, help="new calls per second")
    ap.add_argument("--quick", action="store_true", help="10 s of scenario")
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds = 10.0
    with contextlib.ExitStack() as stack:
        result = run(args, stack)
    print(f"{'worker RSS':<28} {'MB':>7}")
    for key in ("rss_started_mb", "rss_after_resync_mb", "rss_end_mb", "rss_max_mb", "hwm_mb"):
        print(f"{key:<28} {result[key]:>7}")
    print(json.dumps(result))
    return result


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> dict[str, Any]:
    from monitor.sim.scenario import Scenario, ScenarioConfig
    from tests.support.simthread import SimThread

    env, logs = stack.enter_context(production(stack))
    size = {"extensions": args.extensions, "queues": args.queues, "members_per_queue": args.members}
    st = stack.enter_context(SimThread(**size, seed=1, time_scale=TIME_SCALE, write_timeout=2.0))
    worker = amiworker(env, logs)
    # The worker starts with no PBX in the database: its footprint before any AMI session.
    worker.start()
    stack.callback(worker.stop)
    time.sleep(4.0)
    worker.check()
    started = status_mb(worker.pid)["VmRSS"]
    begun = time.monotonic()
    pbx_id = make_pbx(st.port)
    if not settle(st, pbx_id, 120.0):
        raise SystemExit("the worker never mirrored the simulator's PBX")
    resynced_s = time.monotonic() - begun
    after_resync = status_mb(worker.pid)["VmRSS"]
    config = ScenarioConfig(call_rate=args.calls * TIME_SCALE, pause_rate=0.0)
    scenario = st.call(lambda: Scenario(st.sim.pbx, seed=1, config=config))
    st.call(scenario.start)
    samples = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        worker.check()
        samples.append(status_mb(worker.pid)["VmRSS"])
    st.call(scenario.stop)
    st.call(st.sim.pbx.calls.reset)
    correct = settle(st, pbx_id, 60.0)
    end = status_mb(worker.pid)
    return {
        "extensions": args.extensions,
        "queues": args.queues,
        "members_per_queue": args.members,
        "scenario_s": args.seconds,
        "calls_per_s": args.calls,
        "calls_started": scenario.calls_started,
        "resync_written_s": round(resynced_s, 2),
        "rss_started_mb": started,
        "rss_after_resync_mb": after_resync,
        "rss_end_mb": end["VmRSS"],
        "rss_max_mb": max([after_resync, end["VmRSS"], *samples]),
        "hwm_mb": end["VmHWM"],
        "rss_samples_mb": samples,  # one a second while the scenario ran
        "mirror_correct": correct,
    }


if __name__ == "__main__":
    main()
