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
