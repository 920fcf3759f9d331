"""Live updates of the day's pages: a flush that wrote history rows (the summary's
``"history"``) re-renders the PBX's Today tile, agent board and queue cards, at most every
``DAY_INTERVAL`` seconds per PBX, for the sockets of today's pages."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.http import QueryDict
from django.utils import timezone

from monitor import broadcast, consumers
from monitor.history_models import Outcome
from tests.support.history import Day
from tests.web.test_broadcast import RecordingLayer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def layer(monkeypatch):
    recording = RecordingLayer()
    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: recording)
    monkeypatch.setattr(broadcast, "DAY_INTERVAL", 0.5)
    return recording


async def until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def day_items(layer: RecordingLayer, view: str, pbx_id: int) -> list[str]:
    group = f"pbx.{pbx_id}.{view}"
    return [m["items"][0][2] for g, m in layer.sent if g == group]


async def test_history_rows_push_the_day_tiles_debounced(pbx, layer, monkeypatch):
    renders = []
    render = broadcast.render_day_messages
    monkeypatch.setattr(
        broadcast, "render_day_messages", lambda pbx_id: renders.append(pbx_id) or render(pbx_id)
    )
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "history": True})
    await until(lambda: day_items(layer, "agents", pbx.pk))
    [today] = day_items(layer, "today", pbx.pk)
    assert today.startswith(f'<section id="today-pbx-{pbx.pk}"')
    assert "No agent activity recorded." in today
    assert day_items(layer, "agents", pbx.pk)[0].startswith(f'<section id="agents-pbx-{pbx.pk}"')
    # Three flushes with rows, close together: one render, which has all their rows.
    day = Day(pbx)
    for n in range(3):
        await database_sync_to_async(day.call)(
            "6500", timezone.now() - dt.timedelta(seconds=n), Outcome.ABANDONED, wait=9
        )
        await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "history": True})
    await until(lambda: len(day_items(layer, "today", pbx.pk)) == 2)
    assert '<td data-value="3">3</td>' in day_items(layer, "today", pbx.pk)[1]  # abandoned
    board = [m for g, m in layer.sent if g == f"pbx.{pbx.pk}.board"]
    assert any("Abandoned" in item[2] for m in board for item in m["items"])
    assert renders == [pbx.pk, pbx.pk] and not broadcast._day_pending
    # Nothing changed since: the next render sends no day tile.
    await broadcast.publish(pbx.pk, {"pbx": pbx.pk, "history": True})
    await broadcast._day_pending[pbx.pk]  # the render, to its end
    assert len(renders) == 3 and len(day_items(layer, "today", pbx.pk)) == 2


def test_todays_pages_join_the_day_groups_and_a_past_day_does_not(pbx, bob, viewer):
    plan = consumers._live_plan(bob, QueryDict(f"pbx={pbx.pk}&readonly=1&page=today"))
    assert plan.groups == [f"pbx.{pbx.pk}.today"]
    plan = consumers._live_plan(bob, QueryDict(f"pbx={pbx.pk}&page=agents"))
    assert plan.groups == [f"pbx.{pbx.pk}.agents"]
    assert "page=today" in viewer.get("/today/").content.decode()
    assert "page=agents" in viewer.get("/agents/").content.decode()
    assert "page=status" in viewer.get("/today/?date=last24").content.decode()
