"""Admin: PBX connections (secret write-only, "Test connection"), queue thresholds, kiosk links,
API tokens, and the audit log (read-only).

Tokens are shown once, in the message after saving; only their hashes are stored.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils import timezone

from .ami.capabilities import Report, probe
from .ami.client import AmiConnection
from .ami.config import fingerprint_bytes
from .ami.errors import AmiError
from .crypto import SecretUnreadable
from .history_models import ReportSettings
from .models import Pbx
from .web_models import (
    MAX_RANGE,
    ApiToken,
    AuditEntry,
    ExtensionGroup,
    KioskLink,
    OriginateSettings,
    QueueThreshold,
    split_names,
)

log = logging.getLogger(__name__)


class PbxForm(forms.ModelForm):
    """The AMI secret is write-only: never rendered back, empty keeps the stored one."""

    secret = forms.CharField(
        label="AMI secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current secret.",
    )

    class Meta:
        model = Pbx
        fields = [
            "name",
            "host",
            "port",
            "tls",
            "tls_ca",
            "tls_fingerprint",
            "tls_server_name",
            "username",
            "secret",
            "auth",
            "enabled",
            "keepalive",
        ]

    def clean_secret(self) -> str:
        secret = _one_line("The AMI secret", self.cleaned_data.get("secret", ""))
        if not secret and not self.instance.has_secret:
            raise forms.ValidationError("The AMI user's secret is required.")
        return secret

    def clean_username(self) -> str:
        return _one_line("The AMI user", self.cleaned_data.get("username", ""))

    def clean_host(self) -> str:
        host = _one_line("The address", self.cleaned_data.get("host", ""))
        if any(ch.isspace() for ch in host):
            raise forms.ValidationError("The address may not contain spaces.")
        return host

    def clean_tls_server_name(self) -> str:
        return _one_line("The certificate name", self.cleaned_data.get("tls_server_name", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("tls") == Pbx.Tls.PIN and "tls_fingerprint" not in self.errors:
            try:
                size = len(fingerprint_bytes(data.get("tls_fingerprint") or ""))
            except ValueError as exc:
                self.add_error(
                    "tls_fingerprint", f"Pinning needs the certificate's SHA-256: {exc}."
                )
            else:
                if size != 32:
                    self.add_error(
                        "tls_fingerprint",
                        f"A SHA-256 fingerprint is 64 hex digits; this one has {size * 2}.",
                    )
        return data

    def save(self, commit: bool = True) -> Pbx:
        if self.cleaned_data.get("secret"):
            self.instance.set_secret(self.cleaned_data["secret"])
        return super().save(commit)


def _one_line(label: str, value: str) -> str:
    """``value`` if it can go into an AMI header: no line break, NUL or control character
    (one would end the header and start another: header injection into Login)."""
    if any(ch in "\r\n\x00" for ch in value):
        raise forms.ValidationError(f"{label} may not contain a line break or a NUL character.")
    if not value.isprintable():
        raise forms.ValidationError(f"{label} may not contain control characters.")
    return value


class OriginateSettingsInline(admin.StackedInline):
    model = OriginateSettings
    can_delete = False
    extra = 1
    max_num = 1


@admin.register(Pbx)
class PbxAdmin(admin.ModelAdmin):
    form = PbxForm
    inlines = [OriginateSettingsInline]
    list_display = ["name", "host", "port", "tls", "username", "enabled", "connected", "stale"]
    readonly_fields = [
        "connected",
        "connected_since",
        "stale_since",
        "synced_at",
        "last_error",
        "banner",
        "ami_version",
        "pbx_status",
        "actions",
        "unavailable",
        "worker",
        "fence",
    ]
    actions = ["test_connection"]

    @admin.display(boolean=True)
    def stale(self, obj: Pbx) -> bool:
        return obj.stale

    @admin.action(
        description="Test connection (log in and check the AMI user's privileges)",
        permissions=["test_connection"],
    )
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Pbx]) -> None:
        for pbx in queryset:
            try:
                report = async_to_sync(test_connection)(pbx)
            except (AmiError, SecretUnreadable, ValueError) as exc:
                self.message_user(request, f"{pbx}: {exc}", messages.ERROR)
                continue
            level = messages.SUCCESS if all(report.allowed.values()) else messages.WARNING
            self.message_user(request, f"{pbx}: {describe(report)}", level)

    def has_test_connection_permission(self, request: HttpRequest) -> bool:
        """Only who may change a PBX may log in with its stored secret."""
        return self.has_change_permission(request)


async def test_connection(pbx: Pbx) -> Report:
    """Log in to ``pbx`` with events off and probe what its AMI user may do."""
    conn = await AmiConnection.open(pbx.ami_config().with_(events=False), keep_events=())
    try:
        return await probe(conn)
    finally:
        await conn.close()


def describe(report: Report) -> str:
    allowed = [name for name, ok in report.allowed.items() if ok]
    denied = [f"{c.action} ({c.detail})" for c in report.capabilities.values() if not c.allowed]
    counts = f"{_count(report.endpoints)} endpoints, {_count(report.queues)} queues"
    text = f"{report.banner}; {counts}; usable: {', '.join(allowed) or 'none'}"
    return text + (f"; not usable: {'; '.join(denied)}" if denied else "")


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


@admin.register(QueueThreshold)
class QueueThresholdAdmin(admin.ModelAdmin):
    list_display = [
        "queue_name",
        "pbx",
        "waiting_amber",
        "waiting_red",
        "wait_amber",
        "wait_red",
        "sl_seconds",
        "sl_target",
    ]
    list_filter = ["pbx"]
    fieldsets = [
        (None, {"fields": ["pbx", "queue_name"]}),
        ("Card colours", {"fields": ["waiting_amber", "waiting_red", "wait_amber", "wait_red"]}),
        (
            "Service level (the Today page and the cards' numbers of the day)",
            {"fields": ["sl_seconds", "sl_target"]},
        ),
    ]


@admin.register(ReportSettings)
class ReportSettingsAdmin(admin.ModelAdmin):
    """The one row of how days are counted (``ReportSettings.current``): added once, then
    edited; the list goes straight to it."""

    list_display = ["__str__", "day_starts", "time_zone", "short_abandon_seconds", "keep_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ReportSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # without a row the defaults count: deleting would change them silently

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        row = ReportSettings.objects.order_by("pk").first()
        if row is not None and self.has_view_or_change_permission(request, row):
            return redirect("admin:monitor_reportsettings_change", row.pk)
        return super().changelist_view(request, extra_context)


class TokenAdmin(admin.ModelAdmin):
    """Issues the token on creation and shows it once; revoking is an action."""

    actions = ["revoke"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        token = obj.issue() if not change else None
        super().save_model(request, obj, form, change)
        if token:
            self.message_user(request, self.issued_message(request, obj, token), messages.WARNING)

    def issued_message(self, request: HttpRequest, obj: Any, token: str) -> str:
        raise NotImplementedError

    @admin.action(description="Revoke the selected", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = list(queryset.filter(revoked_at=None))
        queryset.filter(pk__in=[o.pk for o in revoked]).update(revoked_at=timezone.now())
        for obj in revoked:
            self.revoked(obj)
        self.message_user(request, f"Revoked {len(revoked)}.")

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking changes the link or token: a viewer of the list may not."""
        return self.has_change_permission(request)

    def revoked(self, obj: Any) -> None:
        pass


class ExtensionGroupForm(forms.ModelForm):
    """Extensions as typed (numbers and ranges), refused when a range cannot be read."""

    class Meta:
        model = ExtensionGroup
        fields = ["pbx", "name", "extensions"]

    def clean_extensions(self) -> str:
        text = self.cleaned_data.get("extensions", "")
        for part in split_names(text):
            low, dash, high = part.partition("-")
            if not dash:
                continue
            if not (low.isdigit() and high.isdigit() and int(low) <= int(high)):
                raise forms.ValidationError(f"{part}: a range is two numbers, low-high.")
            if int(high) - int(low) >= MAX_RANGE:
                raise forms.ValidationError(f"{part}: a range spans at most {MAX_RANGE}.")
        if not split_names(text):
            raise forms.ValidationError("Name at least one extension.")
        return text


@admin.register(ExtensionGroup)
class ExtensionGroupAdmin(admin.ModelAdmin):
    form = ExtensionGroupForm
    list_display = ["name", "pbx", "extensions"]
    list_filter = ["pbx"]
    search_fields = ["name", "extensions"]


class KioskLinkForm(forms.ModelForm):
    """A screen's layout: the groups offered are those of the link's PBX (all, without one)."""

    class Meta:
        model = KioskLink
        fields = ["name", "pbx", "queues", "groups", "turn_seconds", "expires_at"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        pbx, groups = data.get("pbx"), data.get("groups") or []
        strays = [g.name for g in groups if pbx is not None and g.pbx_id != pbx.pk]
        if strays:
            self.add_error("groups", f"Not groups of {pbx}: {', '.join(strays)}.")
        return data


@admin.register(KioskLink)
class KioskLinkAdmin(TokenAdmin):
    form = KioskLinkForm
    filter_horizontal = ["groups"]
    list_display = [
        "name",
        "pbx",
        "queues",
        "turn_seconds",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    readonly_fields = ["created_at", "created_by", "last_used_at", "revoked_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def issued_message(self, request: HttpRequest, obj: Any, token: str) -> str:
        url = request.build_absolute_uri(f"/kiosk/{token}/")
        return f"Kiosk link for {obj}: {url} — copy it now, it is not shown again."

    def revoked(self, obj: Any) -> None:
        close_kiosk_sockets(obj.pk)


def close_kiosk_sockets(link_id: int) -> None:
    """Close the open sockets of a revoked link (best effort: a page reload checks again)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(f"kiosk.{link_id}", {"type": "kiosk.revoked"})
    except Exception as exc:  # the layer is away: the sockets fail their next reconnect instead
        log.warning("kiosk link %s revoked, but its open screens were not told: %s", link_id, exc)


@admin.register(ApiToken)
class ApiTokenAdmin(TokenAdmin):
    list_display = ["name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["created_at", "last_used_at", "revoked_at"]

    def issued_message(self, request: HttpRequest, obj: Any, token: str) -> str:
        return (
            f"API token {obj}: {token} — copy it now, it is not shown again. "
            f"Use it as 'Authorization: Bearer {token}' on /api/v1/state."
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log can be read, never edited."""

    list_display = ["at", "username", "pbx_name", "kind", "ok", "answer"]
    list_filter = ["kind", "ok", "pbx_name"]
    search_fields = ["username", "answer"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
