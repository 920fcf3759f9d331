"""Who may see and do what, for views and consumers alike.

- Seeing the pages needs ``monitor.view_wallboard`` (groups Viewers and Supervisors); the calls
  page too (without hang-up buttons for a viewer).
- The click-to-call form ``/originate/`` needs ``monitor.originate`` (group Supervisors).
- Each supervisor action needs its own permission (:data:`monitor.actions.PERMISSION`).
- A user with any action permission gets the pages *with* controls (group ``pbx.<id>.control``
  on the socket); buttons of the actions they lack are hidden by the ``can-*`` body classes and
  refused by the server anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from ..actions import PERMISSION
from ..scope import Scope, query_of

VIEW_PERMISSION = "monitor.view_wallboard"
# body class -> permission; the CSS shows a control only under its class (the pause form
# holds the unpause button too).
CONTROL_PERMISSIONS = {k: v for k, v in PERMISSION.items() if k != "unpause"}

LEGEND_STATES = ("not_inuse", "ringing", "inuse", "onhold", "unavailable", "unknown")


def can_view(user: Any) -> bool:
    return user.is_authenticated and user.has_perm(VIEW_PERMISSION)


def control_classes(user: Any) -> list[str]:
    """The ``can-*`` classes of the actions ``user`` may run."""
    if not user.is_authenticated:
        return []
    return [name for name, perm in CONTROL_PERMISSIONS.items() if user.has_perm(perm)]


def permission_required(
    permission: str, refusal: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A view decorator: anonymous to the login page; logged in without ``permission``: 403
    saying ``refusal``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


viewer_required = permission_required(
    VIEW_PERMISSION, "You may not view the wallboard; ask for the Viewers group."
)
# The click-to-call form is an action form: only who may originate gets it (README's pages).
originator_required = permission_required(
    PERMISSION["originate"], "You may not place calls; ask for the Supervisors group."
)


def page_context(
    request: HttpRequest,
    pbxes: list[Any],
    *,
    controls: bool = True,
    board: bool = False,
    page: str = "status",
    scope: Scope | None = None,
) -> dict:
    """What every live page's base template needs: permissions, the socket URL, the PBXes.

    The socket gets only what the page shows (``monitor.consumers``): ``board``, a wallboard
    (the status, queues and extensions; ``scope``: the filters it shows them by, repeated in
    the socket URL so that the socket resolves the same :class:`~monitor.scope.Scope`); else
    ``page``: ``calls``, ``queue:<pk>``, ``extension:<pk>`` or ``status`` (no live tiles).
    """
    classes = control_classes(request.user) if controls else []
    ids = ",".join(str(p.pk) for p in pbxes)
    ws_url = f"/ws/live/?pbx={ids}" + ("" if controls else "&readonly=1")
    ws_url += "&board=1" if board else f"&page={page}"
    filters = query_of(scope) if scope is not None else ""
    return {
        "pbxes": pbxes,
        "controls": bool(classes),
        "can_classes": " ".join(f"can-{c}" for c in classes),
        "ws_url": ws_url + (f"&{filters}" if filters else ""),
        "legend_states": LEGEND_STATES,
    }
