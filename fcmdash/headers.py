"""The Content-Security-Policy header on every response (Django 5.2 has no setting for it).

Scripts, styles, images, fonts and connections (the pages' WebSockets included: CSP's
``'self'`` covers ``ws:``/``wss:`` to the same host) come from our own origin only; nothing
inline. The pages keep to it: htmx's indicator styles are off (templates/base.html), the kiosk
pages its board with a constructed stylesheet (static/js/kiosk.js), and no template writes a
``style`` attribute. The policy is ``FCMDASH_CSP`` in settings.py.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    """Adds ``settings.FCMDASH_CSP`` to each response that has no policy of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.FCMDASH_CSP and HEADER not in response:
            response[HEADER] = settings.FCMDASH_CSP
        return response
