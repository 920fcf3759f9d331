"""Create or reset the demo users ``admin`` and ``supervisor`` and print their passwords.

Idempotent: a second run finds both users and sets new passwords. Passwords are random unless
``FCMDASH_DEMO_PASSWORD`` is set. The groups themselves come from a data migration
(``0003_groups``); the supervisor is put into "Supervisors" here, so that it can act.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

# username -> (is_staff, is_superuser, groups)
DEMO_USERS = {
    "admin": (True, True, ()),
    "supervisor": (False, False, ("Supervisors",)),
}


def demo_user_reset(
    *, username: str, is_staff: bool, is_superuser: bool, groups: tuple[str, ...], password: str
) -> bool:
    """Create ``username`` or bring it back to the demo state. Returns whether it was created."""
    user, created = get_user_model().objects.get_or_create(username=username)
    user.is_active = True
    user.is_staff = is_staff
    user.is_superuser = is_superuser
    user.set_password(password)
    user.save()
    user.groups.set(Group.objects.filter(name__in=groups))
    return created


class Command(BaseCommand):
    help = "Create or reset the demo users admin and supervisor and print their passwords."

    def handle(self, *args, **options) -> None:
        fixed = os.environ.get("FCMDASH_DEMO_PASSWORD", "")
        lines = []
        with transaction.atomic():
            for username, (is_staff, is_superuser, groups) in DEMO_USERS.items():
                password = fixed or secrets.token_urlsafe(12)
                created = demo_user_reset(
                    username=username,
                    is_staff=is_staff,
                    is_superuser=is_superuser,
                    groups=groups,
                    password=password,
                )
                state = "created" if created else "password reset"
                lines.append(f"  {username:<11} {password}   ({state})")
        self.stdout.write("Demo users (a new run of demo_users resets the passwords):")
        self.stdout.write("\n".join(lines))
