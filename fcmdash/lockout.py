"""What a locked-out login sees and what the log says (django-axes' hooks, see settings.py).

Axes locks a user name from one address after ``AXES_FAILURE_LIMIT`` failures for
``AXES_COOLOFF_TIME``. The response is the login page that was asked for, the site's or the
admin's, with a fresh form and the reason, answered 429 so that scripts see it too.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

log = logging.getLogger("fcmdash.security")


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend, except that a login without a request (a management command, a script in
    ``manage.py shell``) is left to the next backend: it comes from no address to lock out, and
    axes would refuse it with an exception."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def cooloff_minutes() -> int:
    """The lockout's length in whole minutes, as the pages say it."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the login page with the lockout message, status 429.

    Takes and ignores axes' other arguments (the original response and the credentials), whose
    order differs between axes' sync and async middleware paths.
    """
    context: dict[str, Any] = {"locked_out": True, "cooloff_minutes": cooloff_minutes()}
    if request.path == reverse("admin:login"):
        template = "admin/login.html"
        context |= admin.site.each_context(request)
        context |= {"title": "Log in", "app_path": request.get_full_path()}
        context["form"] = AdminAuthenticationForm(request)
    else:
        template = "registration/login.html"
        context["form"] = AuthenticationForm(request)
    context["next"] = request.POST.get("next", "")
    response = TemplateResponse(request, template, context, status=429)
    return response.render()


@receiver(user_locked_out)
def log_lockout(
    sender: object, request: HttpRequest, username: str, ip_address: str, **_: Any
) -> None:
    """One line per lockout: axes also signals each refused attempt during it, and those carry no
    failure count (``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`` off stops counting them)."""
    if getattr(request, "axes_failures_since_start", None) is None:
        return
    log.warning(
        "login locked out for %d minutes: user %r from %s after %d failures",
        cooloff_minutes(),
        username,
        ip_address,
        request.axes_failures_since_start,
    )
