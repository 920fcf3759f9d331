"""A kiosk screen of the day's views (``?show=today``, ``agents`` or both) on ``/kiosk/`` and
on a kiosk link: the Today tile and the agent board, with sockets that join their groups."""

from __future__ import annotations

import datetime as dt

from django.http import QueryDict
from django.test import Client
from django.utils import timezone

from monitor import consumers
from monitor.history_models import Outcome
from monitor.web_models import KioskLink
from tests.support.history import Day


def test_kiosk_shows_the_day_and_the_agent_board(viewer, pbx, bob):
    Day(pbx).call("6500", timezone.now() - dt.timedelta(minutes=1), Outcome.ABANDONED, wait=9)
    html = viewer.get("/kiosk/?show=today,agents").content.decode()
    assert f'id="today-pbx-{pbx.pk}"' in html and f'id="agents-pbx-{pbx.pk}"' in html
    assert "page=today,agents" in html and 'id="kiosk-board"' not in html
    plan = consumers._live_plan(bob, QueryDict(f"pbx={pbx.pk}&readonly=1&page=today,agents"))
    assert plan.groups == [f"pbx.{pbx.pk}.today", f"pbx.{pbx.pk}.agents"]
    board = viewer.get("/kiosk/").content.decode()
    assert 'id="kiosk-board"' in board and "today-pbx-" not in board


def test_a_kiosk_link_shows_the_agent_board(pbx):
    link = KioskLink(name="Hall TV", pbx=pbx)
    token = link.issue()
    link.save()
    html = Client().get(f"/kiosk/{token}/?show=agents").content.decode()
    assert f'id="agents-pbx-{pbx.pk}"' in html and "today-pbx-" not in html
    assert f'ws-connect="/ws/kiosk/{token}/?show=agents"' in html
    plan = consumers._kiosk_plan(token, ["agents"])
    assert plan.groups == [f"pbx.{pbx.pk}.agents", f"kiosk.{link.pk}"]
