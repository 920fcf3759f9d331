"""WorkerStats: the AMI worker's counters and heartbeat, read by /metrics and /healthz."""

from __future__ import annotations

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0003_groups"),
    ]

    operations = [
        migrations.CreateModel(
            name="WorkerStats",
            fields=[
                (
                    "pbx",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="worker_stats",
                        serialize=False,
                        to="monitor.pbx",
                    ),
                ),
                ("events_applied", models.BigIntegerField(default=0)),
                ("flushes", models.BigIntegerField(default=0)),
                ("resyncs", models.BigIntegerField(default=0)),
                ("reconnects", models.BigIntegerField(default=0)),
                ("event_overflows", models.BigIntegerField(default=0)),
                ("events_per_second", models.FloatField(default=0.0)),
                (
                    "flush_lag",
                    models.FloatField(
                        default=0.0, help_text="Seconds a change waited to be written."
                    ),
                ),
                (
                    "event_queue",
                    models.PositiveIntegerField(default=0, help_text="Events not yet applied."),
                ),
                ("worker", models.CharField(blank=True, max_length=100)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "worker statistics",
                "verbose_name_plural": "worker statistics",
            },
        ),
    ]
