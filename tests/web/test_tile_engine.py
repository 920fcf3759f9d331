"""The tile partials' engine (``monitor/jinja.py``): Jinja2 with Django's escaping.

Its own autoescaping is off and ``finalize`` escapes every output instead, so these tests make
sure that nothing a PBX or a person typed reaches a page unescaped, on every kind of tile.
"""

from __future__ import annotations

import html

import pytest
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from monitor import jinja, tiles
from monitor.history.days import today_window
from monitor.history.sections import agent_board, today_section
from monitor.history_models import AgentState, Outcome, ReportSettings
from monitor.models import Call, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from tests.support.history import Day

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('x')</script> & \"Zo\u00eb\""


def test_escape_is_djangos_and_leaves_safe_strings_alone():
    assert jinja.escape(HOSTILE) == escape(HOSTILE)
    assert jinja.escape(mark_safe("<b>ok</b>")) == "<b>ok</b>"
    assert jinja.escape(None) == "None"  # as Django's templates print it
    assert jinja.escape(7) == "7"


def hostile_rows(pbx: Pbx) -> dict[str, object]:
    Pbx.objects.filter(pk=pbx.pk).update(name=HOSTILE, last_error=HOSTILE, connected=False)
    Endpoint.objects.filter(pbx=pbx).update(name=HOSTILE)
    Queue.objects.filter(pbx=pbx).update(display_name=HOSTILE)
    QueueMember.objects.filter(pbx=pbx).update(name=HOSTILE, paused=True, paused_reason=HOSTILE)
    QueueCaller.objects.filter(pbx=pbx).update(caller_id_name=HOSTILE)
    Call.objects.filter(pbx=pbx).update(
        caller_id_name=HOSTILE, connected_name=HOSTILE, queue=HOSTILE[:80]
    )
    pbx.refresh_from_db()
    day, now, report = Day(pbx), timezone.now(), ReportSettings.current()
    day.call(HOSTILE, now, Outcome.ANSWERED, wait=3, talk=9, agent=HOSTILE)
    day.span(HOSTILE, HOSTILE, AgentState.PAUSED, now, None, reason=HOSTILE)
    return {
        "today": today_section(pbx, today_window(report, now), now, report),
        "agents": agent_board(pbx, now, report),
        "pbx": pbx,
        "endpoint": tiles.load_endpoints(Endpoint.objects.filter(pbx=pbx))[0],
        "queue": tiles.load_queues(Queue.objects.filter(pbx=pbx))[0],
        "member": tiles.load_members(QueueMember.objects.filter(pbx=pbx))[0],
        "caller": QueueCaller.objects.filter(pbx=pbx).first(),
        "call": tiles.load_conversations(Call.objects.filter(pbx=pbx).select_related("pbx"))[0],
    }


@pytest.mark.parametrize("kind", sorted(tiles.TEMPLATES))
@pytest.mark.parametrize("controls", [False, True])
def test_every_tile_escapes_what_the_pbx_and_people_typed(pbx, kind, controls):
    rows = hostile_rows(pbx)
    out = tiles.render(kind, rows[kind], controls=controls)
    assert "<script>" not in out
    assert escape(HOSTILE) in out
    # and the page shows the text itself, not doubly escaped
    assert "&amp;lt;" not in out
    assert HOSTILE in html.unescape(out)


def test_wallboard_and_its_tiles_escape_alike(viewer, pbx):
    hostile_rows(pbx)
    page = viewer.get("/").content.decode()
    assert "<script>alert" not in page
    assert escape(HOSTILE) in page


def test_a_huge_value_from_the_pbx_is_cut_on_the_tile_and_whole_in_the_api(pbx, viewer):
    from monitor import broadcast
    from monitor.jinja import MAX_SHOWN

    name = "Q" * 600_000  # as a PBX once sent
    Queue.objects.filter(pbx=pbx).update(name=name)
    queue = Queue.objects.get(pbx=pbx)
    html = broadcast.render_summary(pbx.pk, {"pbx": pbx.pk, "full": True})
    assert max(len(h) for h in html.values()) < 20_000  # the whole PBX, tiles and all
    card = tiles.render("queue", tiles.load_queues([queue])[0], controls=False)
    assert "Q" * (MAX_SHOWN - 1) + "&#8230;" in card and "Q" * MAX_SHOWN not in card
    assert [q["name"] for q in viewer.get("/api/v1/state").json()["queues"]] == [name]
