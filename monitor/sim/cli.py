"""Command line of the simulator, shared by ``python -m monitor.sim`` and ``manage.py pbxsim``.

Options parse into a :class:`PbxSimulator` and, unless ``--no-scenario`` or ``--replay``, a
running :class:`~monitor.sim.scenario.Scenario`. ``serve()`` runs until cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from . import dialects
from .replay import Replay, load
from .scenario import Scenario, ScenarioConfig
from .server import PbxSimulator
from .users import ALL, class_names

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--host",
        default="127.0.0.1",
        help="address(es) to listen on, comma-separated (default 127.0.0.1)",
    )
    add("--port", type=int, default=None, help="AMI TCP port (default 7777)")
    add(
        "--tls-port",
        type=int,
        default=None,
        help="also listen with TLS on this port (FCM630A: 5039)",
    )
    add("--tls", action="store_true", help="TLS on the dialect's default port 5039")
    add("--certfile", default=None, help="TLS certificate (PEM); self-signed if not given")
    add("--keyfile", default=None, help="TLS private key (PEM)")
    add("--dialect", choices=sorted(dialects.DIALECTS), default="asterisk")
    add(
        "--extensions",
        type=int,
        default=None,
        help="generated call centre size (default: the lab PBX)",
    )
    add("--queues", type=int, default=10, help="queues of the generated call centre")
    add("--members-per-queue", type=int, default=8)
    add(
        "--call-rate",
        type=float,
        default=None,
        help="new calls per second (default 0.5; with --day what the agents can carry)",
    )
    add(
        "--day",
        action="store_true",
        help="play a call centre's day (manage.py serve's demo): peaks, breaks, bursts",
    )
    add("--seed", type=int, default=0)
    add(
        "--scenario",
        dest="scenario",
        action="store_true",
        default=True,
        help="run the call centre (default)",
    )
    add(
        "--no-scenario",
        dest="scenario",
        action="store_false",
        help="a quiet PBX, driven only by AMI",
    )
    add(
        "--replay",
        default=None,
        metavar="FILE",
        help="serve a lab transcript's events (a name like c1-... or a path)",
    )
    add("--speed", type=float, default=1.0, help="replay speed factor")
    add(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplies every call timer (0.1 = ten times faster)",
    )
    add(
        "--timestampevents",
        action="store_true",
        help="add Timestamp: to events (manager.conf timestampevents)",
    )
    add(
        "--write-timeout",
        type=int,
        default=100,
        help="ms a session may block writes before it is dropped",
    )
    add(
        "--user",
        action="append",
        default=[],
        metavar="NAME:SECRET[:READ[:WRITE]]",
        help="extra AMI account",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pbxsim", description="Simulated Asterisk / FCM630A PBX (AMI)")
    add_arguments(p)
    return p


def build(options: dict[str, object]) -> PbxSimulator:
    dialect = dialects.get(str(options.get("dialect") or "asterisk"))
    tls_port = options.get("tls_port")
    if tls_port is None and options.get("tls"):
        tls_port = dialect.tls_port
    extensions = options.get("extensions")
    sim = PbxSimulator(
        dialect=dialect,
        host=[h.strip() for h in str(options.get("host") or "127.0.0.1").split(",") if h.strip()],
        port=int(options["port"]) if options.get("port") is not None else dialect.port,  # type: ignore[arg-type]
        tls_port=int(tls_port) if tls_port is not None else None,  # type: ignore[arg-type]
        certfile=options.get("certfile") or None,  # type: ignore[arg-type]
        keyfile=options.get("keyfile") or None,  # type: ignore[arg-type]
        extensions=int(extensions) if extensions is not None else None,  # type: ignore[arg-type]
        queues=int(options.get("queues") or 0),  # type: ignore[arg-type]
        members_per_queue=int(options.get("members_per_queue") or 0),  # type: ignore[arg-type]
        seed=int(options.get("seed") or 0),  # type: ignore[arg-type]
        timestampevents=bool(options.get("timestampevents")),
        write_timeout=int(options.get("write_timeout") or 100) / 1000,  # type: ignore[arg-type]
        time_scale=float(options.get("time_scale") or 1.0),  # type: ignore[arg-type]
    )
    for spec in options.get("user") or []:  # type: ignore[union-attr]
        name, secret, *classes = str(spec).split(":")
        sim.add_user(name, secret, *(classes + ["all", "all"])[:2])
    return sim


async def serve(options: dict[str, object], *, out: Callable[[str], None] = print) -> None:
    sim = build(options)
    await sim.start()
    replay_file = options.get("replay")
    tasks = []
    try:
        where = ", ".join(sim.hosts)
        out(f"pbxsim ({sim.dialect.name}, banner {sim.dialect.banner}) on {where} port {sim.port}"
            + (f", TLS port {sim.tls_port}" if sim.tls_port else ""))  # fmt: skip
        for user in sim.users.values():
            rights = f"read {_classes(user.read)}; write {_classes(user.write)}"
            out(f"  login {user.username} / {user.secret}  ({rights})")
        if replay_file:
            speed = float(options.get("speed") or 1.0)  # type: ignore[arg-type]
            replay = Replay(sim, load(str(replay_file)), speed=speed)
            count = len(replay.items)
            out(f"replaying {replay.transcript.name}: {count} packets at x{replay.speed:g}")
            tasks.append(asyncio.ensure_future(replay.run()))
        elif options.get("scenario", True):
            cfg = scenario_config(sim, options)
            sim.scenario = Scenario(sim.pbx, seed=int(options.get("seed") or 0), config=cfg)  # type: ignore[arg-type]
            sim.scenario.start()
            out(f"call centre running: {cfg.call_rate:g} calls/s, seed {options.get('seed') or 0}")
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        await sim.stop()


def scenario_config(sim: PbxSimulator, options: dict[str, object]) -> ScenarioConfig:
    """``--day``: the demo's day on ``sim`` (its rate sized by the agents unless given);
    otherwise a flat ``--call-rate`` (0.5 calls/s)."""
    rate = options.get("call_rate")
    call_rate = None if rate is None else float(rate)  # type: ignore[arg-type]
    if options.get("day"):
        return ScenarioConfig.day(sim.pbx, call_rate=call_rate)
    return ScenarioConfig(call_rate=0.5 if call_rate is None else call_rate)


def _classes(mask: int) -> str:
    return "all" if mask == ALL else class_names(mask)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    options = vars(parser().parse_args(argv))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options))
    return 0
