"""``manage.py serve``: the embedded mode of ``make run`` — web server, AMI worker and (unless
``FCMDASH_AMI_URL`` names a real PBX) the simulated PBX, all in this one process.

With the manifest static files storage (a PostgreSQL ``DATABASE_URL``) it runs
``collectstatic`` first, so that ``make run`` works in that mode too.

Daphne runs Twisted on an asyncio event loop, so the worker pool and the simulator are plain
asyncio tasks on that same loop; the in-memory channel layer is enough because the pages, the
worker and the actions all live in this process. Ctrl-C stops the web server, logs off the PBX
and stops the simulator.
"""

from __future__ import annotations

# Daphne must install its asyncio reactor before anything else imports Twisted.
import daphne.server  # noqa: F401  # isort:skip

import argparse
import asyncio
import logging
import os

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from monitor.ami.config import AmiConfig, parse_ami_url
from monitor.models import Pbx
from monitor.runner import WorkerPool
from monitor.sim.day import team_size

log = logging.getLogger(__name__)

SIM_NAME = "Simulator"
# A call centre big enough to look like one on the wallboard.
SIM_EXTENSIONS, SIM_QUEUES, SIM_SEED = 24, 3, 7


class Command(BaseCommand):
    help = (
        "Run web server + AMI worker (+ PBX simulator) in one process: the embedded mode. "
        "Without FCMDASH_AMI_URL the simulated call centre runs a day of calls (peaks, breaks, "
        "abandons, now and then a burst of calls on one queue) at a load its agents can carry; "
        "--extensions/--queues/--members-per-queue size it for trying the TV layouts, e.g. "
        "'--extensions 300 --queues 12' or '--extensions 1000 --queues 20'."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--sim-port", type=int, default=0, help="simulator AMI port (0: any)")
        parser.add_argument("--dialect", default="asterisk", choices=["asterisk", "fcm630a"])
        sim = parser.add_argument_group("simulated call centre (when FCMDASH_AMI_URL is unset)")
        sim.add_argument(
            "--extensions", type=_positive, default=SIM_EXTENSIONS, help="phones (default 24)"
        )
        sim.add_argument("--queues", type=_count, default=SIM_QUEUES, help="queues (default 3)")
        sim.add_argument(
            "--members-per-queue",
            type=_count,
            default=None,
            help="agents in each queue (default: three quarters of the extensions, dealt out "
            "over the queues: 6 for the default size, 18 for 300/12, 37 for 1000/20)",
        )
        sim.add_argument(
            "--call-rate",
            type=float,
            default=None,
            help="calls/s over the simulated day (default: what the agents can carry, so it "
            "grows with the size: about 0.15 for the default size, 2 for 300/12)",
        )
        sim.add_argument(
            "--day-length",
            type=float,
            default=1800.0,
            help="seconds one simulated day of peaks and quiet hours lasts (default 1800)",
        )
        sim.add_argument("--seed", type=int, default=SIM_SEED, help="the call centre's seed")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        from daphne.server import Server
        from twisted.internet import defer, reactor

        # Before the application loads: WhiteNoise indexes STATIC_ROOT once, when it starts.
        collect_static_for_the_manifest()
        from fcmdash.asgi import application

        url = settings.FCMDASH_AMI_URL
        config = parse_ami_url(url) if url else None
        host, port = options["host"], options["port"]
        background = _Background(config, options, self.stdout.write)

        def start() -> None:
            background.task = asyncio.ensure_future(background.run())

        def stop() -> defer.Deferred:
            return defer.Deferred.fromFuture(asyncio.ensure_future(background.stop()))

        reactor.callWhenRunning(start)
        reactor.addSystemEventTrigger("before", "shutdown", stop)
        where = f"[{host}]" if ":" in host else host
        self.stdout.write(f"fcmdash: http://{where}:{port}/  (Ctrl-C stops everything)")
        server = Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={host.replace(':', chr(92) + ':')}"],
            signal_handlers=True,
            action_logger=None,
            ready_callable=None,
        )
        try:
            server.run()
        except OSError as exc:
            raise CommandError(f"cannot serve on {where}:{port}: {exc}") from exc
        if background.error:
            raise CommandError(background.error)


def collect_static_for_the_manifest() -> None:
    """Run ``collectstatic`` when the static files storage names files from its manifest.

    That storage is in use with a PostgreSQL ``DATABASE_URL``: a page then names each static
    file by the hashed name collectstatic wrote, and without the manifest (a fresh
    ``FCMDASH_VAR_DIR``) or with a stale one every page is a 500. Unchanged files are not
    copied again, so a start with nothing new is quick.
    """
    if isinstance(staticfiles_storage, ManifestFilesMixin):
        call_command("collectstatic", interactive=False, verbosity=0)


class _Background:
    """The simulator and the worker pool, on Daphne's event loop."""

    def __init__(self, config: AmiConfig | None, options: dict, out) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self.options = options
        self.out = out
        self.sim = None
        self.pool: WorkerPool | None = None
        self.task: asyncio.Future | None = None
        self.error = ""

    async def run(self) -> None:
        try:
            if self.config is None:
                await self._start_simulator()
            else:
                await sync_to_async(_use_real_pbx)(self.config)
                self.out(f"fcmdash: PBX {self.config.address} as {self.config.username}")
            self.pool = WorkerPool(poll=2.0)
            await self.pool.run()
        except Exception as exc:  # shown once, then the server stops: nothing half-running
            log.exception("serve: background tasks failed")
            self.error = f"background tasks failed: {exc}"
            from twisted.internet import reactor

            reactor.stop()

    async def _start_simulator(self) -> None:
        from monitor.sim.scenario import Scenario, ScenarioConfig
        from monitor.sim.server import PbxSimulator

        size = sim_size(self.options)
        sim = PbxSimulator(port=self.options["sim_port"], dialect=self.options["dialect"], **size)
        await sim.start()
        self.sim = sim
        config = ScenarioConfig.day(
            sim.pbx, call_rate=self.options["call_rate"], day_length=self.options["day_length"]
        )
        sim.scenario = Scenario(sim.pbx, seed=size["seed"], config=config)
        sim.scenario.start()
        await sync_to_async(_use_simulator)(sim.port)
        self.out(
            f"fcmdash: simulated PBX ({sim.dialect.name}) on 127.0.0.1:{sim.port}, "
            f"{size['extensions']} extensions, {size['queues']} queues of "
            f"{size['members_per_queue']} agents, {config.call_rate:.2f} calls/s "
            "(set FCMDASH_AMI_URL to use a real PBX)"
        )

    async def stop(self) -> None:
        if self.pool is not None:
            self.pool.stop()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 5.0)
            except Exception:
                self.task.cancel()
        if self.sim is not None:
            if self.sim.scenario is not None:
                await self.sim.scenario.stop()
            await self.sim.stop()


def sim_size(options: dict) -> dict[str, int]:
    """The simulator's size from the command's options (members: :func:`team_size`)."""
    extensions, queues = options["extensions"], options["queues"]
    members = options["members_per_queue"]
    if members is None:
        members = team_size(extensions, queues)
    return {
        "extensions": extensions,
        "queues": queues,
        "members_per_queue": members,
        "seed": options["seed"],
    }


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError("a call centre needs at least 2 extensions")
    return value


def _use_simulator(port: int) -> None:
    pbx = Pbx.objects.filter(name=SIM_NAME).first() or Pbx(name=SIM_NAME)
    pbx.host, pbx.port, pbx.tls, pbx.username = "127.0.0.1", port, Pbx.Tls.OFF, "admin123"
    pbx.enabled = True
    pbx.set_secret("admin123")
    pbx.save()


def _use_real_pbx(config: AmiConfig) -> None:
    # The simulator of an earlier run is gone: its row must not send the worker looking for it.
    Pbx.objects.filter(name=SIM_NAME).update(enabled=False, connected=False)
    name = os.environ.get("FCMDASH_PBX_NAME") or config.host
    pbx = Pbx.objects.filter(name=name).first() or Pbx(name=name)
    pbx.host, pbx.port, pbx.username = config.host, config.port, config.username
    pbx.tls = config.tls
    pbx.tls_fingerprint = config.fingerprint or ""
    pbx.tls_server_name = config.server_name or ""
    if config.ca_file:
        with open(config.ca_file, encoding="ascii") as f:
            pbx.tls_ca = f.read()
    pbx.auth = config.auth
    pbx.enabled = True
    pbx.set_secret(config.secret)
    pbx.save()
