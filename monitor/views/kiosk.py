"""Kiosk mode for TVs: the wallboard full screen, read-only, without navigation.

``/kiosk/`` is for a logged-in viewer; ``/kiosk/<token>/`` for a screen without a login,
through a :class:`~monitor.web_models.KioskLink` made in the admin. A revoked, expired or
unknown token is a 404 (it tells nothing about which tokens exist). A link's page sends no
Referer at all, not even to our own static files: the token is in its URL, and what a proxy logs
of a static file's request includes its Referer.

What a screen shows is a :class:`~monitor.scope.Scope`: the link's, or ``/kiosk/``'s query (the
wallboard's filters) with ``?turn=<seconds>`` for the page turns when everything does not fit.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ..scope import Scope, scope_from_link, scope_from_query
from ..web_models import DEFAULT_TURN_SECONDS, MAX_TURN_SECONDS, MIN_TURN_SECONDS, KioskLink
from .access import page_context, viewer_required
from .pages import wallboard_sections


def turn_seconds(text: str) -> int:
    """``?turn=<seconds>`` of ``/kiosk/``, within what a link may say; the default otherwise."""
    if not text.isdigit():
        return DEFAULT_TURN_SECONDS
    return min(max(int(text), MIN_TURN_SECONDS), MAX_TURN_SECONDS)


def kiosk_page(request: HttpRequest, scope: Scope, turn: int, ws_url: str = "") -> HttpResponse:
    pbxes = scope.pbxes()
    context = page_context(request, pbxes, controls=False, board=True, scope=scope)
    context.update(sections=wallboard_sections(scope, pbxes), turn_seconds=turn)
    if ws_url:
        context["ws_url"] = ws_url
    return render(request, "monitor/kiosk.html", context)


@viewer_required
def kiosk(request: HttpRequest) -> HttpResponse:
    turn = turn_seconds(request.GET.get("turn", ""))
    return kiosk_page(request, scope_from_query(request.GET), turn)


def kiosk_link(request: HttpRequest, token: str) -> HttpResponse:
    link = KioskLink.find(token)
    if link is None:
        raise Http404("This kiosk link does not exist, was revoked or has expired.")
    link.touch()
    response = kiosk_page(request, scope_from_link(link), link.turn_seconds, f"/ws/kiosk/{token}/")
    # SecurityMiddleware's same-origin default would still send the token to our own files.
    response["Referrer-Policy"] = "no-referrer"
    return response
