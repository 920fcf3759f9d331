"""``manage.py rotate_secrets``: re-encrypt every stored AMI secret with the first key of
FCMDASH_ENCRYPTION_KEYS, so that the older keys can then be removed.

All or nothing: one transaction, and a secret no configured key can read stops the command
before anything is written.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from monitor import crypto
from monitor.models import Pbx


class Command(BaseCommand):
    help = "Re-encrypt the stored AMI secrets with the first key of FCMDASH_ENCRYPTION_KEYS."

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        done = 0
        with transaction.atomic():
            for pbx in Pbx.objects.select_for_update().exclude(secret_encrypted=""):
                try:
                    pbx.secret_encrypted = crypto.rotate(pbx.secret_encrypted)
                except Exception as exc:
                    raise CommandError(
                        f"PBX {pbx.name}: the secret cannot be read with the configured keys "
                        "(nothing was changed)"
                    ) from exc
                pbx.save(update_fields=["secret_encrypted"])
                done += 1
        self.stdout.write(f"re-encrypted {done} secret{'s' if done != 1 else ''}")
