"""Live pipeline: simulator -> ``amiworker`` -> Redis -> Daphne -> WebSocket clients, for real.

    .venv/bin/python bench/pipeline.py [--clients 50,200] [--rates 25,50,100,...]
                                       [--seconds 5] [--probe-every 0.1] [--quick]

The production set-up of the README, on this machine: a fresh PostgreSQL database
(``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/test``: a new database on that
server, dropped at the end), Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``, under a
key prefix of its own), ``manage.py amiworker`` and ``daphne`` as separate processes. The
simulated PBX (1,000 phones, 20 queues x 10 members, call timers 20x faster) runs in this
process on a thread of its own; the WebSocket clients (``websockets``) run in ``--client-procs``
child processes: half of them kiosk links (wallboard TVs: the read-only wallboard group), a
quarter supervisors' wallboards (the wallboard group with controls), a quarter supervisors on a
page that shows every kind of tile (queue, extension and calls pages: the group with controls).
Every client receives the htmx OOB HTML a browser would.

For each number of clients the call rate rises step by step. In a step the scenario runs for
``--seconds`` while a probe, every ``--probe-every`` s, sends an outside caller named
``bench-probe-<n>`` into queue ``latency`` (which has no members and which the scenario's
callers never reach) and hangs up the previous one, stamped on the simulator's thread as it
emits the events: the queue's card on every wallboard, and the caller's row on the other pages,
then shows the new name. A client's *latency* for probe n is the time until a message with
probe n or a later one arrives (a flush coalesces, and a later caller is what the page then
shows): simulator to browser socket. Then the PBX is frozen and the step is checked:

- the database equals ``sim.snapshot()`` (``tests/support/truth.py``);
- every tile a checking client (one per group) last received for an extension, queue, member,
  waiting caller or call equals the tile rendered now from that database (a deleted one is
  gone from it), queue colours aside (they follow the clock);
- every other client of a kind ends with the same tiles (each socket batches as its reader
  keeps up, so their messages may differ).

A step *keeps up* when it is correct, every probe reached every client, nothing overflowed or
reconnected, and p99 <= ``--lag-bound``; the ramp stops after the first step that does not.
Events/s is what the simulator sent on the AMI session (the worker drops roughly half of them
by their first line); ``applied`` is what the worker applied (its ``WorkerStats``). Prints a
table; the last line is one JSON object. It never asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.processes import (  # noqa: E402
    Process,
    delete_redis_keys,
    free_port,
    fresh_database,
)

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
RATES = (25, 50, 100, 200, 300, 400, 600, 800)  # new calls asked per second of wall time
CLIENTS = (50, 200)
TIME_SCALE = 0.05  # call timers 20x faster: calls last 0.5-9 s
PROBE = "bench-probe-"
PROBE_QUEUE = "latency"
TILE_KINDS = ("endpoint", "queue", "member", "caller", "call")
# Top-level elements of a message: "\n".join of tiles, each opening at the start of a line.
TILE_START = re.compile(rb"\n(?=<[a-z])")
# A tile's id (group 1) and kind (group 2): ``endpoint-12``, a call's ``call-<pbx>-<linkedid>``.
TILE_ID = re.compile(rb'<[a-z]+ id="(([a-z]+)-[A-Za-z0-9_-]+)"')
ACK_SECONDS = 0.5  # the page's ACK_MS
HEADER = re.compile(rb"<!--(\d+) ([0-9a-f]+)-->\n?")  # a message's sequence number and nonce
QUEUE_LEVEL = re.compile(r'card--\w+|<span class="level">.*?</span></span>', re.DOTALL)


# -- processes, databases, Redis: shared with bench/memory.py and bench/page.py -----------------
class Proc(Process):
    """A child process of the bench (``tests.support.processes.Process``), stopped within 10 s."""

    stop_timeout = 10.0

    def check(self) -> None:
        if not self.alive:
            raise SystemExit(f"{self.name} exited:\n{self.log()[-3000:]}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daphne(name: str, env: dict[str, str], log_dir: Path) -> tuple[Proc, str]:
    port = free_port()
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--verbosity", "0"]
    return Proc(name, [*argv, "fcmdash.asgi:application"], env, log_dir), f"127.0.0.1:{port}"


def amiworker(env: dict[str, str], log_dir: Path, *options: str) -> Proc:
    argv = [sys.executable, "manage.py", "amiworker", *options]
    return Proc("amiworker", argv, env, log_dir)


def wait_http(proc: Proc, address: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.check()
        try:
            urllib.request.urlopen(f"http://{address}/healthz", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # 503 while the worker settles: it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{proc.name} did not answer on {address}")


def servers() -> tuple[str, str]:
    """The PostgreSQL and Redis URLs to use; exits with a reason when one does not answer."""
    import psycopg
    import redis

    pg = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
    rd = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    try:
        psycopg.connect(pg, connect_timeout=3).close()
    except psycopg.Error as exc:
        raise SystemExit(f"PostgreSQL at {pg} does not answer: {exc}") from exc
    try:
        redis.Redis.from_url(rd, socket_timeout=3).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis at {rd} does not answer: {exc}") from exc
    return pg, rd


@contextlib.contextmanager
def production(stack: contextlib.ExitStack, *, redis: bool = True):
    """A fresh database, a Redis prefix and a var dir; Django set up on them in this process.
    Yields the environment for the child processes."""
    pg, rd = servers()
    var = Path(tempfile.mkdtemp(prefix="fcmdash-bench-"))
    stack.callback(shutil.rmtree, var, ignore_errors=True)
    db_url = stack.enter_context(fresh_database(pg, "fcmdash_bench"))
    prefix = f"fcmdash-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fcmdash.settings",
        "DATABASE_URL": db_url,
        "FCMDASH_VAR_DIR": str(var / "var"),
        "FCMDASH_DB_CONN_MAX_AGE": "60",
        "FCMDASH_LOG_LEVEL": os.environ.get("FCMDASH_LOG_LEVEL", "WARNING"),
        "FCMDASH_DEMO_PASSWORD": "bench-Pass-9",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if redis:
        env |= {"REDIS_URL": rd, "FCMDASH_REDIS_PREFIX": prefix}
        stack.callback(delete_redis_keys, rd, prefix)
    (var / "logs").mkdir()
    if os.environ.get("FCMDASH_BENCH_LOGS"):  # keep the processes' logs there
        keep = Path(os.environ["FCMDASH_BENCH_LOGS"])
        stack.callback(shutil.copytree, var / "logs", keep, dirs_exist_ok=True)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # as after every upgrade
    yield env, var / "logs"


def make_pbx(port: int) -> int:
    from monitor.models import Pbx

    pbx = Pbx(name=f"bench-{port}", host="127.0.0.1", port=port)
    pbx.username = "admin123"
    pbx.set_secret("admin123")
    pbx.save()
    return pbx.pk


def settle(st: Any, pbx_id: int, timeout: float) -> bool:
    """Wait until the database equals the simulator's truth; False after ``timeout``."""
    from tests.support.truth import differences, mirror_picture, sim_picture

    deadline = time.monotonic() + timeout
    while True:
        truth = sim_picture(st.call(st.sim.snapshot))
        if not differences(truth, mirror_picture(pbx_id)):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


# -- the WebSocket clients (a child process) ----------------------------------------------------
class ClientState:
    def __init__(self, checker: bool) -> None:
        self.checker = checker
        self.connected = False
        self.error = ""
        # Since the last report: messages, a CRC-32 over them in order, bytes.
        self.count = self.crc = self.bytes = 0
        self.probe_max = 0
        self.seen: list[tuple[int, float]] = []  # (highest probe so far, when), since last report
        self.tiles: dict[str, str] = {}  # checker only: the last fragment of every tile id
        self.tile_bytes: dict[str, int] = {}  # checker only: bytes by tile kind, since last report
        # What the page would show now: a CRC-32 of each tile's last version, by id. Sockets
        # batch as their readers keep up, so two of a kind get different messages, but must
        # end with the same picture.
        self.picture: dict[bytes, int] = {}

    def take(self, data: bytes, now: float, size: int) -> None:
        """``data``: a message without its header; ``size``: its bytes with it."""
        self.count += 1
        self.bytes += size
        self.crc = zlib.crc32(data, self.crc)
        at = data.rfind(PROBE.encode())
        if at >= 0:
            digits = re.match(rb"\d+", data[at + len(PROBE) : at + len(PROBE) + 12])
            if digits and int(digits.group()) > self.probe_max:
                self.probe_max = int(digits.group())
                self.seen.append((self.probe_max, now))
        for part in TILE_START.split(data):
            m = TILE_ID.match(part)
            if m is None:
                continue
            deleted = b'hx-swap-oob="delete"' in part[:160]
            if deleted:
                self.picture.pop(m.group(1), None)
            else:
                self.picture[m.group(1)] = zlib.crc32(part.strip())
            if self.checker:
                kind = "delete" if deleted else m.group(2).decode()
                self.tile_bytes[kind] = self.tile_bytes.get(kind, 0) + len(part)
                if m.group(2).decode() in TILE_KINDS:
                    self.tiles[m.group(1).decode()] = part.decode().strip()

    def report(self) -> dict[str, Any]:
        out = {
            "connected": self.connected,
            "error": self.error,
            "count": self.count,
            "crc": self.crc,
            "bytes": self.bytes,
            "seen": self.seen,
            "picture": zlib.crc32(repr(sorted(self.picture.items())).encode()),
        }
        if self.checker:
            out["tiles"] = self.tiles
            out["tile_bytes"] = self.tile_bytes
            self.tile_bytes = {}
        self.count = self.crc = self.bytes = 0
        self.seen = []
        return out


class Acks:
    """Acknowledges as ``static/js/fcmdash.js`` does: the newest, at most every ACK_SECONDS."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.newest: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    def take(self, ack: bytes) -> None:
        self.newest = ack
        if self.task is None:
            self.task = asyncio.create_task(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(ACK_SECONDS)
        self.task = None
        newest, self.newest = self.newest, None
        if newest is not None:
            await self.ws.send(newest, text=True)


async def run_client(spec: dict[str, Any], state: ClientState, ready: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    try:
        async with connect(
            spec["url"],
            origin=spec["origin"],
            additional_headers=spec.get("headers") or {},
            max_size=None,
            max_queue=None,
            ping_interval=None,
            open_timeout=60,
        ) as ws:
            state.connected = True
            ready.set()
            acks = Acks(ws)
            while True:
                data = await ws.recv(decode=False)
                size = len(data)
                head = HEADER.match(data)
                if head:  # as the page does once it applied a message (monitor/outbox.py)
                    acks.take(b"%s %s" % head.groups())
                    data = data[head.end() :]
                state.take(data, time.monotonic(), size)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.connected = False
        state.error = f"{type(exc).__name__}: {exc}"
        ready.set()


async def clients_child() -> None:
    """Reads one JSON line (the clients), then commands: ``report``, ``quit``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    specs = json.loads(await reader.readline())
    states = [ClientState(bool(s.get("checker"))) for s in specs]
    tasks = []
    for spec, state in zip(specs, states, strict=True):
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(run_client(spec, state, ready)))
        await ready.wait()  # one at a time, as browsers arriving would
    print(json.dumps({"ready": sum(s.connected for s in states)}), flush=True)
    while line := (await reader.readline()).strip():
        if line == b"quit":
            break
        if line == b"peek":
            print(json.dumps([[s.count, s.probe_max, s.connected] for s in states]), flush=True)
        elif line == b"traffic":
            print(json.dumps([[s.count, s.bytes] for s in states]), flush=True)
        else:
            print(json.dumps([s.report() for s in states]), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Clients:
    """The client processes, seen from the bench."""

    def __init__(self, specs: list[dict[str, Any]], procs: int, env: dict[str, str]) -> None:
        self.procs = []
        share = [specs[i::procs] for i in range(procs)]
        self.specs = [s for part in share for s in part]  # the order reports come in
        for part in share:
            p = subprocess.Popen(
                [sys.executable, __file__, "--clients-child"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            assert p.stdin is not None
            p.stdin.write(json.dumps(part) + "\n")
            p.stdin.flush()
            self.procs.append(p)
        self.ready = sum(json.loads(self._line(p))["ready"] for p in self.procs)

    @staticmethod
    def _line(p: subprocess.Popen) -> str:
        assert p.stdout is not None
        line = p.stdout.readline()
        if not line:
            raise SystemExit("a WebSocket client process died")
        return line

    def report(self) -> list[dict[str, Any]]:
        """Each client's figures; those per step start anew."""
        return self._ask("report")

    def _ask(self, command: str) -> list[Any]:
        for p in self.procs:
            p.stdin.write(f"{command}\n")
            p.stdin.flush()
        out: list[Any] = []
        for p in self.procs:
            out += json.loads(self._line(p))
        return out

    def traffic(self) -> list[tuple[int, int]]:
        """Each client's messages and bytes since the last report, now."""
        return [tuple(t) for t in self._ask("traffic")]

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.stdin.write("quit\n")
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def quiet(self, probe: int = 0, pause: float = 0.8, timeout: float = 30.0) -> None:
        """Until every client still connected has seen ``probe`` (or a later one) and then
        nothing more arrived for ``pause`` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            seen = self._ask("peek")
            if seen == last and all(p >= probe or not up for _, p, up in seen):
                return
            last = seen
            time.sleep(pause)


# -- the bench ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.clients_child:
        asyncio.run(clients_child())
        return {}
    with contextlib.ExitStack() as stack:
        results = bench(args, stack)
    print_table(results)
    print(json.dumps(results))
    return results


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    ap.add_argument("--seconds", type=float, default=5.0, help="of scenario per rate step")
    ap.add_argument("--probe-every", type=float, default=0.1)
    ap.add_argument("--lag-bound", type=float, default=1.0, help="p99 seconds to keep up")
    ap.add_argument("--target-p99", type=float, default=0.25)
    ap.add_argument("--daphnes", type=int, default=1)
    ap.add_argument("--flush-interval", type=float, default=0.1, help="amiworker's, seconds")
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--write-timeout", type=float, default=2.0, help="the PBX's, seconds")
    ap.add_argument("--quick", action="store_true", help="200 clients, 2 rates, 3 s steps")
    ap.add_argument("--clients-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.clients, args.rates, args.seconds = "200", "50,200", 3.0
    return args


def bench(args: argparse.Namespace, stack: contextlib.ExitStack) -> dict[str, Any]:
    from monitor.sim.model import Queue as SimQueue
    from tests.support.simthread import SimThread

    env, logs = stack.enter_context(production(stack))
    size = {"extensions": 1000, "queues": 20, "members_per_queue": 10}
    st = stack.enter_context(
        SimThread(**size, seed=1, time_scale=TIME_SCALE, write_timeout=args.write_timeout)
    )
    st.call(lambda: st.sim.pbx.add_queue(SimQueue(PROBE_QUEUE, display_name="Latency probe")))
    pbx_id = make_pbx(st.port)
    procs = [amiworker(env, logs, "--flush-interval", str(args.flush_interval))]
    webs = [daphne(f"daphne-{i + 1}", env, logs) for i in range(args.daphnes)]
    procs += [p for p, _ in webs]
    for p in procs:
        p.start()
        stack.callback(p.stop)
    for p, address in webs:
        wait_http(p, address)
    if not settle(st, pbx_id, 60.0):
        raise SystemExit("the worker never mirrored the simulator's PBX")
    specs = client_specs(pbx_id)
    probe = st.call(lambda: [q for q in st.sim.pbx.queues if q != PROBE_QUEUE])
    out: dict[str, Any] = {
        "extensions": size["extensions"],
        "queues": size["queues"],
        "members_per_queue": size["members_per_queue"],
        "daphnes": args.daphnes,
        "flush_interval_s": args.flush_interval,
        "cores": os.cpu_count(),
        "loadavg_1m_before": round(os.getloadavg()[0], 2),  # other work on this machine
    }
    for n in [int(c) for c in args.clients.split(",") if c]:
        print(f"  {n} clients ...", file=sys.stderr, flush=True)
        kinds = [specs[i % len(specs)] for i in range(n)]
        wanted = [
            {
                **spec,
                "url": f"ws://{webs[i % len(webs)][1]}{spec['path']}",
                "origin": f"http://{webs[i % len(webs)][1]}",  # as a browser on that page
            }
            for i, spec in enumerate(kinds)
        ]
        for spec in specs:  # the first client of each kind checks its tiles
            next(w for w in wanted if w["kind"] == spec["kind"])["checker"] = True
        clients = Clients(wanted, min(args.client_procs, n), env)
        try:
            if clients.ready != n:
                errors = {r["error"] for r in clients.report() if r["error"]}
                raise SystemExit(f"only {clients.ready} of {n} clients connected: {errors}")
            out[f"clients_{n}"] = ramp(args, st, pbx_id, probe, clients, procs)
        finally:
            clients.close()
    return out


def client_specs(pbx_id: int) -> list[dict[str, Any]]:
    """The clients in turn: kiosk link, supervisor's wallboard, kiosk link, supervisor on a page
    with every tile (``group``: the broadcast group they hear)."""
    from django.core.management import call_command
    from django.test import Client

    from monitor.web_models import KioskLink

    call_command("demo_users", stdout=open(os.devnull, "w"))  # noqa: SIM115
    link = KioskLink(name="bench", pbx_id=pbx_id)
    token = link.issue()
    link.save()
    browser = Client()
    from django.contrib.auth import get_user_model

    browser.force_login(get_user_model().objects.get(username="supervisor"))
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    kiosk = {"path": f"/ws/kiosk/{token}/", "view": "board", "controls": False, "kind": "kiosk"}
    wallboard = {
        "path": f"/ws/live/?pbx={pbx_id}&board=1",  # the wallboard page's socket
        "headers": {"Cookie": cookie},
        "view": "board",
        "controls": True,
        "kind": "wallboard",
    }
    pages = [
        {"path": path, "headers": {"Cookie": cookie}, "view": view, "controls": True, "kind": kind}
        for kind, view, path in page_sockets(pbx_id)
    ]
    return [kiosk, wallboard, kiosk, pages[0], kiosk, wallboard, kiosk, pages[1]]


def page_sockets(pbx_id: int) -> list[tuple[str, str, str]]:
    """(kind, broadcast view, socket path) of a supervisor's queue page and calls page, as
    those pages name their sockets (``monitor.views.access.page_context``)."""
    from monitor.models import Queue

    # The probe's queue: its page shows the probe's caller.
    queue = Queue.objects.get(pbx_id=pbx_id, name=PROBE_QUEUE)
    return [
        ("queue page", "detail", f"/ws/live/?pbx={pbx_id}&page=queue:{queue.pk}"),
        ("calls page", "calls", f"/ws/live/?pbx={pbx_id}&page=calls"),
    ]


def group_of(spec: dict[str, Any], pbx_id: int) -> str:
    from monitor import broadcast

    return broadcast.group(pbx_id, spec["view"], controls=spec["controls"])


def worker_counters(pbx_id: int) -> dict[str, int]:
    from monitor.models import WorkerStats

    row = WorkerStats.objects.filter(pbx_id=pbx_id).values().first() or {}
    names = ("events_applied", "flushes", "resyncs", "reconnects", "event_overflows")
    return {k: int(row.get(k, 0)) for k in names}


def ramp(args, st, pbx_id, probe, clients, procs) -> dict[str, Any]:  # noqa: ANN001
    steps = []
    for rate in [float(r) for r in args.rates.split(",") if r]:
        step = run_step(args, rate, st, pbx_id, probe, clients, procs)
        steps.append(step)
        print(
            f"  {len(clients.specs)} clients, {rate:>4.0f} calls/s:"
            f" {step['events_per_s']:,} events/s,"
            f" p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms, correct {step['correct']}",
            file=sys.stderr,
            flush=True,
        )
        if not step["kept_up"]:
            break
    good = [s for s in steps if s["kept_up"]]
    best = max(good, key=lambda s: s["events_per_s"], default=None)
    fast = [s for s in good if s["p99_ms"] <= 1000 * args.target_p99]
    best_fast = max(fast, key=lambda s: s["events_per_s"], default=None)
    # The issue's mark: the first step of 5,000 events/s or more that kept up.
    at = next((s for s in good if s["events_per_s"] >= 5000), None)
    return {
        "steps": steps,
        "p50_ms_at_5000": at["p50_ms"] if at else None,
        "p99_ms_at_5000": at["p99_ms"] if at else None,
        "events_per_s_at_5000": at["events_per_s"] if at else None,
        "lowest_p99_ms": min((s["p99_ms"] for s in good), default=None),
        "max_events_per_s": best["events_per_s"] if best else 0,
        "p50_ms": best["p50_ms"] if best else None,
        "p99_ms": best["p99_ms"] if best else None,
        "max_events_per_s_p99_target": best_fast["events_per_s"] if best_fast else 0,
        "target_p99_ms": round(1000 * args.target_p99),
        # False: every step kept up, so the ceiling found is the load generator's.
        "limit_reached": len(good) < len(steps),
    }


def run_step(args, rate, st, pbx_id, probe, clients, procs) -> dict[str, Any]:  # noqa: ANN001
    from monitor.sim.scenario import Scenario, ScenarioConfig

    pbx = st.sim.pbx
    config = ScenarioConfig(call_rate=rate * TIME_SCALE, pause_rate=0.0, queues=tuple(probe))
    scenario = st.call(lambda: Scenario(pbx, seed=int(rate), config=config))
    clients.quiet()
    clients.report()  # a fresh start for the per-step figures, at a quiet moment
    before = worker_counters(pbx_id)
    emitted = st.call(lambda: pbx.events_emitted)
    calls = scenario.calls_started

    callers: list[Any] = []  # the probe's caller waiting in its queue

    def send_probe(n: int) -> float:
        at = time.monotonic()
        for ch in callers:
            if not ch.gone:
                pbx.calls.hangup(ch.name)
        number = f"+3199{n % 10**7:07d}"
        callers[:] = [pbx.calls.trunk_call(number, PROBE_QUEUE, name=f"{PROBE}{n}")]
        return at

    sent: list[tuple[int, float]] = []
    n0 = int(time.time() * 10) % 10**8 * 1000  # probe numbers only grow, across steps
    cpu = {name: (pids, sum(map(cpu_seconds, pids))) for name, pids in who(procs, clients)}
    traffic_before = clients.traffic()
    started = time.monotonic()
    st.call(scenario.start)
    while time.monotonic() - started < args.seconds:
        n = n0 + len(sent) + 1
        sent.append((n, st.call(send_probe, n)))
        time.sleep(max(0.0, started + len(sent) * args.probe_every - time.monotonic()))
    # What arrived while the scenario ran, over the same window (not the drain afterwards).
    traffic = [
        (count - count0, size - size0)
        for (count, size), (count0, size0) in zip(clients.traffic(), traffic_before, strict=True)
    ]
    window = time.monotonic() - started
    st.call(scenario.stop)
    st.call(pbx.calls.reset)  # no timer fires any more: the PBX stands still
    busy = {
        name: round(100 * (sum(map(cpu_seconds, pids)) - was) / window)
        for name, (pids, was) in cpu.items()
    }
    emitted = st.call(lambda: pbx.events_emitted) - emitted
    calls = scenario.calls_started - calls
    db_correct = settle(st, pbx_id, 30.0)
    clients.quiet(sent[-1][0] if sent else 0)
    time.sleep(1.1)  # the worker's next stats report
    reports = clients.report()
    after = worker_counters(pbx_id)
    for p in procs:
        p.check()
    for report, (count, size) in zip(reports, traffic, strict=True):
        report["count"], report["bytes"] = count, size
    figures = step_figures(rate, window, sent, reports, clients.specs, emitted, calls)
    counters = {k: after[k] - before[k] for k in after}
    tiles_ok, tiles_checked, tile_errors = check_tiles(pbx_id, reports, clients.specs)
    same = same_messages(reports, clients.specs)
    figures.update(
        events_applied=counters["events_applied"],
        applied_per_s=round(counters["events_applied"] / window),
        flushes=counters["flushes"],
        overflows=counters["event_overflows"],
        reconnects=counters["reconnects"],
        resyncs=counters["resyncs"],
        db_correct=db_correct,
        tiles_checked=tiles_checked,
        tiles_correct=tiles_ok,
        clients_agree=same,
    )
    figures["cpu_percent"] = busy  # of one core, while the scenario ran
    figures["loadavg_1m"] = round(os.getloadavg()[0], 2)
    if tile_errors:
        figures["tile_errors"] = tile_errors[:5]
    figures["correct"] = db_correct and tiles_ok and same
    figures["disconnected"] = sum(not r["connected"] for r in reports)
    if figures["disconnected"]:
        figures["disconnect_errors"] = sorted({r["error"] for r in reports if r["error"]})[:3]
    figures["correct"] = figures["correct"] and not figures["disconnected"]
    figures["kept_up"] = (
        figures["correct"]
        and figures["undelivered"] == 0
        and counters["event_overflows"] == 0
        and counters["reconnects"] == 0
        and figures["p99_ms"] is not None
        and figures["p99_ms"] <= 1000 * args.lag_bound
    )
    reset_pbx(st, pbx_id)
    clients.quiet()
    return figures


def who(procs: list[Proc], clients: Clients) -> list[tuple[str, list[int]]]:
    """The processes whose CPU time a step reports; "bench" is this one: the simulator."""
    return [
        ("bench", [os.getpid()]),
        *((p.name, [p.pid]) for p in procs),
        ("clients", clients.pids()),
    ]


def reset_pbx(st: Any, pbx_id: int) -> None:
    """Hang up every call left from the step, so that the next one starts quiet."""
    pbx = st.sim.pbx

    def hang_up_all() -> None:
        for ch in list(pbx.channels.values()):
            if not ch.gone:
                pbx.calls.hangup(ch.name)
        pbx.calls.reset()

    st.call(hang_up_all)
    settle(st, pbx_id, 30.0)


def probe_lags(report: dict[str, Any], sent: list[tuple[int, float]]) -> tuple[list[float], int]:
    """Seconds from each probe to the client's first message showing it (or a later one), and
    how many probes it never got."""
    lags: list[float] = []
    undelivered = 0
    seen = report["seen"]  # ascending probe numbers
    i = 0
    for n, at in sent:
        while i < len(seen) and seen[i][0] < n:
            i += 1
        if i == len(seen):
            undelivered += 1
        else:
            lags.append(seen[i][1] - at)
    return lags, undelivered


def percentile_ms(lags: list[float], p: float) -> float | None:
    lags = sorted(lags)
    return round(1000 * lags[min(len(lags) - 1, int(p * len(lags)))], 1) if lags else None


def step_figures(rate, window, sent, reports, specs, emitted, calls) -> dict[str, Any]:  # noqa: ANN001
    lags: list[float] = []
    undelivered = 0
    for report in reports:
        got, missed = probe_lags(report, sent)
        report["lags"] = got  # per_kind's too
        lags += got
        undelivered += missed
    lags.sort()

    def pct(p: float) -> float | None:
        return percentile_ms(lags, p)

    return {
        "calls_per_s": rate,
        "calls_per_s_actual": round(calls / window, 1),
        "events_per_s": round(emitted / window),
        "probes": len(sent),
        "samples": len(lags),
        "undelivered": undelivered,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * lags[-1], 1) if lags else None,
        "messages_per_client_s": round(statistics.fmean(r["count"] for r in reports) / window, 1),
        "kb_per_client_s": round(statistics.fmean(r["bytes"] for r in reports) / window / 1e3, 1),
        "per_kind": per_kind(reports, specs, window),
    }


def per_kind(reports, specs, window: float) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    """Messages/s, kB/s and probe latency per client, by the kind of page it stands for."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for report, spec in zip(reports, specs, strict=True):
        by_kind.setdefault(spec["kind"], []).append(report)
    out = {}
    for kind, rs in sorted(by_kind.items()):
        out[kind] = {
            "clients": len(rs),
            "messages_per_s": round(statistics.fmean(r["count"] for r in rs) / window, 1),
            "kb_per_s": round(statistics.fmean(r["bytes"] for r in rs) / window / 1e3, 1),
        }
        lags = [lag for r in rs for lag in r["lags"]]
        out[kind] |= {"p50_ms": percentile_ms(lags, 0.5), "p99_ms": percentile_ms(lags, 0.99)}
        checked = next((r["tile_bytes"] for r in rs if "tile_bytes" in r), None)
        if checked is not None:  # what the bytes were, from the kind's checking client
            out[kind]["kb_per_s_by_tile"] = {
                tile: round(n / window / 1e3, 1) for tile, n in sorted(checked.items())
            }
    return out


def same_messages(reports: list[dict[str, Any]], specs: list[dict[str, Any]]) -> bool:
    """Every client of a kind ends the step with the same tiles (their last versions)."""
    seen: dict[str, set[int]] = {}
    for report, spec in zip(reports, specs, strict=True):
        seen.setdefault(spec["kind"], set()).add(report["picture"])
    return all(len(v) == 1 for v in seen.values())


def check_tiles(pbx_id: int, reports, specs) -> tuple[bool, int, list[str]]:  # noqa: ANN001
    """The checkers' last fragment of each tile against a fresh render of the database."""
    from monitor import broadcast

    fresh = broadcast.render_summary(pbx_id, {"full": True})
    errors: list[str] = []
    checked = 0
    for report, spec in zip(reports, specs, strict=True):
        if "tiles" not in report:
            continue
        html = fresh[group_of(spec, pbx_id)].encode()
        now: dict[str, str] = {}
        for part in TILE_START.split(html):
            m = TILE_ID.match(part)
            if m:
                now[m.group(1).decode()] = part.decode().strip()
        for key, last in report["tiles"].items():
            checked += 1
            if 'hx-swap-oob="delete"' in last:
                ok = key not in now
            else:
                ok = normal(key, last) == normal(key, now.get(key, ""))
            if not ok:
                now_html = now.get(key, "")
                errors.append(f"{spec['kind']} {key}: got {last[:300]!r}, now {now_html[:300]!r}")
    return not errors, checked, errors


def normal(key: str, html: str) -> str:
    return QUEUE_LEVEL.sub("", html) if key.startswith("queue-") else html


# -- the table ----------------------------------------------------------------------------------
COLUMNS = (
    ("clients", 7),
    ("calls/s", 7),
    ("actual", 6),
    ("events/s", 8),
    ("applied/s", 9),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("max ms", 7),
    ("msg/s", 5),
    ("kB/s", 6),
    ("overflow", 8),
    ("tiles", 5),
    ("correct", 7),
    ("CPU % sim/worker/daphne/clients", 31),
)


def print_table(results: dict[str, Any]) -> None:
    print(" ".join(f"{name:>{w}}" for name, w in COLUMNS))
    for key, r in results.items():
        if not key.startswith("clients_"):
            continue
        for s in r["steps"]:
            values = [
                key.split("_")[1],
                f"{s['calls_per_s']:.0f}",
                f"{s['calls_per_s_actual']:.0f}",
                f"{s['events_per_s']:,}",
                f"{s['applied_per_s']:,}",
                s["p50_ms"],
                s["p99_ms"],
                s["max_ms"],
                f"{s['messages_per_client_s']:.1f}",
                f"{s['kb_per_client_s']:.0f}",
                s["overflows"] + s["reconnects"],
                s["tiles_checked"],
                str(s["correct"]),
                "/".join(
                    str(sum(v for k, v in s["cpu_percent"].items() if k.startswith(prefix)))
                    for prefix in ("bench", "amiworker", "daphne", "clients")
                ),
            ]
            print(" ".join(f"{v!s:>{w}}" for v, (_, w) in zip(values, COLUMNS, strict=True)))
    for key, r in results.items():
        if not key.startswith("clients_"):
            continue
        for s in r["steps"]:
            print(
                f"{key.split('_')[1]} clients at {s['calls_per_s']:.0f} calls/s, per client: "
                + "; ".join(
                    f"{kind} ({k['clients']}) {k['kb_per_s']:.1f} kB/s {k['messages_per_s']} msg/s"
                    f" p50 {k['p50_ms']} p99 {k['p99_ms']} ms"
                    for kind, k in s["per_kind"].items()
                )
            )
    for key, r in results.items():
        if key.startswith("clients_"):
            print(
                f"{key.split('_')[1]} clients: p50 {r['p50_ms_at_5000']} ms, p99"
                f" {r['p99_ms_at_5000']} ms at {r['events_per_s_at_5000']} events/s (the first"
                f" step of 5,000 or more); lowest p99 of any step {r['lowest_p99_ms']} ms"
            )
            print(
                f"{key.split('_')[1]} clients: {r['max_events_per_s']:,} events/s kept up"
                f" (p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms); with p99 <="
                f" {r['target_p99_ms']} ms: {r['max_events_per_s_p99_target']:,} events/s"
                + ("" if r["limit_reached"] else " (every step kept up: the ramp's ceiling)")
            )


if __name__ == "__main__":
    main()
