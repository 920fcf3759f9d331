"""``manage.py apitoken NAME``: make a read-only API token and print it once.

Only its SHA-256 hash is stored; a lost token is revoked (``--revoke NAME``) and made anew.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitor.web_models import ApiToken


class Command(BaseCommand):
    help = "Create a read-only API token for GET /api/v1/state and print it (only this once)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("name", help="what the token is for, e.g. 'reporting script'")
        parser.add_argument("--revoke", action="store_true", help="revoke the token NAME instead")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        name = options["name"]
        if options["revoke"]:
            if not ApiToken.objects.filter(name=name, revoked_at=None).update(
                revoked_at=timezone.now()
            ):
                raise CommandError(f"no active API token named {name!r}")
            self.stdout.write(f"revoked {name}")
            return
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"an API token named {name!r} exists already")
        token = ApiToken(name=name)
        secret = token.issue()
        token.save()
        self.stdout.write(secret)
