"""``manage.py pbxsim``: run the simulated PBX (the demo's and the benchmarks' AMI server).

A thin wrapper: the options and the server live in :mod:`monitor.sim.cli`, which also runs
without Django as ``python -m monitor.sim``.
"""

from __future__ import annotations

import asyncio
import contextlib

from django.core.management.base import BaseCommand

from monitor.sim import cli


class Command(BaseCommand):
    help = "Run the simulated Asterisk / FCM630A PBX (AMI on 127.0.0.1:7777 by default)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001 - Django's CommandParser
        cli.add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(cli.serve(options, out=self.stdout.write))
