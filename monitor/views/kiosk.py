"""Kiosk mode for TVs: the wallboard full screen, read-only, without navigation.

``/kiosk/`` is for a logged-in viewer; ``/kiosk/<token>/`` for a screen without a login,
through a :class:`~monitor.web_models.KioskLink` made in the admin. A revoked, expired or
unknown token is a 404 (it tells nothing about which tokens exist). A link's page sends no
Referer at all, not even to our own static files: the token is in its URL, and what a proxy logs
of a static file's request includes its Referer.

What a screen shows is a :class:`~monitor.scope.Scope`: the link's, or ``/kiosk/``'s query (the
wallboard's filters) with ``?turn=<seconds>`` for the page turns when everything does not fit.
``?show=today``, ``?show=agents`` or ``?show=today,agents`` (on either URL) shows the day's
views of the scope's PBXes instead of the board: the Today tile (queue numbers and charts) and
the agent board, live like theirs (issue 12).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from ..history.days import today_window
from ..history.sections import agent_board, today_section
from ..history_models import ReportSettings
from ..scope import Scope, scope_from_link, scope_from_query
from ..web_models import DEFAULT_TURN_SECONDS, MAX_TURN_SECONDS, MIN_TURN_SECONDS, KioskLink
from .access import page_context, viewer_required
from .pages import wallboard_sections


def turn_seconds(text: str) -> int:
    """``?turn=<seconds>`` of ``/kiosk/``, within what a link may say; the default otherwise."""
    if not text.isdigit():
        return DEFAULT_TURN_SECONDS
    return min(max(int(text), MIN_TURN_SECONDS), MAX_TURN_SECONDS)


DAY_SHOWS = ("today", "agents")


def day_shows(text: str) -> tuple[str, ...]:
    """The day's views ``?show=`` names, in their order; () for the board."""
    wanted = {part.strip() for part in text[:40].split(",")}
    return tuple(view for view in DAY_SHOWS if view in wanted)


def kiosk_page(
    request: HttpRequest, scope: Scope, turn: int, ws_url: str = "", show: tuple[str, ...] = ()
) -> HttpResponse:
    pbxes = scope.pbxes()
    if show:  # the day's views, live through their own groups (monitor.consumers)
        context = page_context(request, pbxes, controls=False, page=",".join(show))
        report, now = ReportSettings.current(), timezone.now()
        window = today_window(report, now)
        if "today" in show:
            context["days"] = [today_section(p, window, now, report) for p in pbxes]
        if "agents" in show:
            context["boards"] = [agent_board(p, now, report) for p in pbxes]
    else:
        context = page_context(request, pbxes, controls=False, board=True, scope=scope)
        context["sections"] = wallboard_sections(scope, pbxes)
    context.update(turn_seconds=turn, show=show)
    if ws_url:
        context["ws_url"] = ws_url + (f"?show={','.join(show)}" if show else "")
    return render(request, "monitor/kiosk.html", context)


@viewer_required
def kiosk(request: HttpRequest) -> HttpResponse:
    turn = turn_seconds(request.GET.get("turn", ""))
    show = day_shows(request.GET.get("show", ""))
    return kiosk_page(request, scope_from_query(request.GET), turn, show=show)


def kiosk_link(request: HttpRequest, token: str) -> HttpResponse:
    link = KioskLink.find(token)
    if link is None:
        raise Http404("This kiosk link does not exist, was revoked or has expired.")
    link.touch()
    show = day_shows(request.GET.get("show", ""))
    response = kiosk_page(
        request, scope_from_link(link), link.turn_seconds, f"/ws/kiosk/{token}/", show
    )
    # SecurityMiddleware's same-origin default would still send the token to our own files.
    response["Referrer-Policy"] = "no-referrer"
    return response
