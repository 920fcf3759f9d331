"""The day's pages in Chromium against the live Daphne: the Today page with its charts drawn
under the Content-Security-Policy, the agent board's sort surviving a live update, and a CSV
download.

The history rows are written here as the recorder writes them (tests/support/history.py); the
live update goes out as the worker's publish does it, through the Redis layer to Daphne. The
screenshots in docs/ (today-1920.png, today-360.png, agents-1920.png, agents-360.png) are
copied from test-artifacts/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitor.history_models import AgentState, Outcome
from monitor.models import DeviceState, Queue, QueueMember
from tests.support.history import Day, day_holding_the_last

from .test_csp import WATCH

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"


def busy_day(pbx) -> Day:
    """Since two hours: 240 calls in two queues (some abandoned, short ones among them), the
    agents' spans, a pause for lunch, and a gap of three minutes."""
    day_holding_the_last(hours=2)
    now = timezone.now()
    start = now - dt.timedelta(hours=2)
    day = Day(pbx)
    sales = Queue.objects.create(pbx=pbx, name="sales")
    for n in range(3, 9):
        QueueMember.objects.create(
            pbx=pbx,
            queue=sales,
            interface=f"PJSIP/100{n}",
            name=f"Agent 100{n}",
            status=DeviceState.NOT_INUSE,
        )
    rng = random.Random(4)
    agents = [f"PJSIP/100{n}" for n in range(1, 9)]
    for n in range(240):
        entered = start + dt.timedelta(seconds=30 * n)
        queue = "6500" if n % 3 else "sales"
        if rng.random() < 0.82:
            day.call(
                queue,
                entered,
                Outcome.ANSWERED,
                wait=rng.randint(2, 50),
                talk=rng.randint(20, 200),
                agent=rng.choice(agents),
            )
        else:
            day.call(queue, entered, Outcome.ABANDONED, wait=rng.randint(1, 60))
    half_hour, lunch = now - dt.timedelta(minutes=30), now - dt.timedelta(minutes=20)
    for agent in agents:
        day.span("6500", agent, AgentState.AVAILABLE, start, half_hour)
        day.span(
            "6500", agent, AgentState.IN_CALL, half_hour, lunch if agent == "PJSIP/1002" else None
        )
    day.span("6500", "PJSIP/1002", AgentState.PAUSED, lunch, None, "lunch")
    day.gap(now - dt.timedelta(minutes=62), now - dt.timedelta(minutes=59))
    return day


def push_day(pbx_id: int) -> None:
    """A flush that wrote history rows, published as the worker does, and its day's render
    (a task of the broadcaster's, debounced) awaited, in a loop of its own."""
    from monitor import broadcast

    async def main() -> None:
        await broadcast.publish(pbx_id, {"pbx": pbx_id, "history": True})
        others = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.gather(*others)

    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not errors, errors


def test_today_page_draws_its_charts_under_the_csp(open_page, bob, pbx, artifacts):
    busy_day(pbx)
    page = open_page(bob, "/today/", viewport={"width": 1920, "height": 1080})
    page.context.add_init_script(WATCH)
    page.reload()
    expect(page.locator(LIVE)).to_be_attached()
    section = page.locator(f"#today-pbx-{pbx.pk}")
    expect(section.locator("svg.chart__svg")).to_have_count(3)
    assert section.locator("rect.chart__answered").count() >= 8  # two hours of quarters
    assert section.locator("rect.chart__waiting").count() >= 1
    expect(section.locator("polyline.chart__sl")).to_have_count(1)
    expect(section.locator(".gap")).to_have_count(1)
    assert section.locator(".gap").first.inner_text().startswith("no data ")
    box = section.locator(f"#chart-calls-{pbx.pk} svg").bounding_box()
    assert box["width"] > 500 and box["height"] > 100  # drawn, at a size a TV shows
    assert page.evaluate("window.__csp") == []
    page.screenshot(path=str(artifacts / "today-1920.png"))
    phone = open_page(bob, "/today/", viewport={"width": 360, "height": 780})
    expect(phone.locator(LIVE)).to_be_attached()
    # The page itself does not scroll sideways; the tables and charts scroll in their boxes.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.screenshot(path=str(artifacts / "today-360.png"))


def answered_column(page, pbx_id: int) -> list[int]:
    cells = page.locator(f"#agent-board-{pbx_id} tbody tr td:nth-child(5)")
    return [int(v) for v in cells.all_inner_texts()]


def test_agent_board_sort_survives_a_live_update(open_page, bob, pbx, redis_layer, artifacts):
    day = busy_day(pbx)
    page = open_page(bob, "/agents/", viewport={"width": 1920, "height": 1080})
    expect(page.locator(LIVE)).to_be_attached()
    board = page.locator(f"#agent-board-{pbx.pk}")
    expect(board.locator("tbody tr")).to_have_count(8)
    board.get_by_role("button", name="Answered today").click()
    expect(board.locator("thead th").nth(4)).to_have_attribute("aria-sort", "descending")
    counts = answered_column(page, pbx.pk)
    assert counts == sorted(counts, reverse=True)
    last = board.locator("tbody tr").last
    interface = last.get_attribute("data-key")
    # The agent at the bottom answers enough calls to lead: after the update it is on top,
    # the column still sorted, and the heading still says so.
    for n in range(counts[0] - counts[-1] + 1):
        day.call(
            "6500",
            timezone.now() - dt.timedelta(seconds=n),
            Outcome.ANSWERED,
            wait=3,
            talk=5,
            agent=interface,
        )
    push_day(pbx.pk)

    expect(board.locator("tbody tr").first).to_have_attribute("data-key", interface)
    counts = answered_column(page, pbx.pk)
    assert counts == sorted(counts, reverse=True)
    expect(board.locator("thead th").nth(4)).to_have_attribute("aria-sort", "descending")
    expect(board.locator("tbody tr[data-key='PJSIP/1002'] td").nth(2)).to_have_text("lunch")
    page.screenshot(path=str(artifacts / "agents-1920.png"))
    phone = open_page(bob, "/agents/", viewport={"width": 360, "height": 780})
    expect(phone.locator(LIVE)).to_be_attached()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.screenshot(path=str(artifacts / "agents-360.png"))


def test_csv_download_in_chromium(open_page, bob, pbx, tmp_path):
    busy_day(pbx)
    page = open_page(bob, "/today/")
    with page.expect_download() as download:
        page.get_by_role("link", name="queues").click()
    path = tmp_path / "queues.csv"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("fcmdash-queues-")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpbx,queue,offered,")
    lines = data.decode("utf-8-sig").splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == ["6500", "sales"]
    assert sum(int(line.split(",")[2]) for line in lines[1:]) == 240
