"""What fcmdash records of a day, by its own count: queue calls, agents' states, rings not
answered, and the gaps when it could not see the PBX (issue 12).

The PBX's own counters (``Queue.completed`` and the like) count since its last restart or
``queue reset stats``; these rows are what a day's numbers are computed from instead
(:mod:`monitor.history.numbers`). Their definitions follow Asterisk's ``queue_log``: one
:class:`QueueCallRecord` per ENTERQUEUE, its outcome the line that ended it (CONNECT then
COMPLETEAGENT/COMPLETECALLER, ABANDON, EXITWITHTIMEOUT, EXITEMPTY, ...), one
:class:`AgentMiss` per RINGNOANSWER, and :class:`AgentSpan` rows for PAUSE/UNPAUSE and the
member states between.

Rows are keyed by what the PBX names them (queue, uniqueid, interface), never by the mirror's
rows, which a resync may delete and recreate. Texts from the PBX are TextFields (keys) or cut
to ``SHOWN`` characters (names), as in the mirror.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

SHOWN = 200  # characters kept of a name from the PBX


class Outcome(models.TextChoices):
    WAITING = "waiting", "waiting"  # in the queue now
    ANSWERED = "answered", "answered"  # CONNECT (talking until ended_at is set)
    ABANDONED = "abandoned", "abandoned"  # ABANDON: the caller hung up while waiting
    TIMEOUT = "timeout", "timed out"  # EXITWITHTIMEOUT
    EXIT_EMPTY = "exitempty", "exit empty"  # EXITEMPTY: no member could take it
    EXIT_KEY = "exitkey", "exit with key"  # EXITWITHKEY
    OTHER = "other", "left otherwise"  # left the queue another way (a transfer, a redirect)
    # fcmdash could not see how it ended (the session or fcmdash was down meanwhile) and the
    # resync that followed could not tell: counted as offered only, and the day is partial.
    INCOMPLETE = "incomplete", "incomplete"


class QueueCallRecord(models.Model):
    """One caller's stay in one queue: ENTERQUEUE to the line that ended it."""

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    queue = models.TextField()
    uniqueid = models.TextField(help_text="The caller channel's Uniqueid (queue_log's callid).")
    linkedid = models.TextField(blank=True)
    caller_num = models.CharField(max_length=SHOWN, blank=True)
    caller_name = models.CharField(max_length=SHOWN, blank=True)
    entered_at = models.DateTimeField()
    position = models.PositiveIntegerField(default=0, help_text="Position on entering.")
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.WAITING)
    # Seconds as the PBX counted them (AgentConnect/AgentComplete HoldTime and TalkTime,
    # QueueCallerAbandon HoldTime): the very numbers queue_log writes.
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    talk_seconds = models.PositiveIntegerField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="Left the queue unanswered, or the answered call ended."
    )
    agent = models.TextField(blank=True, help_text="Member interface that answered.")
    agent_name = models.CharField(max_length=SHOWN, blank=True)
    completed_by = models.CharField(max_length=8, blank=True, help_text="agent / caller")
    partial = models.BooleanField(
        default=False, help_text="Part of it fell in a gap; completed from a resync."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pbx", "queue", "uniqueid"], name="queuecall_unique_stay"
            )
        ]
        indexes = [models.Index(fields=["pbx", "entered_at"], name="queuecall_pbx_entered")]
        ordering = ["entered_at"]

    def __str__(self) -> str:
        return f"{self.queue} {self.uniqueid} {self.outcome}"


class AgentState(models.TextChoices):
    AVAILABLE = "available", "available"
    RINGING = "ringing", "ringing"
    IN_CALL = "in_call", "in a call"
    PAUSED = "paused", "paused"
    UNAVAILABLE = "unavailable", "unavailable"


class AgentSpan(models.Model):
    """A queue member in one state, in one queue, from ``started_at`` to ``ended_at`` (open
    while null). Paused wins over the device's state: a paused member on a call is paused."""

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    queue = models.TextField()
    interface = models.TextField()
    name = models.CharField(max_length=SHOWN, blank=True)
    state = models.CharField(max_length=12, choices=AgentState.choices)
    reason = models.CharField(max_length=SHOWN, blank=True, help_text="The pause reason.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["pbx", "started_at"], name="agentspan_pbx_started"),
            models.Index(fields=["pbx", "ended_at"], name="agentspan_pbx_ended"),
        ]
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.interface} {self.state} in {self.queue}"


class AgentMiss(models.Model):
    """A member rang and did not answer (AgentRingNoAnswer; queue_log's RINGNOANSWER)."""

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    queue = models.TextField()
    interface = models.TextField()
    name = models.CharField(max_length=SHOWN, blank=True)
    uniqueid = models.TextField(help_text="The caller's Uniqueid.")
    at = models.DateTimeField()
    ring_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["pbx", "at"], name="agentmiss_pbx_at")]
        ordering = ["at"]


class RecordGap(models.Model):
    """A time fcmdash could not see the PBX (its session down, or fcmdash not running):
    numbers over a period that overlaps one are partial. Open while ``ended_at`` is null."""

    pbx = models.ForeignKey("monitor.Pbx", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=SHOWN, blank=True)

    class Meta:
        indexes = [models.Index(fields=["pbx", "started_at"], name="recordgap_pbx_started")]
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"no data from {self.started_at:%Y-%m-%d %H:%M}"


def valid_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"{value!r} is not a time zone (e.g. Europe/Berlin)") from exc


class ReportSettings(models.Model):
    """How days are counted: one row (:meth:`current`), edited in the admin."""

    day_starts = models.TimeField(
        default=dt.time(0, 0), help_text="When a day starts, e.g. 06:00 for a 24-hour centre."
    )
    time_zone = models.CharField(
        max_length=64,
        default=settings.TIME_ZONE,
        validators=[valid_time_zone],
        help_text="The time zone days are counted in, e.g. Europe/Berlin.",
    )
    short_abandon_seconds = models.PositiveIntegerField(
        default=5,
        validators=[MaxValueValidator(3600)],
        help_text="Abandons within these seconds are short ones (not in the SL).",
    )
    keep_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3660)],
        help_text="Days of history kept; older records are pruned daily.",
    )

    class Meta:
        verbose_name = "report settings"
        verbose_name_plural = "report settings"

    def __str__(self) -> str:
        return "Report settings"

    @classmethod
    def current(cls) -> ReportSettings:
        row = cls.objects.order_by("pk").first()
        return row if row is not None else cls()
