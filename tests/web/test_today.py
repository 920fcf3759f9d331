"""The Today page, the agent board, the day's CSV downloads and ``/api/v1/today``: who may see
them, and that they show the numbers of the calls made here (tallied by the test itself)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone

from monitor.history.days import day_of
from monitor.history_models import AgentState, Outcome, ReportSettings
from monitor.web_models import ApiToken
from tests.support.history import Day, day_holding_the_last

PAGES = ["/today/", "/agents/", "/today/queues.csv", "/today/agents.csv", "/today/calls.csv"]


@pytest.fixture
def day(pbx) -> Day:
    """Today on the fixture's PBX: queue 6500, three answered (one by 1001 still talking), two
    abandoned (one short), a gap; 1001 in a call since 10 minutes, 1002 paused for lunch."""
    day_holding_the_last(hours=1)
    now = timezone.now()
    today = Day(pbx)
    start = now - dt.timedelta(minutes=30)
    today.call("6500", start, Outcome.ANSWERED, wait=12, talk=100, agent="PJSIP/1001")
    today.call("6500", start, Outcome.ANSWERED, wait=40, talk=50, agent="PJSIP/1002")
    today.call(
        "6500",
        now - dt.timedelta(minutes=10, seconds=15),
        Outcome.ANSWERED,
        wait=15,
        agent="PJSIP/1001",
        done=False,
    )
    today.call("6500", start, Outcome.ABANDONED, wait=3)
    today.call("6500", start, Outcome.ABANDONED, wait=30)
    today.call("6500", start, Outcome.ANSWERED, wait=5, talk=5, agent='=HYPERLINK("x")')
    today.span("6500", "PJSIP/1001", AgentState.IN_CALL, now - dt.timedelta(minutes=10), None)
    today.span(
        "6500", "PJSIP/1002", AgentState.PAUSED, now - dt.timedelta(minutes=5), None, "lunch"
    )
    today.gap(now - dt.timedelta(minutes=20), now - dt.timedelta(minutes=17))
    return today


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_goes_to_login_and_stranger_gets_403(url, stranger, day):
    assert Client().get(url).status_code == 302
    assert stranger.get(url).status_code == 403


def test_viewer_sees_todays_queue_numbers_gaps_and_charts(viewer, day):
    response = viewer.get("/today/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="today-pbx-' in html and "partial" in html
    assert "no data " in html  # the gap, as clock times
    row = html[html.index("today-queue-") :]
    row = row[: row.index("</tr>")]
    # offered 6, answered 4, abandoned 2, short 1; within 20 s: 3 of (4 + 2 - 1) = 60.0%
    cells = [c.split('"', 1)[0] for c in row.split('data-value="')[1:]]
    assert cells[:9] == ["6500", "6", "4", "2", "1", "0", "0", "3", "60.0"]
    assert html.count('<svg class="chart__svg"') == 3
    assert 'class="chart__answered"' in html and 'class="chart__gap"' in html
    assert "/today/queues.csv?date=" in html


def test_a_past_day_and_the_last_24_hours_are_not_live(viewer, day):
    yesterday = day_of(ReportSettings.current(), timezone.now()) - dt.timedelta(days=1)
    html = viewer.get(f"/today/?date={yesterday}").content.decode()
    assert "page=status" in html and "No calls recorded." not in html.split("Queues")[0]
    assert "today-queue-" in html  # the queue is listed, with nothing in it
    assert "page=today" in viewer.get("/today/").content.decode()
    assert "last 24 hours" in viewer.get("/today/?date=last24").content.decode()


def test_agent_board_lists_every_member_with_state_and_todays_numbers(viewer, day):
    html = viewer.get("/agents/").content.decode()
    rows = {r.split('data-key="', 1)[1].split('"', 1)[0]: r for r in html.split("<tr id=")[1:]}
    assert set(rows) == {"PJSIP/1001", "PJSIP/1002"}
    assert "in a call" in rows["PJSIP/1001"] and "data-since=" in rows["PJSIP/1001"]
    assert "paused" in rows["PJSIP/1002"] and "lunch" in rows["PJSIP/1002"]
    assert '<td data-value="2">2</td>' in rows["PJSIP/1001"]  # answered today
    assert 'class="sort"' in html


def read_csv(response) -> list[dict[str, str]]:
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_csv_downloads_are_attachments_safe_for_excel(viewer, day):
    response = viewer.get("/today/queues.csv")
    assert response["Content-Disposition"].startswith('attachment; filename="fcmdash-queues-')
    [queue] = read_csv(response)
    assert (queue["queue"], queue["offered"], queue["service_level_pct"]) == ("6500", "6", "60.0")
    agents = {a["interface"]: a for a in read_csv(viewer.get("/today/agents.csv"))}
    assert agents["PJSIP/1002"]["answered"] == "1" and agents["PJSIP/1002"]["talk_s"] == "50"
    assert "'=HYPERLINK" in "".join(agents)  # a formula is text
    calls = read_csv(viewer.get("/today/calls.csv"))
    assert len(calls) == 6 and {c["outcome"] for c in calls} == {"answered", "abandoned"}
    assert any(c["agent"].startswith("'=") for c in calls)


def test_api_today_gives_the_issues_json(viewer, day, pbx):
    data = viewer.get("/api/v1/today").json()
    assert set(data) == {"day", "partial", "gaps", "queues", "agents"}
    assert data["day"] == day_of(ReportSettings.current(), timezone.now()).isoformat()
    assert data["partial"] is True and len(data["gaps"]) == 1
    [queue] = data["queues"]
    assert set(queue) == {
        "pbx",
        "queue",
        "offered",
        "answered",
        "abandoned",
        "short_abandoned",
        "timed_out",
        "answered_within_sl",
        "sl_seconds",
        "service_level_pct",
        "avg_wait_s",
        "max_wait_s",
        "avg_talk_s",
    }
    assert (queue["pbx"], queue["offered"], queue["answered_within_sl"]) == ("Main", 6, 3)
    assert queue["avg_talk_s"] == round((100 + 50 + 5) / 3, 1)
    agent = next(a for a in data["agents"] if a["interface"] == "PJSIP/1002")
    assert set(agent) == {
        "pbx",
        "interface",
        "name",
        "answered",
        "missed",
        "talk_s",
        "paused_s",
        "paused_by_reason",
    }
    assert agent["paused_by_reason"]["lunch"] == agent["paused_s"] >= 299


def test_api_today_with_a_token_a_date_and_refusals(pbx, day):
    token = ApiToken(name="reports")
    secret = token.issue()
    token.save()
    url = "/api/v1/today"
    assert Client().get(url).status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    today = day_of(ReportSettings.current(), timezone.now())
    old = Client().get(url, {"date": str(today - dt.timedelta(days=1))}, **auth).json()
    assert old["queues"][0]["offered"] == 0 and old["partial"] is False
    assert Client().get(url, {"date": "yesterday"}, **auth).status_code == 400
    assert (
        Client().get(url, {"date": str(today - dt.timedelta(days=400))}, **auth).status_code == 400
    )


def test_a_number_the_pbx_cannot_give_is_na_and_null(viewer, day, monkeypatch):
    from monitor.history import report

    why = "the FCM630A sends no AgentRingNoAnswer"
    monkeypatch.setattr(report, "missing_numbers", lambda pbx: {"missed": why})
    html = viewer.get("/today/").content.decode()
    assert f'<span class="na" title="{why}">n/a</span>' in html
    agents = viewer.get("/api/v1/today").json()["agents"]
    assert {a["missed"] for a in agents} == {None}
