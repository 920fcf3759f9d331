"""``manage.py amicheck [URL]``: can fcmdash work with this PBX and this AMI user?

Exit 0 when the login works and the actions the dashboard needs to mirror state are allowed;
otherwise non-zero with a one-line reason. ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os

from django.core.management.base import BaseCommand, CommandError

from monitor.ami.capabilities import Report, probe
from monitor.ami.client import AmiConnection
from monitor.ami.config import parse_ami_url
from monitor.ami.errors import AmiError

# Without these the wallboard cannot be filled (either endpoint source is enough).
ENDPOINT_SOURCES = ("PJSIPShowEndpoints", "DeviceStateList")
QUEUE_SOURCES = ("QueueStatus", "Queues")


class Command(BaseCommand):
    help = "Connect to a PBX's AMI, log in, and report which dashboard actions the user may run."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "url",
            nargs="?",
            help="ami://user:secret@host:7777 or amis://user:secret@host:5039 "
            "(default: $FCMDASH_AMI_URL)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--timeout", type=float, default=10.0)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        url = options["url"] or os.environ.get("FCMDASH_AMI_URL")
        if not url:
            raise CommandError(
                "give an AMI URL (ami://user:secret@host:7777) or set FCMDASH_AMI_URL"
            )
        try:
            config = parse_ami_url(url, connect_timeout=options["timeout"])
        except ValueError as exc:
            raise CommandError(f"bad AMI URL: {exc}") from exc
        try:
            report = asyncio.run(self._check(config, options["timeout"]))
        except AmiError as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"ok": False, "error": str(exc)}))
            raise CommandError(str(exc)) from exc
        problem = self._problem(report)
        if options["json"]:
            self.stdout.write(
                json.dumps({"ok": problem is None, **report.as_dict(), "error": problem})
            )
        else:
            self._print(config.address, config.username, report)
        if problem:
            raise CommandError(problem)

    async def _check(self, config, timeout: float) -> Report:  # type: ignore[no-untyped-def]
        conn = await AmiConnection.open(config.with_(events=False), keep_events=())
        try:
            return await probe(conn, timeout=timeout)
        finally:
            await conn.close()

    @staticmethod
    def _problem(report: Report) -> str | None:
        allowed = report.allowed
        if not any(allowed.get(a) for a in ENDPOINT_SOURCES):
            return "missing privilege: " + report.capabilities["DeviceStateList"].detail
        if not any(allowed.get(a) for a in QUEUE_SOURCES):
            return "missing privilege: " + report.capabilities["QueueStatus"].detail
        return None

    def _print(self, address: str, user: str, report: Report) -> None:
        w = self.stdout.write
        w(f"PBX        {address}")
        w(f"AMI user   {user}")
        w(f"banner     {report.banner}  (AMI version {report.version or '?'})")
        w(f"endpoints  {report.endpoints if report.endpoints is not None else 'unknown'}")
        w(f"queues     {report.queues if report.queues is not None else 'unknown'}")
        w("actions:")
        for name, cap in report.capabilities.items():
            mark = self.style.SUCCESS("allowed") if cap.allowed else self.style.WARNING("denied ")
            w(f"  {mark}  {name:<20} {cap.detail}")
