"""The Jinja2 environment of the tile partials (``monitor/jinja2/monitor/tiles/*.html``).

Why Jinja2 for the tiles and Django's language for the pages: a wallboard renders a tile per
extension, and the worker renders every changed tile twice (with and without controls) at each
flush. In Django's template language one extension tile cost about 0.2 ms, three quarters of the
wallboard's 1,000-extension render and most of a flush's rendering time (bench/page.py,
bench/pipeline.py); Jinja2 compiles a template to Python and renders the same tile several times
faster. The pages stay in Django's language (forms, CSRF, the admin's look) and put tiles in with
``{% tile %}`` (``monitor_tags``), which calls :func:`monitor.tiles.render` as the broadcaster
does: one partial per tile, for the first render and the live update alike.

The output is byte for byte what Django's templates wrote: values are escaped with Django's
rules (``finalize``), numbers are never localised (the tiles' numbers are ids, counts and epoch
seconds), and the filters below are Django's own functions where Django has one.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from django.template.defaultfilters import floatformat, pluralize, stringformat, truncatechars
from django.utils import dateformat, timezone
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from .templatetags.monitor_tags import (
    denied_hint,
    level_icon,
    level_word,
    state_class,
    state_icon,
    state_word,
    tile_url,
    timer,
)

# Characters of one value a tile shows at most.
MAX_SHOWN = 200


def escape(value: Any) -> str:
    """Every ``{{ … }}`` of a tile goes through here: Django's escaping (``&#x27;`` for a quote,
    not Jinja2's ``&#39;``), so that a tile is the same bytes whichever engine wrote it, and safe
    strings (``__html__``: Django's SafeString, Jinja2's Markup) as they are.

    A value longer than :data:`MAX_SHOWN` characters is cut there, with an ellipsis.

    Jinja2's own autoescaping is off because this does it: with both, each value was escaped
    here, then wrapped and checked again by Jinja2, a fifth of a tile's rendering time.
    """
    if hasattr(value, "__html__"):
        return value.__html__()
    text = str(value)
    if len(text) > MAX_SHOWN:
        # What the PBX names may be of any length (a 600 kB queue name was seen): a tile shows
        # the start of it, the API the whole. A tile stays small enough for any message.
        return html.escape(text[: MAX_SHOWN - 1]) + "&#8230;"
    return html.escape(text)


def epoch(value: datetime | None) -> str:
    """``|date:"U"``: whole seconds since 1970, "" for no time."""
    return "" if value is None else str(int(value.timestamp()))


def clock(value: datetime | None, fmt: str = "H:i") -> str:
    """``|time:fmt`` in the current time zone, "" for no time."""
    return "" if value is None else dateformat.time_format(timezone.localtime(value), fmt)


def seconds(value: int) -> str:
    """``75`` -> ``1:15``: a wait as the browser's timers write a duration."""
    minutes, secs = divmod(max(0, int(value)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@pass_context  # not worked out when the template compiles: the script prefix is per request
def url(context: Context, name: str, *args: object) -> str:
    """``'monitor:queue'|url(queue.pk)``: ``{% url %}``, remembered (``tile_url``)."""
    return tile_url(name, *args)


def environment(**options: Any) -> Environment:
    options.setdefault("keep_trailing_newline", True)  # as Django's templates do
    options["autoescape"] = False  # escape() does it, for every output: see there
    env = Environment(finalize=escape, **options)
    env.filters.update(
        state_class=state_class,
        state_word=state_word,
        state_icon=state_icon,
        level_word=level_word,
        level_icon=level_icon,
        pluralize=pluralize,
        floatformat=floatformat,
        stringformat=stringformat,
        truncatechars=truncatechars,
        epoch=epoch,
        clock=clock,
        seconds=seconds,
        # Filters rather than functions: Jinja2 calls a filter directly, a function through
        # its context's call(), which cost as much as the rest of an extension tile.
        url=url,
        timer=timer,
        denied_hint=denied_hint,
    )
    return env
