"""Kiosk links: a read-only wallboard without a login, until revoked."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from monitor.web_models import KioskLink

pytestmark = pytest.mark.django_db


def make_link(**kwargs) -> tuple[KioskLink, str]:
    link = KioskLink(name="Hall TV", **kwargs)
    token = link.issue()
    link.save()
    return link, token


def test_kiosk_link_shows_the_wallboard_without_login(pbx):
    link, token = make_link()
    response = Client().get(f"/kiosk/{token}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'ws-connect="/ws/kiosk/{token}/"' in html
    assert "Agent 1001" in html and "Hang up" not in html and "Call&#8230;" not in html
    link.refresh_from_db()
    assert link.last_used_at is not None


def test_revoked_or_unknown_kiosk_link_is_404(pbx):
    _, token = make_link(revoked_at=timezone.now())
    assert Client().get(f"/kiosk/{token}/").status_code == 404
    assert Client().get("/kiosk/kiosk_unknown/").status_code == 404


def test_kiosk_link_limited_to_one_queue(pbx):
    _, token = make_link(pbx=pbx, queues="6501")
    html = Client().get(f"/kiosk/{token}/").content.decode()
    assert "queue-" not in html.split('id="queues-pbx-')[1].split("</div>")[0]


def test_token_is_stored_as_a_hash_only(db):
    link, token = make_link()
    assert token not in link.token_hash and len(link.token_hash) == 64
    assert KioskLink.find(token) == link


def test_kiosk_link_limited_to_a_queue_shows_it_and_its_members_only(pbx):
    from monitor.models import Queue, QueueMember

    other = Queue.objects.create(pbx=pbx, name="6501")
    QueueMember.objects.create(pbx=pbx, queue=other, interface="PJSIP/1003")
    _, token = make_link(pbx=pbx, queues="6501")
    html = Client().get(f"/kiosk/{token}/").content.decode()
    assert f'id="queue-{other.pk}"' in html
    assert f'id="queue-{Queue.objects.get(name="6500").pk}"' not in html
    assert ">1003<" in html and ">1001<" not in html and ">1002<" not in html


def test_kiosk_link_of_a_switched_off_pbx_shows_nothing(pbx):
    _, token = make_link(pbx=pbx)
    pbx.enabled = False
    pbx.save()
    html = Client().get(f"/kiosk/{token}/").content.decode()
    assert "Agent 1001" not in html and "no PBX is switched on for this screen" in html


def test_turn_time_comes_from_the_link_or_the_query(pbx, viewer):
    _, token = make_link(turn_seconds=20)
    assert 'data-turn="20"' in Client().get(f"/kiosk/{token}/").content.decode()
    assert 'data-turn="15"' in viewer.get("/kiosk/").content.decode()
    assert 'data-turn="2"' in viewer.get("/kiosk/?turn=1").content.decode()
    html = viewer.get("/kiosk/?queue=6500&turn=30").content.decode()
    assert 'data-turn="30"' in html and "&amp;board=1&amp;queue=6500" in html
