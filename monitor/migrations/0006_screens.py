"""Screen layouts: a kiosk link's queues (several), extension groups and turn time; extension
groups (departments)."""

from __future__ import annotations

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0005_call_conversation"),
    ]

    operations = [
        # Renamed, then widened: a link limited to one queue keeps it as its only one.
        migrations.RenameField(model_name="kiosklink", old_name="queue", new_name="queues"),
        migrations.AlterField(
            model_name="kiosklink",
            name="queues",
            field=models.CharField(
                blank=True,
                help_text="Only these queues and their members' extensions: names, "
                "comma-separated (empty: every queue).",
                max_length=400,
            ),
        ),
        migrations.AddField(
            model_name="kiosklink",
            name="turn_seconds",
            field=models.PositiveIntegerField(
                default=15,
                help_text="Seconds each page stays on screen when everything does not fit at once.",
                validators=[
                    django.core.validators.MinValueValidator(2),
                    django.core.validators.MaxValueValidator(600),
                ],
                verbose_name="turn time",
            ),
        ),
        migrations.CreateModel(
            name="ExtensionGroup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=80)),
                (
                    "extensions",
                    models.TextField(
                        help_text="Extension numbers, comma- or space-separated; "
                        "ranges as 1001-1020."
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
                "ordering": ["pbx", "name"],
            },
        ),
        migrations.AddField(
            model_name="kiosklink",
            name="groups",
            field=models.ManyToManyField(
                blank=True,
                help_text="Only these extension groups' extensions "
                "(with the queues' members above).",
                related_name="+",
                to="monitor.extensiongroup",
            ),
        ),
        migrations.AddConstraint(
            model_name="extensiongroup",
            constraint=models.UniqueConstraint(
                fields=("pbx", "name"), name="extension_group_unique_name"
            ),
        ),
    ]
