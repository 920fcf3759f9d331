"""Calls as conversations: the queue a channel's call came through, when it was answered and
how long it waited; channels looked up by linkedid (a conversation's row)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0004_worker_stats"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="answered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="call",
            name="queue",
            field=models.CharField(
                blank=True, help_text="The queue it came through.", max_length=80
            ),
        ),
        migrations.AddField(
            model_name="call",
            name="waited",
            field=models.PositiveIntegerField(
                blank=True, help_text="Seconds it waited before it was answered.", null=True
            ),
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["pbx", "linkedid"], name="call_conversation"),
        ),
    ]
