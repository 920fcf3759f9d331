"""Checked at save: a PBX port is 1-65535, a click-to-call context a name the PBX accepts."""

from __future__ import annotations

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0006_screens"),
    ]

    operations = [
        migrations.AlterField(
            model_name="originatesettings",
            name="context",
            field=models.CharField(
                default="from-internal",
                help_text="Dialplan context the dialled number runs in (FCM630A: from-internal).",
                max_length=80,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A(?:[A-Za-z0-9][A-Za-z0-9_.\\-]{0,79})\\Z",
                        "A dialplan context is letters, digits, '_', '.' and '-' (no spaces or"
                        " line breaks), starting with a letter or digit.",
                    )
                ],
            ),
        ),
        migrations.AlterField(
            model_name="pbx",
            name="port",
            field=models.PositiveIntegerField(
                default=7777,
                help_text="FCM630A: 7777, or 5039 for TLS.",
                validators=[
                    django.core.validators.MinValueValidator(
                        1, "A port is a number from 1 to 65535 (FCM630A: 7777, or 5039 for TLS)."
                    ),
                    django.core.validators.MaxValueValidator(
                        65535,
                        "A port is a number from 1 to 65535 (FCM630A: 7777, or 5039 for TLS).",
                    ),
                ],
            ),
        ),
    ]
