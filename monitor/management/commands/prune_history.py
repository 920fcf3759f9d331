"""``manage.py prune_history``: delete the history older than the days kept
(``ReportSettings.keep_days``, the admin's "Report settings") and say what went; the worker
pool does the same once a day."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from monitor.history.prune import describe, history_prune


class Command(BaseCommand):
    help = "Delete recorded calls, agent spans, missed rings and gaps older than the days kept."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        self.stdout.write(describe(history_prune(now=timezone.now())))
