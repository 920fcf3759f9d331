"""Mirror throughput and resync time: the real PbxWorker, the simulator over TCP, a real database.

    .venv/bin/python bench/mirror.py [--rates 25,50,100,...,3200] [--seconds 4]
                                     [--lag-bound 1.0] [--no-absorb] [--no-resync]
                                     [--recording both|on|off] [--cost-rates 100,200]
                                     [--repeat 3]

1. **Absorb.** The simulator's seeded call centre (1,000 phones, 20 queues x 10 members) runs
   at rising call rates against a worker with the production flush interval (0.1 s). Every
   0.25 s a probe pauses a queue member with a new reason; its *lag* is the time until the
   database shows it, PBX to committed row. After ``--seconds`` the scenario stops and every
   timer is frozen; the step is *absorbed* when the database then equals the simulator's truth,
   the probe lag stayed under ``--lag-bound`` and the event queue never overflowed. The steps
   stop after the first one that is not absorbed.
2. **Resync.** ``PbxSimulator(extensions=5000, queues=200, members_per_queue=25)``: from the
   login to the first full write committed, split into the AMI part (the pipelined lists
   collected and loaded into the state) and the database part; once into an empty database,
   once more over the rows the first wrote (what every reconnect does).

Each database runs in a child process of its own, with Django set up there: SQLite in a
throw-away FCMDASH_VAR_DIR; PostgreSQL, when ``DATABASE_URL`` is set, in a fresh database on
that server, dropped at the end. The simulator runs in the child too, on its own thread and
event loop (``tests/support/simthread.py``): the figures are what one process does with the
PBX's work on top of its own, so a lower bound. Prints a table; the last line is one JSON
object with every figure, ``{"sqlite": {"absorb": ..., "resync": ...}, "postgresql": ...}``.
It never asserts a timing.

3. **What recording costs** (issue 12: at most 10 % of the worker's throughput). With
   ``--recording both`` (the default) every database runs twice, the worker recording the day
   (:mod:`monitor.history`, its rows in each flush) and not (``PbxWorker(record=False)``), at
   the same seeded load: the table has both, and a line per database compares the highest
   rate absorbed and the event loop's CPU time per event applied (``thread_time`` of the
   worker's thread over a step, recorder included) at each rate both absorbed.
   ``--cost-rates`` measures it more steadily: at each of those rates, ``--repeat`` steps
   recording and as many not, alternated in one child, each giving the worker's *work per
   event*: CPU seconds of its event loop plus of its flushes (``thread_time`` in the flush
   thread; SQLite works there, PostgreSQL in its server, so there the flushes' wall time is
   used), over the events applied while the load ran. Throughput is its inverse: the cost is
   the median work recording over the median not, less one. CPU time, unlike wall time,
   holds up when other processes share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.processes import fresh_database  # noqa: E402

RATES = (25, 50, 100, 200, 400, 800, 1600, 3200)  # new calls asked per second of wall time
TIME_SCALE = 0.05  # call timers 20x faster: calls last 0.5-9 s
PROBE_EVERY = 0.25


# -- the parent: one child per database, one table ---------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.child:
        print(json.dumps(child(args)))
        return {}
    if args.cost_rates:
        return measure_cost(args)
    modes = {"both": ("on", "off"), "on": ("on",), "off": ("off",)}[args.recording]
    results = {}
    for mode in modes:
        results[label("sqlite", mode)] = run_child("sqlite", args, {}, mode)
    url = os.environ.get("DATABASE_URL")
    if url:
        for mode in modes:
            with fresh_database(url, "fcmdash_bench") as db_url:
                extra = {"DATABASE_URL": db_url}
                results[label("postgresql", mode)] = run_child("postgresql", args, extra, mode)
    print_table(results)
    print_cost(results)
    print(json.dumps(results))
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    ap.add_argument("--seconds", type=float, default=4.0, help="of scenario per rate step")
    ap.add_argument("--lag-bound", type=float, default=1.0, help="seconds, PBX to database")
    ap.add_argument("--no-absorb", dest="absorb", action="store_false")
    ap.add_argument("--no-resync", dest="resync", action="store_false")
    ap.add_argument("--recording", choices=("both", "on", "off"), default="both")
    ap.add_argument("--cost-rates", default="", help="calls/s: work per event, on vs off")
    ap.add_argument("--repeat", type=int, default=3, help="steps per mode and cost rate")
    ap.add_argument("--child", choices=("sqlite", "postgresql"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def label(backend: str, mode: str) -> str:
    return backend if mode == "on" else f"{backend} (not recording)"


def run_child(
    backend: str, args: argparse.Namespace, extra: dict[str, str], mode: str = "on"
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | extra
    env.pop("REDIS_URL", None)
    argv = [sys.executable, __file__, "--child", backend, "--rates", args.rates]
    argv += ["--seconds", str(args.seconds), "--lag-bound", str(args.lag_bound)]
    argv += [] if args.absorb else ["--no-absorb"]
    argv += [] if args.resync else ["--no-resync"]
    argv += ["--recording", mode, "--repeat", str(args.repeat)]
    argv += ["--cost-rates", args.cost_rates] if args.cost_rates else []
    with tempfile.TemporaryDirectory(prefix="fcmdash-bench-") as var:
        env["FCMDASH_VAR_DIR"] = var
        env.setdefault("FCMDASH_LOG_LEVEL", "WARNING")
        print(f"$ bench/mirror.py on {label(backend, mode)} ...", file=sys.stderr, flush=True)
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench/mirror.py ({backend}) failed:\n{done.stderr[-4000:]}")
    sys.stderr.write(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


COLUMNS = (
    ("database", -26),
    ("calls/s", 7),
    ("actual", 6),
    ("events/s", 9),
    ("applied", 8),
    ("flushes", 7),
    ("flush ms", 8),
    ("loop us/ev", 10),
    ("lag max s", 9),
    ("overflow", 8),
    ("correct", 7),
)


def row(values: list[Any]) -> str:
    return " ".join(
        f"{v:<{-w}}" if w < 0 else f"{v:>{w}}" for v, (_, w) in zip(values, COLUMNS, strict=True)
    )


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(row([name for name, _ in COLUMNS]))
    for backend, r in results.items():
        for s in r.get("absorb", {}).get("steps", []):
            print(
                row(
                    [
                        backend,
                        f"{s['calls_per_s']:.0f}",
                        f"{s['calls_per_s_actual']:.0f}",
                        f"{s['events_per_s']:,}",
                        s["events_applied"],
                        s["flushes"],
                        f"{s['flush_ms_mean']:.1f}",
                        f"{s['loop_us_per_event']:.1f}",
                        f"{s['lag_max_s']:.2f}",
                        s["overflows"],
                        str(s["correct"]),
                    ]
                )
            )
    for backend, r in results.items():
        a, z = r.get("absorb"), r.get("resync")
        if a:
            limit = (
                "the worker's limit"
                if a["worker_limit_reached"]
                else "every step absorbed: the simulator, not the worker, set this ceiling"
            )
            print(
                f"{backend}: absorbed {a['max_events_per_s']:,} events/s applied with flushing"
                f" at {a['max_calls_per_s']:.0f} calls/s ({limit})"
            )
        for into, run in (z or {}).get("runs", {}).items():
            print(
                f"{backend}: resync of {z['endpoints']} endpoints, {z['queues']} queues x"
                f" {z['members_per_queue']} ({into.replace('_', ' ')}): AMI {run['ami_s']:.2f} s"
                f" + database {run['db_s']:.2f} s = {run['total_s']:.2f} s"
            )


def measure_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Only the cost series (``--cost-rates``), on each database."""
    results = {"sqlite": run_child("sqlite", args, {})}
    url = os.environ.get("DATABASE_URL")
    if url:
        with fresh_database(url, "fcmdash_bench") as db_url:
            results["postgresql"] = run_child("postgresql", args, {"DATABASE_URL": db_url})
    for backend, r in results.items():
        for c in r["cost"]:
            print(
                f"{backend}: {c['calls_per_s']:.0f} calls/s, work per event applied"
                f" recording {c['on_us']:.1f} us, not recording {c['off_us']:.1f} us"
                f" (medians of {len(c['on'])}, {c['cost_pct']:+.1f} %); measured in the"
                f" recording runs, the recording's own share of the work:"
                f" {c['recording_share_pct_median']:.1f} % (of {c['recording_share_pct']})"
            )
    print(json.dumps(results))
    return results


def print_cost(results: dict[str, dict[str, Any]]) -> None:
    """One line per database run both ways: what recording the day costs the worker."""
    for backend in ("sqlite", "postgresql"):
        on, off = results.get(backend), results.get(label(backend, "off"))
        if not on or not off or "absorb" not in on or "absorb" not in off:
            continue
        a, b = on["absorb"], off["absorb"]
        steps_on = {s["calls_per_s"]: s for s in a["steps"] if s["absorbed"]}
        steps_off = {s["calls_per_s"]: s for s in b["steps"] if s["absorbed"]}
        common = sorted(set(steps_on) & set(steps_off))
        per_rate = ", ".join(
            f"{r:.0f} calls/s {cost(steps_on[r], steps_off[r]):+.1f} %" for r in common
        )
        best, base = a["max_events_per_s"], b["max_events_per_s"]
        top = 100.0 * (1 - best / base) if base else 0.0
        print(
            f"{backend}: recording costs {top:+.1f} % of the highest event rate absorbed"
            f" ({a['max_events_per_s']:,} vs {b['max_events_per_s']:,} events/s);"
            f" loop CPU per event: {per_rate}"
        )


def cost(on: dict[str, Any], off: dict[str, Any]) -> float:
    """Extra event-loop CPU per event applied, recording vs not, in per cent."""
    return 100.0 * (on["loop_us_per_event"] / off["loop_us_per_event"] - 1)


# -- the child: Django, the simulator, the worker -----------------------------------------------
def child(args: argparse.Namespace) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fcmdash.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.cost_rates:
        rates = [float(r) for r in args.cost_rates.split(",") if r]
        return {"cost": asyncio.run(cost_series(rates, args.seconds, args.lag_bound, args.repeat))}
    out: dict[str, Any] = {"recording": args.recording == "on"}
    record = args.recording == "on"
    if args.absorb:
        rates = [float(r) for r in args.rates.split(",") if r]
        out["absorb"] = asyncio.run(absorb(rates, args.seconds, args.lag_bound, record))
    if args.resync:
        out["resync"] = asyncio.run(resync(5000, 200, 25, record))
    return out


def make_pbx(port: int) -> int:
    from monitor.models import Pbx

    pbx = Pbx(name=f"bench-{port}-{uuid.uuid4().hex[:6]}", host="127.0.0.1", port=port)
    pbx.username = "admin123"
    pbx.set_secret("admin123")
    pbx.save()
    return pbx.pk


def new_worker(port: int, pbx_id: int, **options: Any):
    from monitor.ami.client import AmiClient
    from monitor.ami.config import AmiConfig
    from monitor.worker import PbxWorker

    config = AmiConfig(host="127.0.0.1", port=port, username="admin123", secret="admin123")
    return PbxWorker(pbx_id, config, client=AmiClient(config), **options)


class FlushTimer:
    """Times every ``mirror.flush`` (the database part of a flush, in its thread)."""

    def __init__(self) -> None:
        from monitor import mirror

        self.mirror, self.original = mirror, mirror.flush
        self.seconds: list[float] = []
        self.cpu: list[float] = []  # the flush thread's CPU seconds, flush by flush
        mirror.flush = self._timed

    def _timed(self, batch: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.original(batch)
        finally:
            self.cpu.append(time.thread_time() - cpu)
            self.seconds.append(time.perf_counter() - started)

    def close(self) -> None:
        self.mirror.flush = self.original


# -- 3. what recording costs -----------------------------------------------------------------
async def cost_series(
    rates: list[float], seconds: float, lag_bound: float, repeat: int
) -> list[dict[str, Any]]:
    out = []
    for rate in rates:
        work: dict[bool, list[float]] = {True: [], False: []}
        shares = []
        for _ in range(repeat):
            for record in (True, False):  # alternated: the machine's load hits both alike
                step = await absorb_step(rate, seconds, lag_bound, record)
                work[record].append(step["work_us_per_event"])
                if record and step["work_us_per_event"]:
                    shares.append(step["recording_us_per_event"] / step["work_us_per_event"])
        on, off = statistics.median(work[True]), statistics.median(work[False])
        out.append(
            {
                "calls_per_s": rate,
                "on": work[True],
                "off": work[False],
                "on_us": round(on, 2),
                "off_us": round(off, 2),
                "cost_pct": round(100.0 * (on / off - 1), 1) if off else 0.0,
                # Of the recording worker's work, the recording's own (measured in the run):
                # the throughput a worker loses by recording.
                "recording_share_pct": [round(100.0 * x, 1) for x in shares],
                "recording_share_pct_median": round(100.0 * statistics.median(shares), 1)
                if shares
                else 0.0,
            }
        )
        print(f"  {rate:>5.0f} calls/s: {out[-1]}", file=sys.stderr, flush=True)
    return out


class RecordingTimer:
    """CPU seconds of the recording alone, in the same run: the recorder's calls on the loop
    (``Recorder.on_event``, ``on_resync``, ``take``) and its rows' writes in the flush
    thread (``history_write``). Both sides of the ratio then share the machine's load."""

    total = 0.0

    def __init__(self) -> None:
        from monitor import mirror
        from monitor.history.recorder import Recorder

        self.patched = [
            (Recorder, name, getattr(Recorder, name)) for name in ("on_event", "on_resync", "take")
        ]
        self.patched.append((mirror, "history_write", mirror.history_write))
        # The rows' writes as the flushes are counted: CPU on SQLite, wall time on PostgreSQL.
        on_server = os.environ.get("DATABASE_URL") is not None
        for owner, name, original in self.patched:
            clock = time.perf_counter if on_server and owner is mirror else time.thread_time
            setattr(owner, name, self._timed(original, clock))

    @classmethod
    def _timed(cls, fn: Any, clock: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                cls.total += clock() - started  # the GIL: no lost update

        return timed

    def seconds(self) -> float:
        return RecordingTimer.total

    def close(self) -> None:
        for owner, name, original in self.patched:
            setattr(owner, name, original)


# -- 1. events absorbed with flushing ------------------------------------------------------------
async def absorb(
    rates: list[float], seconds: float, lag_bound: float, record: bool = True
) -> dict[str, Any]:
    steps = []
    for rate in rates:
        step = await absorb_step(rate, seconds, lag_bound, record)
        steps.append(step)
        print(
            f"  {rate:>5.0f} calls/s: {step['events_per_s']:,.0f} events/s, "
            f"lag max {step['lag_max_s']:.2f} s, absorbed {step['absorbed']}",
            file=sys.stderr,
            flush=True,
        )
        if not step["absorbed"]:
            break
    good = [s for s in steps if s["absorbed"]]
    best = max(good, key=lambda s: s["events_per_s"], default=None)
    return {
        "steps": steps,
        "max_calls_per_s": best["calls_per_s_actual"] if best else 0,
        "max_calls_per_s_asked": best["calls_per_s"] if best else 0,
        "max_events_per_s": best["events_per_s"] if best else 0,
        # False: every step was absorbed, so the limit found is the load generator's.
        "worker_limit_reached": len(good) < len(steps),
        "lag_bound_s": lag_bound,
    }


async def absorb_step(
    rate: float, seconds: float, lag_bound: float, record: bool = True
) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    from monitor.sim.scenario import Scenario, ScenarioConfig
    from tests.support.simthread import SimThread

    options = {"extensions": 1000, "queues": 20, "members_per_queue": 10, "seed": int(rate)}
    with SimThread(**options, time_scale=TIME_SCALE, write_timeout=2.0) as st:
        pbx_id = await sync_to_async(make_pbx)(st.port)
        worker = new_worker(st.port, pbx_id, record=record)
        task = asyncio.create_task(worker.run())
        timer = FlushTimer()
        share = RecordingTimer()
        try:
            await settle(st, worker, 60.0)
            config = ScenarioConfig(call_rate=rate * TIME_SCALE, pause_rate=0.0)
            scenario = st.call(lambda: Scenario(st.sim.pbx, seed=int(rate), config=config))
            probe = Probe(st, pbx_id)
            before = counters(st, worker, timer, scenario)
            st.call(scenario.start)
            window = await probe.send_for(seconds)
            # The loop's CPU while the load ran (the settling after it polls on this thread).
            busy = (
                time.thread_time() - before["loop_cpu_s"],
                worker.events_applied,
                len(timer.seconds),
            )
            recording = share.seconds() - before["recording_s"]
            st.call(scenario.stop)
            st.call(st.sim.pbx.calls.reset)  # no timer fires any more: the PBX stands still
            frozen = time.monotonic()
            lags = await probe.lags()
            correct = await settle(st, worker, 30.0)
            settle_s = time.monotonic() - frozen
            after = counters(st, worker, timer, scenario)
        finally:
            timer.close()
            share.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    after["busy"] = busy
    after["recording"] = recording
    return step_figures(rate, window, before, after, lags, correct, settle_s, lag_bound)


def counters(st: Any, worker: Any, timer: FlushTimer, scenario: Any) -> dict[str, Any]:
    return {
        "calls": scenario.calls_started,
        "emitted": st.call(lambda: st.sim.pbx.events_emitted),
        "applied": worker.events_applied,
        "flushes": worker.flushes,
        "flush_times": len(timer.seconds),
        # The worker's event loop is this thread: its CPU time, recorder and all.
        "loop_cpu_s": time.thread_time(),
        "recording_s": RecordingTimer.total,
        "timer": timer,
        "overflows": worker.client.events.overflows,
        "resyncs": worker.resyncs,
        "reconnects": worker.client.reconnects,
    }


def step_figures(
    rate: float,
    seconds: float,  # the window the scenario ran
    before: dict[str, Any],
    after: dict[str, Any],
    lags: list[float],
    correct: bool,
    settle_s: float,
    lag_bound: float,
) -> dict[str, Any]:
    times = after["timer"].seconds[before["flush_times"] : after["flush_times"]]
    overflows = after["overflows"] - before["overflows"]
    lag_max = max(lags) if lags else float("inf")
    applied = after["applied"] - before["applied"]
    return {
        "calls_per_s": rate,
        "calls_started": after["calls"] - before["calls"],
        "calls_per_s_actual": round((after["calls"] - before["calls"]) / seconds, 1),
        "events_emitted": after["emitted"] - before["emitted"],
        "events_offered_per_s": round((after["emitted"] - before["emitted"]) / seconds),
        "events_applied": applied,
        # Until the database had all of it: the window, plus the backlog drained after it.
        "events_per_s": round(applied / (seconds + settle_s)),
        "flushes": after["flushes"] - before["flushes"],
        "flush_ms_mean": round(1000 * statistics.fmean(times), 1) if times else 0.0,
        "flush_ms_max": round(1000 * max(times), 1) if times else 0.0,
        "loop_us_per_event": loop_us_per_event(before, after),
        "work_us_per_event": work_us_per_event(before, after),
        "recording_us_per_event": recording_us_per_event(before, after),
        "lag_mean_s": round(statistics.fmean(lags), 3) if lags else None,
        "lag_max_s": round(lag_max, 3),
        "overflows": overflows,
        "resyncs": after["resyncs"] - before["resyncs"],
        "reconnects": after["reconnects"] - before["reconnects"],
        "correct": correct,
        "settle_s": round(settle_s, 2),
        "absorbed": correct and overflows == 0 and lag_max <= lag_bound,
    }


def loop_us_per_event(before: dict[str, Any], after: dict[str, Any]) -> float:
    """The event loop's CPU microseconds per event applied while the load ran."""
    cpu, applied, _ = after["busy"]
    applied -= before["applied"]
    return round(1e6 * cpu / applied, 2) if applied else 0.0


def recording_us_per_event(before: dict[str, Any], after: dict[str, Any]) -> float:
    """Of that work, the recorder's and its rows': CPU in the loop and the flush thread."""
    applied = after["busy"][1] - before["applied"]
    return round(1e6 * after["recording"] / applied, 2) if applied else 0.0


def work_us_per_event(before: dict[str, Any], after: dict[str, Any]) -> float:
    """The worker's work per event applied while the load ran, in microseconds: its loop's
    CPU plus its flushes' (their CPU on SQLite, which works in the flush thread; their wall
    time on PostgreSQL, whose work is in its server)."""
    cpu, applied, flushes = after["busy"]
    applied -= before["applied"]
    timer = after["timer"]
    done = slice(before["flush_times"], flushes)
    sqlite = os.environ.get("DATABASE_URL") is None
    flush = sum(timer.cpu[done]) if sqlite else sum(timer.seconds[done])
    return round(1e6 * (cpu + flush) / applied, 2) if applied else 0.0


async def settle(st: Any, worker: Any, timeout: float) -> bool:
    """Wait until the database equals the simulator's truth; False after ``timeout``."""
    from asgiref.sync import sync_to_async

    from tests.support.truth import differences, mirror_picture, sim_picture

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        truth = sim_picture(st.call(st.sim.snapshot))
        if not differences(truth, await sync_to_async(mirror_picture)(worker.pbx_id)):
            return True
        await asyncio.sleep(0.1)
    return False


class Probe:
    """Pauses one member with a new reason every PROBE_EVERY s, and notes (in a thread that
    polls the member's row) when each reason shows in the database."""

    def __init__(self, st: Any, pbx_id: int) -> None:
        self.st = st
        self.queue, self.interface = st.call(lambda: first_member(st.sim.pbx))
        self.sent: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        target = (pbx_id, self.queue, self.interface, self.sent, self.seen, self.stop)
        self.watcher = threading.Thread(target=watch, args=target)
        self.watcher.start()

    async def send_for(self, seconds: float) -> float:
        """Probe for ``seconds``; returns the seconds it really took."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            reason = f"probe {len(self.sent) + 1}"
            self.sent[reason] = time.monotonic()
            pause = self.st.sim.pbx.queue_pause
            self.st.call(pause, self.interface, True, self.queue, reason)
            await asyncio.sleep(PROBE_EVERY)
        return time.monotonic() - started

    async def lags(self, timeout: float = 30.0) -> list[float]:
        """Each probe's seconds from the PBX to the database (unseen ones: until now)."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < len(self.sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.stop.set()
        await asyncio.to_thread(self.watcher.join)
        return [self.seen.get(r, time.monotonic()) - t for r, t in self.sent.items()]


def first_member(pbx: Any) -> tuple[str, str]:
    queue = next(iter(pbx.queues.values()))
    return queue.name, next(iter(queue.members))


def watch(pbx_id: int, queue: str, interface: str, sent: dict, seen: dict, stop: Any) -> None:
    """Poll the member's row; note when each probe's reason first shows (a thread)."""
    from django.db import connection

    from monitor.models import QueueMember

    rows = QueueMember.objects.filter(pbx_id=pbx_id, queue__name=queue, interface=interface)
    try:
        while not stop.is_set():
            reason = rows.values_list("paused_reason", flat=True).first()
            if reason in sent and reason not in seen:
                # A flush coalesces: a later probe showing means the earlier ones were written.
                number, now = int(reason.split()[-1]), time.monotonic()
                for n in range(1, number + 1):
                    seen.setdefault(f"probe {n}", now)
            time.sleep(0.005)
    finally:
        connection.close()


# -- 2. a complete resync of a big PBX ----------------------------------------------------------
async def resync(extensions: int, queues: int, members: int, record: bool = True) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    from monitor.ami.client import Connected
    from monitor.models import Endpoint, QueueMember
    from tests.support.simthread import SimThread

    size = {"extensions": extensions, "queues": queues, "members_per_queue": members}
    with SimThread(**size, seed=1) as st:
        pbx_id = await sync_to_async(make_pbx)(st.port)
        runs = {}
        for into in ("empty_database", "rows_already_there"):
            worker = new_worker(st.port, pbx_id, flush_interval=3600, record=record)
            client = asyncio.create_task(worker.client.run())
            try:
                started = time.monotonic()
                while not isinstance(await worker.client.events.get(), Connected):
                    pass
                logged_in = time.monotonic()
                await worker.resync(new_session=True)
                listed = time.monotonic()
                await worker.flush()
                written = time.monotonic()
            finally:
                await worker.client.stop()
                client.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await client
            rows = await sync_to_async(
                lambda: (
                    Endpoint.objects.filter(pbx_id=pbx_id).count(),
                    QueueMember.objects.filter(pbx_id=pbx_id).count(),
                )
            )()
            runs[into] = {
                "login_s": round(logged_in - started, 3),
                "ami_s": round(listed - logged_in, 3),
                "db_s": round(written - listed, 3),
                "total_s": round(written - logged_in, 3),
                "endpoint_rows": rows[0],
                "member_rows": rows[1],
            }
    return {"endpoints": extensions, "queues": queues, "members_per_queue": members, "runs": runs}


if __name__ == "__main__":
    main()
