"""Models of the web side: who may act, what they did, and the links and tokens that read.

Imported at the end of ``monitor/models.py`` (below ``# --- web models ---``), so Django finds
them in the ``monitor`` app. Nothing here is written by the AMI worker.

Tokens (kiosk links, API tokens) are stored as SHA-256 hashes only: the clear token is shown
once when it is made, and a copy of the database is not a key to the wallboard.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

# Defaults for a queue without its own QueueThreshold row.
DEFAULT_WAITING_AMBER = 3
DEFAULT_WAITING_RED = 6
DEFAULT_WAIT_AMBER = 60
DEFAULT_WAIT_RED = 120


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AuditEntry(models.Model):
    """One supervisor action (hang up, originate, pause) and the PBX's answer to it.

    Also the holder of the dashboard's own permissions, so that they exist once per app and
    the groups' data migration can name them.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, help_text="Kept when the user is deleted.")
    pbx = models.ForeignKey("monitor.Pbx", null=True, on_delete=models.SET_NULL, related_name="+")
    pbx_name = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16)
    params = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(default=False)
    answer = models.TextField(blank=True, help_text="The PBX's answer, or why nothing was sent.")

    class Meta:
        ordering = ["-at"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["user", "at"], name="audit_user_at")]
        permissions = [
            ("view_wallboard", "Can view the wallboard, queues, extensions and calls"),
            ("hangup", "Can hang up calls"),
            ("originate", "Can originate calls (click-to-call)"),
            ("pause_member", "Can pause and unpause queue members"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.kind}"


class QueueThreshold(models.Model):
    """When a queue card turns amber or red. Keyed by PBX and queue *name*, not by the Queue
    row, because a resync may delete and recreate the mirrored rows."""

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    queue_name = models.CharField(max_length=80)
    waiting_amber = models.PositiveIntegerField(
        default=DEFAULT_WAITING_AMBER, help_text="Amber when more callers than this wait."
    )
    waiting_red = models.PositiveIntegerField(
        default=DEFAULT_WAITING_RED, help_text="Red when more callers than this wait."
    )
    wait_amber = models.PositiveIntegerField(
        default=DEFAULT_WAIT_AMBER, help_text="Amber when the longest wait exceeds these seconds."
    )
    wait_red = models.PositiveIntegerField(
        default=DEFAULT_WAIT_RED, help_text="Red when the longest wait exceeds these seconds."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pbx", "queue_name"], name="threshold_unique_queue")
        ]
        ordering = ["pbx", "queue_name"]

    def __str__(self) -> str:
        return f"{self.queue_name} thresholds"


class OriginateSettings(models.Model):
    """How click-to-call dials on one PBX (the dialplan context the number is dialled in)."""

    pbx = models.OneToOneField(
        "monitor.Pbx", on_delete=models.CASCADE, primary_key=True, related_name="originate"
    )
    context = models.CharField(
        max_length=80,
        default="from-internal",
        help_text="Dialplan context the dialled number runs in (FCM630A: from-internal).",
    )
    timeout = models.PositiveIntegerField(
        default=30, help_text="Seconds the calling extension rings before giving up."
    )

    class Meta:
        verbose_name = "click-to-call settings"
        verbose_name_plural = "click-to-call settings"

    def __str__(self) -> str:
        return f"click-to-call on {self.pbx_id}"


class SecretToken:
    """What a row standing for a secret token (its ``token_hash``, ``revoked_at`` and
    ``last_used_at`` fields) does: issue the token, find a row by it, note its use."""

    token_prefix = ""
    objects: Any

    def issue(self) -> str:
        """Give the row a new token and return it (only its hash is kept)."""
        token = new_token(self.token_prefix)
        self.token_hash = token_hash(token)
        return token

    @classmethod
    def find(cls, token: str) -> Any:
        """The active row with this token, or None (revoked or unknown)."""
        return cls.objects.filter(token_hash=token_hash(token), revoked_at=None).first()

    def touch(self) -> None:
        """Note a use, at most once a minute: a TV reloading or a scraper polling often must
        not write to the database each time."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > timedelta(minutes=1):
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)


class KioskLink(SecretToken, models.Model):
    """A read-only link to the kiosk wallboard for a TV: no login, no actions, revocable."""

    token_prefix = "kiosk"

    name = models.CharField(max_length=80, help_text="Where the screen is, e.g. 'Hall TV'.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    pbx = models.ForeignKey(
        "monitor.Pbx",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only this PBX (empty: all).",
    )
    queue = models.CharField(max_length=80, blank=True, help_text="Only this queue (name).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiToken(SecretToken, models.Model):
    """A read-only bearer token for ``GET /api/v1/state`` and ``/metrics``."""

    token_prefix = "fcm"

    name = models.CharField(max_length=80, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def check_request(cls, request: HttpRequest) -> bool | None:
        """None when ``request`` carries no bearer token; else whether it is an active one
        (its use noted)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        found = cls.find(token.strip())
        if found is not None:
            found.touch()
        return found is not None
