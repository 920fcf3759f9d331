"""Calls as conversations on the pages: one row per call (every channel sharing a linkedid),
both parties, the queue, direction, state, duration and wait; owner / viewer / stranger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from monitor import tiles
from monitor.models import Call, Endpoint, Queue

pytestmark = pytest.mark.django_db

ROW = 'class="row row--call '


def rows_in(html: str) -> int:
    return html.count(ROW)


def add_internal_call(pbx) -> None:
    """1002 calls 1003 through a Local channel pair (a follow-me): four channels, one call."""
    start = Call.objects.get(uniqueid="1700000000.1").started_at + timedelta(seconds=30)
    legs = [
        ("1700000001.1", "PJSIP/1002-00000011", "1002", "Agent 1002", "1002"),
        ("1700000001.2", "Local/1003@follow-00000001;1", "", "", ""),
        ("1700000001.3", "Local/1003@follow-00000001;2", "", "", ""),
        ("1700000001.4", "PJSIP/1003-00000012", "1003", "", "1003"),
    ]
    for i, (uid, channel, num, name, resource) in enumerate(legs):
        Call.objects.create(
            pbx=pbx,
            uniqueid=uid,
            linkedid="1700000001.1",
            channel=channel,
            state="Ringing" if resource == "1003" else "Up",
            caller_id_num=num,
            caller_id_name=name,
            started_at=start + timedelta(seconds=i),
            endpoint_resource=resource,
        )


def test_calls_page_shows_one_row_per_call_with_both_parties(viewer, pbx):
    add_internal_call(pbx)
    html = viewer.get(reverse("monitor:calls")).content.decode()
    assert Call.objects.filter(pbx=pbx).count() == 6
    assert rows_in(html) == 2
    one = Endpoint.objects.get(pbx=pbx, resource="1001")
    queue = Queue.objects.get(pbx=pbx, name="6500")
    inbound = html[html.index(f'id="call-{pbx.pk}-1700000000_2"') :]
    inbound = inbound[: inbound.index("</div>")]
    assert "Customer" in inbound and "0309876543" in inbound  # the caller, from the trunk
    assert f'href="/extensions/{one.pk}/">1001</a>' in inbound and "Agent 1001" in inbound
    assert f'via <a href="/queues/{queue.pk}/">6500</a>' in inbound
    assert 'data-direction="inbound"' in inbound and ">talking<" in inbound
    assert "waited 0:15" in inbound
    internal = html[html.index(f'id="call-{pbx.pk}-1700000001_1"') :]
    internal = internal[: internal.index("</div>")]
    assert 'data-direction="internal"' in internal and ">ringing<" in internal
    assert "Local/" not in internal  # the Local halves are never a party
    assert ">1002</a>" in internal and ">1003</a>" in internal and "not answered" in internal


def test_owner_gets_one_hang_up_button_per_call(owner, pbx):
    add_internal_call(pbx)
    html = owner.get(reverse("monitor:calls")).content.decode()
    assert html.count(">Hang up</button>") == 2
    caller = Call.objects.get(uniqueid="1700000000.2")  # the trunk leg started the call
    assert f'hx-vals=\'{{"call": "{caller.pk}"}}\'' in html
    assert 'hx-confirm="Hang up the call from 0309876543 to 1001?"' in html


def test_viewer_gets_no_hang_up_button(viewer, pbx):
    assert ">Hang up</button>" not in viewer.get(reverse("monitor:calls")).content.decode()


def test_stranger_gets_403_on_the_calls_page(stranger, pbx):
    assert stranger.get(reverse("monitor:calls")).status_code == 403


def test_extension_page_shows_its_calls_as_conversations(viewer, pbx):
    add_internal_call(pbx)
    three = Endpoint.objects.get(pbx=pbx, resource="1003")
    html = viewer.get(reverse("monitor:extension", args=[three.pk])).content.decode()
    assert rows_in(html) == 1 and f'id="call-{pbx.pk}-1700000001_1"' in html
    assert "Agent 1002" in html  # the other party, with its name


def test_queue_page_shows_the_calls_that_came_through_it(viewer, stranger, pbx):
    add_internal_call(pbx)
    queue = Queue.objects.get(pbx=pbx, name="6500")
    url = reverse("monitor:queue", args=[queue.pk])
    html = viewer.get(url).content.decode()
    assert f'id="queue-{queue.pk}-calls"' in html
    assert rows_in(html) == 1 and f'id="call-{pbx.pk}-1700000000_2"' in html
    assert stranger.get(url).status_code == 403


def test_page_row_is_the_live_update_row(owner, pbx):
    conversation = tiles.load_conversations(tiles.with_pbx(pbx.calls.all(), pbx))[0]
    html = owner.get(reverse("monitor:calls")).content.decode()
    assert tiles.render("call", conversation, controls=True) in html


def test_a_row_without_a_linkedid_is_its_own_call(viewer, pbx):
    Call.objects.create(
        pbx=pbx,
        uniqueid="1700000002.1",
        channel="PJSIP/1002-00000021",
        started_at=Call.objects.first().started_at,
        endpoint_resource="1002",
    )
    html = viewer.get(reverse("monitor:calls")).content.decode()
    assert rows_in(html) == 2 and f'id="call-{pbx.pk}-1700000002_1"' in html


def test_a_call_with_no_party_yet_names_its_channel(viewer, pbx):
    # An Originate to a Local channel: until the Local half dials someone, nobody to show.
    Call.objects.create(
        pbx=pbx,
        uniqueid="1700000003.1",
        linkedid="1700000003.1",
        channel="Local/1002@from-internal-00000003;1",
        started_at=Call.objects.first().started_at,
    )
    html = viewer.get(reverse("monitor:calls")).content.decode()
    assert rows_in(html) == 2
    assert '<span class="row__sub">Local/1002@from-internal-00000003;1</span>' in html
