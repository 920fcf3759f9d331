"""``manage.py amiworker``: mirror every enabled PBX until stopped (SIGINT / SIGTERM).

Run one per deployment; a second one stands by and takes over a PBX whose worker dies.
"""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from monitor.runner import WorkerPool
from monitor.worker import FLUSH_INTERVAL


class Command(BaseCommand):
    help = "Keep an AMI session with every enabled PBX and mirror it into the database."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--poll", type=float, default=2.0, help="seconds between config checks")
        parser.add_argument("--flush-interval", type=float, default=FLUSH_INTERVAL)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        asyncio.run(self._main(options["poll"], options["flush_interval"]))

    async def _main(self, poll: float, flush_interval: float) -> None:
        pool = WorkerPool(poll=poll, flush_interval=flush_interval)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, pool.stop)
        self.stdout.write("amiworker: running (Ctrl-C to stop)")
        await pool.run()
        self.stdout.write("amiworker: stopped")
