"""POST endpoints of the supervisor actions: check, rate-limit, send through the worker, audit.

Async views: an action waits up to 10 s for the PBX, and a sync view would hold one of the
server's few sync threads for that long.

Order, and why: permission (403, nothing recorded: the user may not act at all); rate limit
(429, counted from the audit log so that every server process sees the same count); the form
(400, recorded, so that probing counts against the limit too); the PBX's own privileges and
connection (the answer the PBX would give, without asking it); then the worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from .. import actions
from ..ami.privileges import privilege_hint
from ..forms import FORMS, ActionForm
from ..models import Pbx
from ..web_models import AuditEntry

RATE_LIMIT = getattr(settings, "FCMDASH_ACTION_RATE_LIMIT", 10)  # actions per user and minute
RATE_WINDOW = timedelta(minutes=1)
LABELS = {
    "hangup": "Hang up",
    "originate": "Call",
    "pause": "Pause",
    "unpause": "Unpause",
}


@require_POST
async def hangup(request: HttpRequest) -> HttpResponse:
    return await _act(request, "hangup")


@require_POST
async def originate(request: HttpRequest) -> HttpResponse:
    return await _act(request, "originate")


@require_POST
async def pause(request: HttpRequest) -> HttpResponse:
    return await _act(request, "pause")


async def _act(request: HttpRequest, form_name: str) -> HttpResponse:
    user = await request.auser()
    if not user.is_authenticated or not await user.ahas_perm(actions.PERMISSION[form_name]):
        return _respond(request, form_name, actions.Result(False, "not allowed", sent=False), 403)
    form = FORMS[form_name](request.POST)
    valid = await database_sync_to_async(form.is_valid)()
    kind = form.kind or form_name
    if await database_sync_to_async(rate_limited)(user):
        result = actions.Result(
            False, f"too many actions: at most {RATE_LIMIT} a minute; wait a moment", sent=False
        )
        return _respond(request, kind, result, 429)
    if not valid:
        result = actions.Result(False, f"refused: {form.first_error()}", sent=False)
        await database_sync_to_async(audit)(user, form, kind, result, typed=request.POST)
        return _respond(request, kind, result, 400)
    result = await _send(form, kind, user)
    await database_sync_to_async(audit)(user, form, kind, result)
    status = 503 if result.message == actions.NOT_AVAILABLE else 200
    return _respond(request, kind, result, status)


async def _send(form: ActionForm, kind: str, user: Any) -> actions.Result:
    pbx: Pbx = form.pbx  # type: ignore[assignment]
    ami_action = actions.AMI_ACTION[kind]
    if not pbx.can(ami_action):
        # The worker's probe found the PBX refuses it: say what to grant instead of asking.
        return actions.Result(False, "Permission denied", privilege_hint(ami_action), sent=False)
    if not pbx.connected:
        since = f" since {timezone.localtime(pbx.stale_since):%H:%M}" if pbx.stale_since else ""
        return actions.Result(False, f"PBX {pbx.name} is not connected{since}", sent=False)
    try:
        return await actions.request(pbx.pk, kind, form.params, user=user, fence=pbx.fence)
    except actions.InvalidParams as exc:
        return actions.Result(False, f"refused: {exc}", sent=False)


def rate_limited(user: Any) -> bool:
    since = timezone.now() - RATE_WINDOW
    return AuditEntry.objects.filter(user=user, at__gte=since).count() >= RATE_LIMIT


def audit(
    user: Any, form: ActionForm, kind: str, result: actions.Result, typed: Any = None
) -> None:
    params = dict(form.params)
    if typed is not None:  # refused: keep what was typed (bounded) to see what was tried
        params = {k: str(v)[:200] for k, v in typed.items() if k != "csrfmiddlewaretoken"}
    AuditEntry.objects.create(
        user=user,
        username=user.get_username(),
        pbx=form.pbx,
        pbx_name=form.pbx.name if form.pbx else "",
        kind=kind,
        params=params,
        ok=result.ok,
        answer=f"{result.message}{f' ({result.hint})' if result.hint else ''}",
    )


def _respond(request: HttpRequest, kind: str, result: actions.Result, status: int) -> HttpResponse:
    if not request.htmx and status != 403:
        # A form posted without JavaScript: back to the page, with the answer as a message.
        level = messages.SUCCESS if result.ok else messages.ERROR
        messages.add_message(request, level, f"{LABELS[kind]}: {result.message} {result.hint}")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
            target = "/"
        return redirect(target)
    html = render_to_string(
        "monitor/partials/action_result.html", {"result": result, "label": LABELS[kind]}
    )
    return HttpResponse(html, status=status)
