"""The mirror of each PBX, and the PBX connections themselves.

Rows of Endpoint, Queue, QueueMember, QueueCaller and Call are written only by the AMI worker
(``monitor/mirror.py``); they are what the PBX reported, as of ``Pbx.synced_at``. While a PBX is
unreachable its rows stay, and ``Pbx.stale_since`` says since when they may be wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from . import crypto
from .ami.config import MAX_PORT, AmiConfig


class DeviceState(models.TextChoices):
    """One vocabulary for AMI's three spellings (``NOT_INUSE``, ``Not in use``, ``1``)."""

    NOT_INUSE = "not_inuse", "Not in use"
    INUSE = "inuse", "In use"
    BUSY = "busy", "Busy"
    RINGING = "ringing", "Ringing"
    RINGINUSE = "ringinuse", "Ringing while in use"
    ONHOLD = "onhold", "On hold"
    UNAVAILABLE = "unavailable", "Unavailable"
    INVALID = "invalid", "Invalid"
    UNKNOWN = "unknown", "Unknown"


PORT_RANGE = f"A port is a number from 1 to {MAX_PORT} (FCM630A: 7777, or 5039 for TLS)."
LOGIN_FAILED = (
    "AMI login failed: wrong user or secret, or this address is not in the user's Permitted"
    " IP(s) on the PBX"
)
# (text in ``Pbx.last_error``, what the pages say), first match wins.
ERROR_KINDS = [
    ("not an ami server", "not an AMI server"),
    ("refused the connection", "the PBX refused the connection"),
    ("login", LOGIN_FAILED),
    ("md5 challenge", LOGIN_FAILED),
    ("does not verify", "the PBX's TLS certificate does not verify"),
    ("not the pinned one", "the PBX's TLS certificate is not the pinned one"),
    ("tls", "TLS failed"),
    ("no answer", "no answer from the PBX"),
    ("no pong", "no answer from the PBX"),
    ("no ami banner", "no answer from the PBX"),
    ("fcmdash worker stopped", "fcmdash worker stopped"),
    ("lost", "connection lost"),
    ("closed the connection", "connection lost"),
]


class Pbx(models.Model):
    """A PBX the worker keeps an AMI session with, and that session's live status."""

    class Tls(models.TextChoices):
        OFF = "off", "Off (plain TCP)"
        VERIFY = "verify", "Verify the certificate (CA below, or the system's CAs)"
        PIN = "pin", "Pin the certificate's SHA-256 fingerprint"
        INSECURE = "insecure", "Encrypt without checking the certificate"

    class Auth(models.TextChoices):
        PLAIN = "plain", "Secret"
        MD5 = "md5", "MD5 challenge"

    name = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255, help_text="Address of the PBX, e.g. 192.0.2.10.")
    port = models.PositiveIntegerField(
        default=7777,
        validators=[MinValueValidator(1, PORT_RANGE), MaxValueValidator(MAX_PORT, PORT_RANGE)],
        help_text="FCM630A: 7777, or 5039 for TLS.",
    )
    tls = models.CharField(max_length=8, choices=Tls.choices, default=Tls.OFF)
    tls_ca = models.TextField("CA certificate (PEM)", blank=True)
    tls_fingerprint = models.CharField("certificate SHA-256", max_length=100, blank=True)
    tls_server_name = models.CharField("certificate name", max_length=255, blank=True)
    username = models.CharField("AMI user", max_length=64)
    secret_encrypted = models.TextField(editable=False, default="")
    auth = models.CharField(max_length=8, choices=Auth.choices, default=Auth.PLAIN)
    enabled = models.BooleanField(default=True)
    keepalive = models.PositiveIntegerField(
        default=20, help_text="Seconds between Pings; a silent PBX is dropped after two."
    )

    # Live status, written by the worker.
    connected = models.BooleanField(default=False, editable=False)
    connected_since = models.DateTimeField(null=True, blank=True, editable=False)
    stale_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Since when the mirrored data may be wrong.",
    )
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    banner = models.CharField(max_length=100, blank=True, editable=False)
    ami_version = models.CharField(max_length=20, blank=True, editable=False)
    actions = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Action name → allowed for this user."
    )
    unavailable = models.JSONField(
        default=list, blank=True, editable=False, help_text="Features this AMI user cannot use."
    )
    pbx_status = models.CharField(
        max_length=16, blank=True, editable=False, help_text="up / shutting_down, as the PBX said."
    )
    worker = models.CharField(max_length=100, blank=True, editable=False)
    # The fencing token of monitor.locks: raised by each worker that takes the PBX over, and
    # checked by every write of a worker, so that one that lost its lock writes nothing more.
    recorded_until = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The worker's last write while its AMI session was up (history's gaps).",
    )
    fence = models.BigIntegerField(
        "takeovers", default=0, editable=False, help_text="Raised each time a worker takes over."
    )

    class Meta:
        verbose_name = "PBX"
        verbose_name_plural = "PBXes"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A form loaded before a takeover must not put the old fence back (that would fence
        # out the active worker, and let the one it replaced write again): only the pools'
        # claims (monitor.mirror.claim) change it, with an UPDATE of their own.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "fence"
            ]
        super().save(*args, **kwargs)

    # The secret: write-only from the outside.
    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)

    def get_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def stale(self) -> bool:
        return self.stale_since is not None or self.synced_at is None

    def ami_config(self) -> AmiConfig:
        return AmiConfig(
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self.get_secret(),
            tls=self.tls,
            ca_data=self.tls_ca or None,
            fingerprint=self.tls_fingerprint or None,
            server_name=self.tls_server_name or None,
            auth=self.auth,
            keepalive=float(self.keepalive),
        )

    @property
    def error_summary(self) -> str:
        """``last_error`` in words fit for every page: which kind of failure, never the AMI
        user, the address or anything the PBX's address sent."""
        text = self.last_error.lower()
        if not text:
            return ""
        return next((say for needle, say in ERROR_KINDS if needle in text), "connection failed")

    def can(self, action: str) -> bool:
        """Whether the AMI user may run ``action`` (unknown until the first session: True)."""
        return bool(self.actions.get(action, True))


class Endpoint(models.Model):
    """A PJSIP endpoint (an extension, or a trunk) and its device state."""

    pbx = models.ForeignKey(Pbx, on_delete=models.CASCADE, related_name="endpoints")
    resource = models.TextField()  # a key the PBX names: any length it sends
    technology = models.CharField(max_length=16, default="PJSIP")
    name = models.CharField(max_length=128, blank=True)
    state = models.CharField(
        max_length=12, choices=DeviceState.choices, default=DeviceState.UNKNOWN
    )
    registered = models.BooleanField(null=True)
    contacts = models.JSONField(default=list, blank=True)
    channels = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pbx", "resource"], name="endpoint_unique_resource")
        ]
        ordering = ["pbx", "resource"]

    def __str__(self) -> str:
        return f"{self.technology}/{self.resource}"


class Queue(models.Model):
    """A call queue with the counters the PBX reports."""

    pbx = models.ForeignKey(Pbx, on_delete=models.CASCADE, related_name="queues")
    name = models.TextField()  # a key the PBX names: any length it sends
    display_name = models.CharField(max_length=128, blank=True)
    strategy = models.CharField(max_length=32, blank=True)
    max_callers = models.PositiveIntegerField(default=0)
    calls_waiting = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    abandoned = models.PositiveIntegerField(default=0)
    service_level = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    service_level_perf = models.FloatField(null=True, blank=True, help_text="Percent.")
    holdtime = models.PositiveIntegerField(default=0, help_text="Average seconds.")
    talktime = models.PositiveIntegerField(default=0, help_text="Average seconds.")
    weight = models.IntegerField(default=0)
    chairman = models.CharField(
        max_length=80, blank=True, help_text="FCM630A: supervisor extension."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pbx", "name"], name="queue_unique_name")]
        ordering = ["pbx", "name"]

    def __str__(self) -> str:
        return self.display_name or self.name


class QueueMember(models.Model):
    """A member (agent interface) of a queue."""

    pbx = models.ForeignKey(Pbx, on_delete=models.CASCADE, related_name="queue_members")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="members")
    interface = models.TextField()
    state_interface = models.CharField(max_length=128, blank=True)
    name = models.CharField(max_length=128, blank=True)
    membership = models.CharField(max_length=16, blank=True)
    penalty = models.IntegerField(default=0)
    calls_taken = models.PositiveIntegerField(default=0)
    last_call = models.DateTimeField(null=True, blank=True)
    last_pause = models.DateTimeField(null=True, blank=True)
    login_time = models.DateTimeField(null=True, blank=True)
    in_call = models.BooleanField(default=False)
    status = models.CharField(
        max_length=12, choices=DeviceState.choices, default=DeviceState.UNKNOWN
    )
    paused = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=128, blank=True)
    ringinuse = models.BooleanField(null=True)
    wrapuptime = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "interface"], name="member_unique_interface")
        ]
        ordering = ["queue", "name", "interface"]

    def __str__(self) -> str:
        return f"{self.name or self.interface} in {self.queue_id}"


class QueueCaller(models.Model):
    """A caller waiting in a queue."""

    pbx = models.ForeignKey(Pbx, on_delete=models.CASCADE, related_name="queue_callers")
    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="callers")
    uniqueid = models.TextField()
    channel = models.TextField()
    position = models.PositiveIntegerField(default=0)
    caller_id_num = models.CharField(max_length=80, blank=True)
    caller_id_name = models.CharField(max_length=128, blank=True)
    joined_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["queue", "uniqueid"], name="caller_unique_uniqueid")
        ]
        ordering = ["queue", "position"]

    def __str__(self) -> str:
        return f"{self.caller_id_num or self.channel} #{self.position}"


class CallQuerySet(models.QuerySet):
    def conversations(self, keys: Iterable[str]) -> CallQuerySet:
        """Every channel of the conversations ``keys``: linkedids, or the uniqueid of a channel
        without one (``conversations.key_of``)."""
        keys = list(keys)
        return self.filter(Q(linkedid__in=keys) | Q(linkedid="", uniqueid__in=keys))


# A conversation's key in SQL, as ``conversations.key_of`` has it.
CONVERSATION_KEY = Coalesce(
    NullIf("linkedid", Value("")), "uniqueid", output_field=models.TextField()
)


class Call(models.Model):
    """An active channel; the channels sharing a ``linkedid`` are one conversation, the row
    supervisors see and hang up (``monitor/state/conversations.py``)."""

    pbx = models.ForeignKey(Pbx, on_delete=models.CASCADE, related_name="calls")
    # Keys and the channel names actions address: whole, however long the PBX made them.
    uniqueid = models.TextField()
    linkedid = models.TextField(blank=True)
    channel = models.TextField()
    state = models.CharField(max_length=32, blank=True)
    caller_id_num = models.CharField(max_length=80, blank=True)
    caller_id_name = models.CharField(max_length=128, blank=True)
    connected_num = models.CharField(max_length=80, blank=True)
    connected_name = models.CharField(max_length=128, blank=True)
    context = models.CharField(max_length=80, blank=True)
    exten = models.CharField(max_length=80, blank=True)
    started_at = models.DateTimeField()
    bridge_id = models.TextField(blank=True)
    peer_uniqueid = models.TextField(blank=True)
    peer_channel = models.TextField(blank=True)
    on_hold = models.BooleanField(default=False)
    endpoint_resource = models.TextField(blank=True, db_index=True)
    queue = models.TextField(blank=True, help_text="The queue it came through.")
    answered_at = models.DateTimeField(null=True, blank=True)
    waited = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds it waited before it was answered."
    )

    objects = CallQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pbx", "uniqueid"], name="call_unique_uniqueid")
        ]
        indexes = [models.Index(fields=["pbx", "linkedid"], name="call_conversation")]
        ordering = ["pbx", "started_at"]

    def __str__(self) -> str:
        return self.channel


class WorkerStats(models.Model):
    """What the AMI worker of a PBX has done, for ``/metrics`` and ``/healthz`` in other
    processes (``monitor/stats.py``).

    The counters are totals over every worker this PBX has had: each report *adds* what its
    worker counted since its previous report, so they only grow, across worker restarts and
    take-overs alike. ``updated_at`` is the worker's heartbeat (about once a second).
    """

    pbx = models.OneToOneField(
        Pbx, on_delete=models.CASCADE, primary_key=True, related_name="worker_stats"
    )
    events_applied = models.BigIntegerField(default=0)
    flushes = models.BigIntegerField(default=0)
    resyncs = models.BigIntegerField(default=0)
    reconnects = models.BigIntegerField(default=0)
    event_overflows = models.BigIntegerField(default=0)
    events_per_second = models.FloatField(default=0.0)
    flush_lag = models.FloatField(default=0.0, help_text="Seconds a change waited to be written.")
    event_queue = models.PositiveIntegerField(default=0, help_text="Events not yet applied.")
    worker = models.CharField(max_length=100, blank=True)
    flush_error = models.TextField(
        blank=True, help_text="Why the worker's writes fail; empty while they work."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "worker statistics"
        verbose_name_plural = "worker statistics"

    def __str__(self) -> str:
        return f"worker statistics of {self.pbx_id}"


# --- web models ---
# The web side's models live in their own module; imported here so Django registers them.
from .history_models import (  # noqa: E402, F401
    AgentMiss,
    AgentSpan,
    Outcome,
    QueueCallRecord,
    RecordGap,
    ReportSettings,
)
from .web_models import (  # noqa: E402, F401
    ApiToken,
    AuditEntry,
    ExtensionGroup,
    KioskLink,
    OriginateSettings,
    QueueThreshold,
)
