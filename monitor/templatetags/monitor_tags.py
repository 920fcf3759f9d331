"""Template helpers of the tiles: state symbols, timers, the privilege a disabled button needs.

Every state is shown three ways (colour, word, symbol) so that no one needs to tell colours
apart; the legend on the wallboard is built from the same tables.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..actions import AMI_ACTION
from ..ami.privileges import privilege_hint as _privilege_hint

if TYPE_CHECKING:
    from ..models import Pbx

register = template.Library()

# device state -> (css modifier, word, symbol)
STATES: dict[str, tuple[str, str, str]] = {
    "not_inuse": ("free", "Free", "✓"),
    "inuse": ("oncall", "On a call", "☎"),
    "busy": ("oncall", "Busy", "☎"),
    "ringing": ("ringing", "Ringing", "♪"),
    "ringinuse": ("ringing", "Ringing, on a call", "♪"),
    "onhold": ("hold", "On hold", "‖"),
    "unavailable": ("offline", "Unavailable", "✕"),
    "invalid": ("offline", "Invalid", "✕"),
    "unknown": ("unknown", "Unknown", "?"),
}
LEVELS: dict[str, tuple[str, str]] = {
    "ok": ("OK", "✓"),
    "amber": ("Attention", "▲"),
    "red": ("Critical", "‼"),
}


@register.filter
def state_class(state: str) -> str:
    return STATES.get(state, STATES["unknown"])[0]


@register.filter
def state_word(state: str) -> str:
    return STATES.get(state, STATES["unknown"])[1]


def entities(text: str) -> SafeString:
    """``text`` (a constant of ours) with its symbols as character references.

    Tiles go out once per open WebSocket; Daphne encodes each message for each socket, and a
    pure-ASCII string is copied where one with a single symbol is transcoded (the tiles'
    templates write their symbols the same way).
    """
    return mark_safe("".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in text))


# The symbols as character references, made once: a wallboard shows one per extension.
STATE_ICONS = {state: entities(icon) for state, (_, _, icon) in STATES.items()}
LEVEL_ICONS = {level: entities(icon) for level, (_, icon) in LEVELS.items()}


@register.filter
def state_icon(state: str) -> SafeString:
    return STATE_ICONS.get(state, STATE_ICONS["unknown"])


@register.filter
def level_word(level: str) -> str:
    return LEVELS.get(level, LEVELS["ok"])[0]


@register.filter
def level_icon(level: str) -> SafeString:
    return LEVEL_ICONS.get(level, LEVEL_ICONS["ok"])


NO_TIMER = mark_safe('<span class="timer timer--none">&#8211;</span>')


@register.simple_tag
def timer(since: datetime | None, label: str = "") -> SafeString:
    """A timer the browser ticks from ``since``; without JavaScript it shows the start time.

    Written by hand rather than with format_html: a tile per call has one, and the values are
    ours (an ISO date, a number, a clock time); only the label is escaped.
    """
    if since is None:
        return NO_TIMER
    clock = timezone.localtime(since).strftime("%H:%M:%S")
    title = escape(f"{label} ") if label else ""
    # No datetime attribute: it said what data-since and the title say, in 40 more bytes per
    # timer, and a busy PBX's timers go to every open page several times a second.
    return mark_safe(
        f'<time class="timer" data-since="{int(since.timestamp())}"'
        f' title="{title}since {clock}">since {clock}</time>'
    )


@register.simple_tag
def tile_url(name: str, *args: object) -> str:
    """``{% url name args %}``, remembered: a wallboard renders a tile per extension, each with
    its links, and ``reverse()`` was a sixth of that time (bench/page.py)."""
    return _reverse(name, args, get_script_prefix())


@lru_cache(maxsize=50_000)
def _reverse(name: str, args: tuple[object, ...], script_prefix: str) -> str:
    # The script prefix is part of the key: reverse() puts it in front of every path.
    return reverse(name, args=args)


@register.simple_tag
def denied_hint(pbx: Pbx, kind: str) -> str:
    """ "" when the PBX's AMI user may run the action of ``kind``; else what to grant."""
    action = AMI_ACTION[kind]
    if not pbx.can(action):
        return f"The PBX refuses {action} for fcmdash's AMI user: {_privilege_hint(action)}"
    return ""


@register.simple_tag(takes_context=True)
def tile(context: template.Context, kind: str, obj: object) -> SafeString:
    """``{% tile "endpoint" endpoint %}``: the tile as the live updates send it, with the
    page's ``controls`` flag (the partials are Jinja2 templates: see ``monitor/jinja.py``)."""
    from ..tiles import render  # tiles imports the models; this module loads before them

    return render(kind, obj, controls=bool(context.get("controls")))
