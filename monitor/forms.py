"""Forms of the supervisor actions: what the browser may name, checked, turned into params.

The browser names rows by primary key (a call, a queue member); the channel, interface and
queue sent to the PBX come from the mirror, never from the request. What a user types (an
extension, a number, a reason) goes through the checks in :mod:`monitor.actions`, the same ones
the worker runs again.
"""

from __future__ import annotations

from typing import Any

from django import forms

from . import actions
from .models import Call, Endpoint, Pbx, QueueMember
from .state import conversations
from .web_models import OriginateSettings


def _check(check: Any, value: Any) -> str:
    try:
        return check(value)
    except actions.InvalidParams as exc:
        raise forms.ValidationError(str(exc)) from None


class ActionForm(forms.Form):
    """Sets ``pbx``, ``kind`` and ``params`` when valid."""

    kind = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pbx: Pbx | None = None
        self.params: dict[str, Any] = {}

    def first_error(self) -> str:
        for field, errors in self.errors.items():
            label = "" if field == "__all__" else f"{self.fields[field].label or field}: "
            return f"{label}{errors[0]}"
        return "invalid request"


class HangupForm(ActionForm):
    """``call``: any channel of the conversation to end; every channel of it is hung up."""

    kind = "hangup"
    call = forms.IntegerField(min_value=1)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "call" not in data:
            return data
        call = Call.objects.select_related("pbx").filter(pk=data["call"]).first()
        if call is None:
            raise forms.ValidationError("That call has ended.")
        key = conversations.key_of(call)
        legs = Call.objects.filter(pbx_id=call.pbx_id).conversations([key])
        channels = conversations.conversation(key, list(legs)).channels
        self.pbx, self.target = call.pbx, call
        self.params = {"channels": channels[: actions.MAX_CHANNELS]}
        return data


class PauseForm(ActionForm):
    member = forms.IntegerField(min_value=1)
    paused = forms.TypedChoiceField(choices=[("1", "pause"), ("0", "unpause")], coerce=int)
    reason = forms.CharField(required=False, strip=False, max_length=200)

    def clean_reason(self) -> str:
        return _check(actions.check_reason, self.cleaned_data.get("reason", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        member = QueueMember.objects.select_related("pbx", "queue").filter(pk=data["member"])
        member = member.first()
        if member is None:
            raise forms.ValidationError("That queue member no longer exists.")
        self.kind = "pause" if data["paused"] else "unpause"
        self.pbx, self.target = member.pbx, member
        self.params = {"interface": member.interface, "queue": member.queue.name}
        if self.kind == "pause":
            self.params["reason"] = data["reason"]
        return data


class OriginateForm(ActionForm):
    kind = "originate"
    pbx_choice = forms.ModelChoiceField(
        Pbx.objects.filter(enabled=True), label="PBX", required=False, empty_label=None
    )
    extension = forms.CharField(
        label="From extension", strip=False, max_length=80, help_text="Rings first."
    )
    number = forms.CharField(
        label="To number", strip=False, max_length=80, help_text="Digits, +, * and #."
    )

    def clean_number(self) -> str:
        return _check(actions.check_number, self.cleaned_data["number"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        pbx = data.get("pbx_choice") or Pbx.objects.first()
        if pbx is None:
            raise forms.ValidationError("No PBX is set up.")
        self.pbx = pbx
        extension = data.get("extension")
        if extension is None or self.errors:
            return data
        # Digits, or the name of an endpoint the PBX reported (still checked for safe text).
        if not Endpoint.objects.filter(pbx=pbx, resource=extension).exists():
            _check_field(self, "extension", actions.check_extension, extension)
        else:
            _check_field(self, "extension", actions.check_resource, extension)
        if self.errors:
            return data
        dialing = OriginateSettings.objects.filter(pbx=pbx).first()
        self.params = {
            "extension": extension,
            "number": data["number"],
            "context": dialing.context if dialing else actions.DEFAULT_CONTEXT,
            "timeout": dialing.timeout if dialing else 30,
        }
        return data


def _check_field(form: forms.Form, field: str, check: Any, value: Any) -> None:
    try:
        check(value)
    except actions.InvalidParams as exc:
        form.add_error(field, str(exc))


FORMS: dict[str, type[ActionForm]] = {
    "hangup": HangupForm,
    "pause": PauseForm,
    "originate": OriginateForm,
}
