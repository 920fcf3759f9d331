"""``Pbx.fence``: the fencing token that keeps a worker that lost its lock from writing."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0009_kiosk_expiry"),
    ]

    operations = [
        migrations.AddField(
            model_name="pbx",
            name="fence",
            field=models.BigIntegerField(
                default=0,
                editable=False,
                help_text="Raised each time a worker takes over.",
                verbose_name="takeovers",
            ),
        ),
    ]
