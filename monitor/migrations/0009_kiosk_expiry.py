"""Kiosk links may expire: after ``expires_at`` a link is a 404 and its socket is refused."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0008_long_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="kiosklink",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                help_text="After this the link shows nothing, as if revoked (empty: never).",
                null=True,
                verbose_name="expires",
            ),
        ),
    ]
