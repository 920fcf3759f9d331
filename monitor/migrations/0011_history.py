"""History (issue 12): queue calls, agents' states, missed rings and gaps recorded by fcmdash;
how days are counted; each queue's service-level seconds and target; ``Pbx.recorded_until``."""

from __future__ import annotations

import datetime

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import monitor.history_models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0010_pbx_fence"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReportSettings",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "day_starts",
                    models.TimeField(
                        default=datetime.time(0, 0),
                        help_text="When a day starts, e.g. 06:00 for a 24-hour centre.",
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default="UTC",
                        help_text="The time zone days are counted in, e.g. Europe/Berlin.",
                        max_length=64,
                        validators=[monitor.history_models.valid_time_zone],
                    ),
                ),
                (
                    "short_abandon_seconds",
                    models.PositiveIntegerField(
                        default=5,
                        help_text="Abandons within these seconds are short ones (not in the SL).",
                        validators=[django.core.validators.MaxValueValidator(3600)],
                    ),
                ),
                (
                    "keep_days",
                    models.PositiveIntegerField(
                        default=90,
                        help_text="Days of history kept; older records are pruned daily.",
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(3660),
                        ],
                    ),
                ),
            ],
            options={
                "verbose_name": "report settings",
                "verbose_name_plural": "report settings",
            },
        ),
        migrations.AddField(
            model_name="pbx",
            name="recorded_until",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="The worker's last write while its AMI session was up (history's gaps).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="queuethreshold",
            name="sl_seconds",
            field=models.PositiveIntegerField(
                default=20,
                help_text="Calls answered within these seconds of waiting are within it.",
                validators=[django.core.validators.MaxValueValidator(3600)],
                verbose_name="service level seconds",
            ),
        ),
        migrations.AddField(
            model_name="queuethreshold",
            name="sl_target",
            field=models.PositiveIntegerField(
                default=80,
                help_text="The service level the queue aims for (the Today page's chart shows it).",
                validators=[django.core.validators.MaxValueValidator(100)],
                verbose_name="service level target %",
            ),
        ),
        migrations.CreateModel(
            name="AgentMiss",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("queue", models.TextField()),
                ("interface", models.TextField()),
                ("name", models.CharField(blank=True, max_length=200)),
                ("uniqueid", models.TextField(help_text="The caller's Uniqueid.")),
                ("at", models.DateTimeField()),
                ("ring_ms", models.PositiveIntegerField(default=0)),
                (
                    "pbx",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitor.pbx",
                    ),
                ),
            ],
            options={
                "ordering": ["at"],
                "indexes": [models.Index(fields=["pbx", "at"], name="agentmiss_pbx_at")],
            },
        ),
        migrations.CreateModel(
            name="AgentSpan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("queue", models.TextField()),
                ("interface", models.TextField()),
                ("name", models.CharField(blank=True, max_length=200)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("available", "available"),
                            ("ringing", "ringing"),
                            ("in_call", "in a call"),
                            ("paused", "paused"),
                            ("unavailable", "unavailable"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "reason",
                    models.CharField(blank=True, help_text="The pause reason.", max_length=200),
                ),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "pbx",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitor.pbx",
                    ),
                ),
            ],
            options={
                "ordering": ["started_at"],
                "indexes": [
                    models.Index(fields=["pbx", "started_at"], name="agentspan_pbx_started"),
                    models.Index(fields=["pbx", "ended_at"], name="agentspan_pbx_ended"),
                ],
            },
        ),
        migrations.CreateModel(
            name="QueueCallRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("queue", models.TextField()),
                (
                    "uniqueid",
                    models.TextField(
                        help_text="The caller channel's Uniqueid (queue_log's callid)."
                    ),
                ),
                ("linkedid", models.TextField(blank=True)),
                ("caller_num", models.CharField(blank=True, max_length=200)),
                ("caller_name", models.CharField(blank=True, max_length=200)),
                ("entered_at", models.DateTimeField()),
                (
                    "position",
                    models.PositiveIntegerField(default=0, help_text="Position on entering."),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("waiting", "waiting"),
                            ("answered", "answered"),
                            ("abandoned", "abandoned"),
                            ("timeout", "timed out"),
                            ("exitempty", "exit empty"),
                            ("exitkey", "exit with key"),
                            ("other", "left otherwise"),
                            ("incomplete", "incomplete"),
                        ],
                        default="waiting",
                        max_length=12,
                    ),
                ),
                ("wait_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("talk_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                (
                    "ended_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Left the queue unanswered, or the answered call ended.",
                        null=True,
                    ),
                ),
                (
                    "agent",
                    models.TextField(blank=True, help_text="Member interface that answered."),
                ),
                ("agent_name", models.CharField(blank=True, max_length=200)),
                (
                    "completed_by",
                    models.CharField(blank=True, help_text="agent / caller", max_length=8),
                ),
                (
                    "partial",
                    models.BooleanField(
                        default=False,
                        help_text="Part of it fell in a gap; completed from a resync.",
                    ),
                ),
                (
                    "pbx",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitor.pbx",
                    ),
                ),
            ],
            options={
                "ordering": ["entered_at"],
                "indexes": [
                    models.Index(fields=["pbx", "entered_at"], name="queuecall_pbx_entered")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("pbx", "queue", "uniqueid"), name="queuecall_unique_stay"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="RecordGap",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("reason", models.CharField(blank=True, max_length=200)),
                (
                    "pbx",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="monitor.pbx",
                    ),
                ),
            ],
            options={
                "ordering": ["started_at"],
                "indexes": [
                    models.Index(fields=["pbx", "started_at"], name="recordgap_pbx_started")
                ],
            },
        ),
    ]
