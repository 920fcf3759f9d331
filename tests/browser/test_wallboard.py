"""The pages in Chromium: states, live pushes into two open pages, the stale banner, kiosk
links and their revocation, and what a viewer may click."""

from __future__ import annotations

import re
import threading

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitor import broadcast
from monitor.models import Call, DeviceState, Endpoint
from monitor.web_models import KioskLink

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"


def test_wallboard_shows_states_legend_and_timers(open_page, alice, pbx, artifacts):
    page = open_page(alice, "/")
    page.wait_for_selector(LIVE)
    tile = page.locator(f"#endpoint-{Endpoint.objects.get(resource='1001').pk}")
    expect(tile).to_contain_text("On a call")
    expect(tile).to_contain_text("Customer (0309876543)")
    expect(tile.locator(".timer")).to_have_text(re.compile(r"^2:0\d$"))
    expect(page.locator(".legend")).to_contain_text("Queue critical")
    expect(page.locator(".card")).to_contain_text("Waiting")
    page.screenshot(path=str(artifacts / "wallboard.png"), full_page=True)


def test_change_pushed_by_publish_appears_in_two_open_pages(open_page, publish, alice, bob, pbx):
    pages = [open_page(alice, "/"), open_page(bob, "/")]
    for page in pages:
        page.wait_for_selector(LIVE)
    endpoint = Endpoint.objects.get(resource="1002")
    endpoint.state = DeviceState.RINGING
    endpoint.save()
    added = Endpoint.objects.create(pbx=pbx, resource="1004", state=DeviceState.NOT_INUSE)
    gone = Endpoint.objects.get(resource="1003")
    gone_pk = gone.pk
    gone.delete()
    publish(
        pbx.pk,
        {"pbx": pbx.pk, "endpoints": [endpoint.pk, added.pk], "endpoints_removed": [gone_pk]},
    )
    for page in pages:
        expect(page.locator(f"#endpoint-{endpoint.pk}")).to_contain_text("Ringing")
        expect(page.locator(f"#endpoint-{added.pk}")).to_contain_text("1004")
        expect(page.locator(f"#endpoint-{gone_pk}")).to_have_count(0)
    # The new tile went into its place in the grid, after 1002.
    order = pages[1].locator(f"#endpoints-pbx-{pbx.pk} .tile__ext").all_text_contents()
    assert order == ["1001", "1002", "1004"]


def test_stale_banner_greys_the_pbx(open_page, publish, bob, pbx):
    page = open_page(bob, "/")
    page.wait_for_selector(LIVE)
    pbx.connected = False
    pbx.stale_since = timezone.now()
    pbx.last_error = "connection to 127.0.0.1:7777 lost"
    pbx.save()
    publish(pbx.pk, {"pbx": pbx.pk, "status": True})
    banner = page.locator(f"#pbx-status-{pbx.pk}")
    expect(banner).to_contain_text(
        f"PBX Main unreachable since {timezone.localtime(pbx.stale_since):%H:%M}"
    )
    expect(banner).to_contain_text("data as of")
    opacity = page.locator(".tile").first.evaluate("el => getComputedStyle(el).opacity")
    assert float(opacity) < 1


def test_kiosk_link_works_until_revoked(open_page, redis_layer, pbx, artifacts):
    from monitor.admin import close_kiosk_sockets

    link = KioskLink(name="Hall TV")
    token = link.issue()
    link.save()
    page = open_page(None, f"/kiosk/{token}/", viewport={"width": 1920, "height": 1080})
    page.wait_for_selector(LIVE)
    expect(page.locator(".tile")).to_have_count(3)
    expect(page.locator("button")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")
    page.screenshot(path=str(artifacts / "kiosk.png"))
    link.revoked_at = timezone.now()
    link.save()
    # From a thread, as the admin's action runs: async_to_sync refuses Playwright's loop here.
    thread = threading.Thread(target=close_kiosk_sockets, args=(link.pk,))
    thread.start()
    thread.join(10)
    page.wait_for_function("() => document.title.includes('Not Found')")


def test_viewer_sees_no_buttons_and_owner_does(open_page, alice, bob, pbx):
    viewer = open_page(bob, "/calls/")
    viewer.wait_for_selector(LIVE)
    expect(viewer.get_by_role("button", name="Hang up")).to_have_count(0)
    owner = open_page(alice, "/calls/")
    owner.wait_for_selector(LIVE)
    expect(owner.get_by_role("button", name="Hang up")).to_have_count(1)  # one call, two legs


def test_hang_up_asks_first_and_shows_the_answer(open_page, alice, pbx):
    pbx.connected = False  # no worker in these tests: the answer comes without one
    pbx.save()
    page = open_page(alice, "/calls/")
    page.wait_for_selector(LIVE)
    messages = []
    page.on("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.locator(f"#call-{pbx.pk}-1700000000_2").get_by_role("button", name="Hang up").click()
    expect(page.locator("#action-result")).to_contain_text("PBX Main is not connected")
    assert messages == ["Hang up the call from 0309876543 to 1001?"]


def test_login_form_leads_to_the_wallboard(open_page, bob, pbx, daphne_url):
    from tests.web.conftest import PASSWORD

    page = open_page(None, "/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(LIVE)
    assert page.url == daphne_url + "/"


def test_a_pushed_call_row_is_live_and_its_button_works(open_page, publish, alice, pbx):
    pbx.connected = False
    pbx.save()
    page = open_page(alice, "/calls/")
    page.wait_for_selector(LIVE)
    call = Call.objects.create(
        pbx=pbx,
        uniqueid="1700000000.9",
        linkedid="1700000000.9",
        channel="PJSIP/1002-00000009",
        state="Ringing",
        caller_id_num="1002",
        started_at=timezone.now(),
        endpoint_resource="1002",
    )
    publish(pbx.pk, {"pbx": pbx.pk, "calls": [call.pk], "conversations": [call.linkedid]})
    row = page.locator(f"#call-{pbx.pk}-1700000000_9")
    expect(row.locator(".party__ext")).to_have_text("1002")
    page.on("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Hang up").click()
    expect(page.locator("#action-result")).to_contain_text("PBX Main is not connected")


def test_after_a_reconnect_the_page_fetches_what_it_missed(open_page, daphne, bob, pbx):
    page = open_page(bob, "/")
    page.wait_for_selector(LIVE)
    daphne.stop()
    expect(page.locator("#socket-state")).to_have_text("reconnecting…")
    # Changed while the page could not hear it, and never published.
    endpoint = Endpoint.objects.get(resource="1002")
    endpoint.state = DeviceState.ONHOLD
    endpoint.save()
    daphne.start()
    page.wait_for_selector(LIVE, timeout=20000)
    expect(page.locator(f"#endpoint-{endpoint.pk}")).to_contain_text("On hold")


def test_detail_pages_show_members_calls_and_controls(open_page, alice, pbx, artifacts):
    from monitor.models import Queue

    queue = Queue.objects.get(pbx=pbx)
    page = open_page(alice, f"/queues/{queue.pk}/")
    page.wait_for_selector(LIVE)
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Unpause")).to_be_visible()
    expect(page.locator(f"#queue-{queue.pk}-callers")).to_contain_text("0301234567")
    page.screenshot(path=str(artifacts / "queue.png"), full_page=True)
    endpoint = Endpoint.objects.get(resource="1001")
    page = open_page(alice, f"/extensions/{endpoint.pk}/")
    page.wait_for_selector(LIVE)
    expect(page.get_by_role("button", name="Hang up")).to_be_visible()
    expect(page.get_by_role("button", name="Call", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "extension.png"), full_page=True)


def test_a_full_update_over_a_megabyte_arrives_in_parts_and_sweeps_ghosts(
    open_page, publish, alice, pbx
):
    page = open_page(alice, "/")
    page.wait_for_selector(LIVE)
    ghost = Endpoint.objects.get(resource="1003")
    ghost_pk = ghost.pk
    # A big call centre resyncs: 2,000 extensions (over 1 MiB of tiles), 1003 is gone.
    Endpoint.objects.bulk_create(
        Endpoint(pbx=pbx, resource=str(5000 + i), name=f"Agent {i}", state=DeviceState.INUSE)
        for i in range(2000)
    )
    ghost.delete()
    html = broadcast.render_summary(pbx.pk, {"pbx": pbx.pk, "full": True})
    assert len(html[f"pbx.{pbx.pk}.board.control"].encode()) > 1024 * 1024
    page.evaluate(
        "window.__closes = 0;"
        "document.addEventListener('htmx:wsClose', () => { window.__closes += 1; })"
    )
    publish(pbx.pk, {"pbx": pbx.pk, "full": True})
    expect(page.locator(f"#endpoints-pbx-{pbx.pk} .tile")).to_have_count(2002, timeout=30_000)
    expect(page.locator(f"#endpoint-{ghost_pk}")).to_have_count(0)
    last = Endpoint.objects.get(resource="6999")
    expect(page.locator(f"#endpoint-{last.pk}")).to_contain_text("On a call")
    # The same socket all along: Daphne refuses to send a message over 1 MiB and closes it.
    assert page.evaluate("window.__closes") == 0
