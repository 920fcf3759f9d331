"""Kiosk mode for TVs: the wallboard full screen, read-only, without navigation.

``/kiosk/`` is for a logged-in viewer; ``/kiosk/<token>/`` for a screen without a login,
through a :class:`~monitor.web_models.KioskLink` made in the admin. A revoked or unknown token
is a 404 (it tells nothing about which tokens exist).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import Pbx
from ..web_models import KioskLink
from .access import page_context, viewer_required
from .pages import selected_pbxes, wallboard_sections


@viewer_required
def kiosk(request: HttpRequest) -> HttpResponse:
    pbxes = selected_pbxes(request)
    queue = request.GET.get("queue", "")[:80]
    query = urlencode({"queue": queue}) if queue else ""
    context = page_context(request, pbxes, controls=False, board=True, query=query)
    context.update(sections=wallboard_sections(pbxes, queue), queue_filter=queue)
    return render(request, "monitor/kiosk.html", context)


def kiosk_link(request: HttpRequest, token: str) -> HttpResponse:
    link = KioskLink.find(token)
    if link is None:
        raise Http404("This kiosk link does not exist or was revoked.")
    link.touch()
    pbxes = [link.pbx] if link.pbx_id else list(Pbx.objects.all())
    context = page_context(request, pbxes, controls=False, board=True)
    context.update(
        sections=wallboard_sections(pbxes, link.queue),
        queue_filter=link.queue,
        ws_url=f"/ws/kiosk/{token}/",
    )
    return render(request, "monitor/kiosk.html", context)
