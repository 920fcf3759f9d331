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
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from .actions import NAME_PATTERN

# Defaults for a queue without its own QueueThreshold row.
DEFAULT_WAITING_AMBER = 3
DEFAULT_WAITING_RED = 6
DEFAULT_WAIT_AMBER = 60
DEFAULT_WAIT_RED = 120
DEFAULT_TURN_SECONDS = 15
MIN_TURN_SECONDS, MAX_TURN_SECONDS = 2, 600


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
    sl_seconds = models.PositiveIntegerField(
        "service level seconds",
        default=20,
        validators=[MaxValueValidator(3600)],
        help_text="Calls answered within these seconds of waiting are within it.",
    )
    sl_target = models.PositiveIntegerField(
        "service level target %",
        default=80,
        validators=[MaxValueValidator(100)],
        help_text="The service level the queue aims for (the Today page's chart shows it).",
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
        # What monitor.actions sends, checked when saved: a context it would refuse (a line
        # break, a space) would make every click-to-call fail instead.
        validators=[
            RegexValidator(
                rf"\A(?:{NAME_PATTERN.pattern})\Z",
                "A dialplan context is letters, digits, '_', '.' and '-' (no spaces or line "
                "breaks), starting with a letter or digit.",
            )
        ],
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
    queues = models.CharField(
        max_length=400,
        blank=True,
        help_text="Only these queues and their members' extensions: names, comma-separated "
        "(empty: every queue).",
    )
    groups = models.ManyToManyField(
        "monitor.ExtensionGroup",
        blank=True,
        related_name="+",
        help_text="Only these extension groups' extensions (with the queues' members above).",
    )
    turn_seconds = models.PositiveIntegerField(
        "turn time",
        default=DEFAULT_TURN_SECONDS,
        validators=[MinValueValidator(MIN_TURN_SECONDS), MaxValueValidator(MAX_TURN_SECONDS)],
        help_text="Seconds each page stays on screen when everything does not fit at once.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        "expires",
        null=True,
        blank=True,
        help_text="After this the link shows nothing, as if revoked (empty: never).",
    )

    class Meta:
        ordering = ["name"]

    @classmethod
    def find(cls, token: str) -> KioskLink | None:
        """The active, unexpired link with this token, or None."""
        link = super().find(token)
        if link is None or link.expired():
            return None
        return link

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def __str__(self) -> str:
        return self.name

    def queue_names(self) -> frozenset[str] | None:
        """The queues this screen is limited to; None: every queue."""
        return frozenset(split_names(self.queues)) or None


def split_names(text: str) -> list[str]:
    """``"6500, sales 6501"`` -> ``["6500", "sales", "6501"]``: names as typed in the admin."""
    return [part for part in text.replace(",", " ").split() if part]


class ExtensionGroup(models.Model):
    """A department: named extensions of one PBX, for the wallboard's and a screen's filter.

    Kept by extension *number*, not by Endpoint row, because a resync may delete and recreate
    the mirrored rows; ranges (``1001-1020``) keep a big department one line.
    """

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    extensions = models.TextField(
        help_text="Extension numbers, comma- or space-separated; ranges as 1001-1020."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pbx", "name"], name="extension_group_unique_name")
        ]
        ordering = ["pbx", "name"]

    def __str__(self) -> str:
        return self.name

    def resources(self) -> set[str]:
        """The extension numbers of the group, ranges expanded (at most
        :data:`MAX_RANGE` numbers a range)."""
        return expand_extensions(self.extensions)


MAX_RANGE = 10_000


def expand_extensions(text: str) -> set[str]:
    """``"1001, 1005-1007 2000"`` -> ``{"1001", "1005", "1006", "1007", "2000"}``.

    A range keeps its numbers' width (``0100-0102``); one that is not two numbers, runs
    backwards or spans more than :data:`MAX_RANGE` is taken as the literal text (the admin
    form refuses those, this only never raises)."""
    names: set[str] = set()
    for part in split_names(text):
        low, dash, high = part.partition("-")
        span = int(high) - int(low) if dash and low.isdigit() and high.isdigit() else -1
        if 0 <= span < MAX_RANGE:
            names.update(str(n).zfill(len(low)) for n in range(int(low), int(high) + 1))
        else:
            names.add(part)
    return names


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
