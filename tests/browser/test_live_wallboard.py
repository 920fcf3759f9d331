"""The issue's acceptance tests in Chromium, end to end: the PBX simulator (real AMI over TCP),
the real worker pool mirroring it into the database and publishing through Redis, and the pages
of the Daphne child process. Nothing here writes a mirrored row or calls ``publish`` itself:
what a page shows came from the simulator through the worker.

Fixtures: ``live_pbx`` (simulator + ``Pbx`` row + worker, in conftest.py), ``open_page``.
"""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import expect

from monitor.models import Endpoint, Pbx, Queue, QueueMember
from monitor.state.states import device_state, member_status
from monitor.templatetags.monitor_tags import state_word
from monitor.tiles import BUSY, UNAVAILABLE
from monitor.web_models import AuditEntry, KioskLink

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"
# Whatever acts: hang-up / pause / originate buttons and forms, "Call…" links.
CONTROLS = "#live .ctl, #live [hx-post], #live form[method=post], #live input[name=reason]"
SLOW = 15000  # ms: a PBX reconnect waits out the client's backoff


# -- what the pages show, next to what the simulator holds ------------------------------------
def tile(page, pbx_id: int, resource: str):
    return page.locator(f'article.tile[data-pbx="{pbx_id}"]').filter(
        has=page.locator(".tile__ext", has_text=re.compile(f"^{re.escape(resource)}$"))
    )


def expect_tile(page, live, name: str, truth: dict) -> None:
    """The tile of endpoint ``name`` says what the simulator's snapshot ``truth`` holds."""
    ep = truth["endpoints"][name]
    item = tile(page, live.pbx.pk, name)
    expect(item.locator(".state__word")).to_have_text(state_word(device_state(ep["device_state"])))
    if ep["contacts"]:  # registered: nothing to say
        expect(item.locator(".reg")).to_have_count(0)
    else:
        expect(item.locator(".reg")).to_have_text(re.compile("Not registered$"))
    expect(item.locator(".tile__call")).to_have_count(1 if ep["active_channels"] else 0)


def queue_counts(queue: dict) -> dict[str, int]:
    """The card's numbers for a queue of the snapshot, by the legend's rules."""
    counts = {"free": 0, "oncall": 0, "paused": 0, "offline": 0}
    for m in queue["members"].values():
        status = member_status(str(m["status"]))
        if m["paused"]:
            counts["paused"] += 1
        elif status in UNAVAILABLE:
            counts["offline"] += 1
        elif m["in_call"] or status in BUSY:
            counts["oncall"] += 1
        else:
            counts["free"] += 1
    return counts


def expect_queue_card(page, live, name: str, truth: dict) -> None:
    queue = truth["queues"][name]
    card = page.locator(f"#queue-{Queue.objects.get(pbx=live.pbx, name=name).pk}")
    expect(card.locator(".stat--big dd").first).to_have_text(str(queue["calls"]))
    for kind, count in queue_counts(queue).items():
        expect(card.locator(f".stat--{kind} dd")).to_have_text(str(count))


def endpoint_pk(live, resource: str) -> int:
    return Endpoint.objects.get(pbx=live.pbx, resource=resource).pk


def answered_call(live, caller: str = "1005", callee: str = "1002") -> str:
    """A call from phone ``caller`` to ``callee``, answered; the callee's channel name."""
    sim = live.sim
    sim.call(sim.sim.pbx.calls.phone_call, caller, callee)
    [channel] = live.channels(f"PJSIP/{callee}-")
    assert sim.call(sim.sim.pbx.calls.answer, channel)
    return channel


def csrf_token(page) -> str:
    return json.loads(page.get_attribute("body", "hx-headers"))["X-CSRFToken"]


def post_from_page(page, path: str, data: dict) -> tuple[int, str]:
    """POST ``data`` from the page's own origin with its CSRF token, as htmx would."""
    return page.evaluate(
        """async ([path, token, data]) => {
            const r = await fetch(path, {method: "POST", body: new URLSearchParams(data),
                headers: {"X-CSRFToken": token, "HX-Request": "true"}});
            return [r.status, await r.text()];
        }""",
        [path, csrf_token(page), data],
    )


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def ws_handshake(url: str, path: str, origin: str, cookie: str) -> int:
    """The HTTP status Daphne answers a WebSocket handshake with (101: accepted)."""
    parts = urlsplit(url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
        f"Cookie: {settings.SESSION_COOKIE_NAME}={cookie}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(request.encode())
        head = b""
        while b"\r\n" not in head:
            chunk = s.recv(1024)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def open_socket(page, url: str) -> str:
    """What a WebSocket the page opens to ``url`` comes to: "open" or "refused"."""
    return page.evaluate(
        """url => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onopen = () => { ws.close(); done("open"); };
            ws.onclose = () => done("refused");
        })""",
        url,
    )


def sim_pbx(live):
    """The simulated PBX itself (``sim.pbx.calls.phone_call`` ...), run through ``sim.call``."""
    return live.sim.sim.pbx


# -- 1. the simulator's states, and a call, live ----------------------------------------------
def test_wallboard_shows_the_simulators_states_and_follows_a_call(
    open_page, alice, live_pbx, artifacts
):
    sim, pbx = live_pbx.sim, sim_pbx(live_pbx)
    # Some variety first: a paused member and a phone that logged out.
    sim.call(pbx.queue_pause, "PJSIP/1004", True, "6500", "Lunch")
    sim.call(pbx.unregister, "1003")
    page = open_page(alice, "/")
    page.wait_for_selector(LIVE)
    page.evaluate("window.loadedOnce = true")  # a reload would drop it
    truth = live_pbx.snapshot()
    expect(page.locator(f'article.tile[data-pbx="{live_pbx.pbx.pk}"]')).to_have_count(
        len(truth["endpoints"])
    )
    for name in ("1000", "1001", "1002", "1003", "1004", "1005"):
        expect_tile(page, live_pbx, name, truth)
    expect_queue_card(page, live_pbx, "6500", truth)
    expected = {"free": 2, "oncall": 0, "paused": 1, "offline": 1}  # as set up just above
    assert queue_counts(truth["queues"]["6500"]) == expected

    ringing = tile(page, live_pbx.pbx.pk, "1002")
    sim.call(pbx.calls.phone_call, "1005", "1002")
    expect(ringing.locator(".state__word")).to_have_text("Ringing")
    expect(ringing).to_have_class(re.compile(r"\btile--ringing\b"))
    truth = live_pbx.snapshot()
    for name in ("1002", "1005"):
        expect_tile(page, live_pbx, name, truth)
    expect_queue_card(page, live_pbx, "6500", truth)

    [channel] = live_pbx.channels("PJSIP/1002-")
    assert sim.call(pbx.calls.answer, channel)
    expect(ringing.locator(".state__word")).to_have_text("On a call")
    expect(ringing.locator(".tile__party")).to_have_text("↔ Ext 1005 (1005)")
    expect(ringing.locator(".tile__call .timer")).to_have_text(re.compile(r"^0:0\d$"))
    truth = live_pbx.snapshot()
    for name in ("1002", "1005"):
        expect_tile(page, live_pbx, name, truth)
    expect_queue_card(page, live_pbx, "6500", truth)
    page.screenshot(path=str(artifacts / "live-wallboard.png"), full_page=True)

    assert sim.call(pbx.calls.hangup, channel)
    expect(ringing.locator(".state__word")).to_have_text("Free")
    expect(ringing).to_have_class(re.compile(r"\btile--free\b"))
    truth = live_pbx.snapshot()
    assert truth["channels"] == {}
    for name in ("1002", "1005"):
        expect_tile(page, live_pbx, name, truth)
    assert page.evaluate("window.loadedOnce") is True


# -- 2. supervisor actions from the pages -----------------------------------------------------
def test_supervisor_hangs_up_a_call_from_the_page(open_page, alice, live_pbx):
    channel = answered_call(live_pbx)
    page = open_page(alice, f"/extensions/{endpoint_pk(live_pbx, '1002')}/")
    page.wait_for_selector(LIVE)
    ext = tile(page, live_pbx.pbx.pk, "1002")
    expect(ext.locator(".state__word")).to_have_text("On a call")
    [caller] = live_pbx.channels("PJSIP/1005-")
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    row = page.locator(".row--call")
    expect(row).to_have_count(1)  # the call, not its two channels
    row.get_by_role("button", name="Hang up").click()
    expect(page.locator("#action-result .result--ok")).to_contain_text("Hang up")
    assert asked == ["Hang up the call from 1005 to 1002?"]
    live_pbx.wait_for(lambda: live_pbx.channels() == [] or None, "the call to end on the PBX")
    expect(ext.locator(".state__word")).to_have_text("Free")
    expect(page.locator(".row--call")).to_have_count(0)
    entry = AuditEntry.objects.get(kind="hangup")  # once for the call
    assert (entry.username, entry.ok) == ("alice", True)
    assert entry.params == {"channels": [caller, channel]}


def test_originate_from_the_page_rings_the_extension(open_page, alice, live_pbx):
    page = open_page(alice, f"/extensions/{endpoint_pk(live_pbx, '1002')}/")
    page.wait_for_selector(LIVE)
    form = page.locator("form.originate")
    expect(form.locator("input[name=extension]")).to_have_value("1002")
    form.locator("input[name=number]").fill("1003")
    form.get_by_role("button", name="Call", exact=True).click()
    expect(page.locator("#action-result")).to_contain_text("Call: Originate successfully queued")
    expect(tile(page, live_pbx.pbx.pk, "1002").locator(".state__word")).to_have_text("Ringing")
    live_pbx.channels("PJSIP/1002-")
    assert live_pbx.snapshot()["endpoints"]["1002"]["active_channels"] == 1
    expect(page.locator(".row--call .party__ext")).to_have_text(["1002"])


def test_pause_from_the_page_pauses_the_member_on_the_pbx(open_page, alice, live_pbx):
    queue = Queue.objects.get(pbx=live_pbx.pbx, name="6500")
    member = QueueMember.objects.get(queue=queue, interface="PJSIP/1003")
    page = open_page(alice, f"/queues/{queue.pk}/")
    page.wait_for_selector(LIVE)
    row = page.locator(f"#member-{member.pk}")
    row.get_by_label("Pause reason").fill("Team meeting")
    row.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("#action-result .result--ok")).to_contain_text("Pause")

    def on_pbx() -> dict:
        return live_pbx.snapshot()["queues"]["6500"]["members"]["PJSIP/1003"]

    live_pbx.wait_for(lambda: on_pbx()["paused"], "the member to be paused on the PBX")
    assert on_pbx()["paused_reason"] == "Team meeting"
    expect(row.locator(".row__paused")).to_have_text("‖ Paused: Team meeting")
    expect(page.locator(f"#queue-{queue.pk} .stat--paused dd")).to_have_text("1")
    row.get_by_role("button", name="Unpause").click()
    live_pbx.wait_for(lambda: not on_pbx()["paused"], "the member to be unpaused on the PBX")
    expect(row.locator(".row__paused")).to_have_text("")


def test_a_queue_call_is_one_row_on_the_calls_and_queue_pages_until_it_ends(
    open_page, alice, bob, live_pbx, artifacts
):
    sim, pbx = live_pbx.sim, sim_pbx(live_pbx)
    sim.call(pbx.queue_pause, "PJSIP/1001", True, "6500", "Lunch")  # 1001 would auto-answer
    queue = Queue.objects.get(pbx=live_pbx.pbx, name="6500")
    calls = open_page(alice, "/calls/")
    queue_page = open_page(bob, f"/queues/{queue.pk}/")
    for page in (calls, queue_page):
        page.wait_for_selector(LIVE)
        expect(page.locator(".row--call")).to_have_count(0)

    sim.call(lambda: pbx.calls.trunk_call("0301234567", "6500", name="Customer"))
    live_pbx.wait_for(
        lambda: live_pbx.channels("PJSIP/1002-") and live_pbx.channels("PJSIP/1003-"),
        "the queue to ring its members",
    )
    [agent] = live_pbx.channels("PJSIP/1003-")
    row = calls.locator(".row--call")
    expect(row.locator(".row__state")).to_have_text("ringing")
    expect(row).to_have_count(1)  # the caller's channel and every ringing member's: one call
    assert len(live_pbx.channels()) >= 3
    expect(row).to_have_attribute("data-direction", "inbound")
    expect(row.locator(".row__queue")).to_have_text("via 6500")
    expect(row.locator(".party--trunk .party__num")).to_have_text("0301234567")
    expect(row.locator(".party__name").first).to_have_text("Customer")

    assert sim.call(pbx.calls.answer, agent)
    expect(row.locator(".row__state")).to_have_text("talking")
    expect(row.locator(".party__ext")).to_have_text("1003")
    expect(row.locator(".row__waited")).to_have_text(re.compile(r"^waited \d+:\d\d$"))
    expect(row).to_have_count(1)
    on_queue_page = queue_page.locator(".row--call")
    expect(on_queue_page).to_have_count(1)
    expect(on_queue_page.locator(".party__ext")).to_have_text("1003")
    calls.screenshot(path=str(artifacts / "calls.png"), full_page=True)

    [trunk] = live_pbx.channels("PJSIP/trunk_1-")
    assert sim.call(pbx.calls.hangup, trunk)
    live_pbx.wait_for(lambda: live_pbx.channels() == [] or None, "the call to end on the PBX")
    for page in (calls, queue_page):
        expect(page.locator(".row--call")).to_have_count(0)


# -- 3. viewers, forged requests, foreign origins ---------------------------------------------
def test_viewer_sees_no_action_buttons_and_a_forged_post_gets_403(open_page, alice, bob, live_pbx):
    channel = answered_call(live_pbx)
    queue = Queue.objects.get(pbx=live_pbx.pbx, name="6500")
    member = QueueMember.objects.get(queue=queue, interface="PJSIP/1003")
    for path in ("/", f"/extensions/{endpoint_pk(live_pbx, '1002')}/", f"/queues/{queue.pk}/"):
        page = open_page(bob, path)
        page.wait_for_selector(LIVE)
        expect(page.locator(f'[data-pbx="{live_pbx.pbx.pk}"]').first).to_be_visible()
        expect(page.locator(CONTROLS)).to_have_count(0)
    # The supervisor's page of the same extension has them: the selector above finds them.
    owner = open_page(alice, f"/extensions/{endpoint_pk(live_pbx, '1002')}/")
    owner.wait_for_selector(LIVE)
    expect(owner.locator(CONTROLS)).not_to_have_count(0)

    from monitor.models import Call

    call = Call.objects.get(pbx=live_pbx.pbx, channel=channel)
    forged = {
        "/actions/hangup/": {"call": call.pk},
        "/actions/originate/": {"extension": "1002", "number": "1003"},
        "/actions/pause/": {"member": member.pk, "paused": "1", "reason": "forged"},
    }
    for path, data in forged.items():
        status, text = post_from_page(page, path, data)
        # The view's own refusal: the CSRF check passed, the permission check did not.
        assert (status, "not allowed" in text, "CSRF" in text) == (403, True, False), path
    truth = live_pbx.snapshot()
    assert sorted(ch["name"] for ch in truth["channels"].values()) == live_pbx.channels()
    assert channel in live_pbx.channels() and len(live_pbx.channels()) == 2
    assert truth["queues"]["6500"]["members"]["PJSIP/1003"]["paused"] is False
    assert not AuditEntry.objects.exists()


def test_cross_origin_websocket_is_refused(open_page, daphne_url, bob, live_pbx):
    path = f"/ws/live/?pbx={live_pbx.pbx.pk}"
    cookie = session_cookie(bob)
    port = urlsplit(daphne_url).port
    assert ws_handshake(daphne_url, path, daphne_url, cookie) == 101  # the page's own origin
    assert ws_handshake(daphne_url, path, "http://evil.example", cookie) == 403
    assert ws_handshake(daphne_url, path, f"http://127.0.0.1:{port + 1}", cookie) == 403

    # In the browser: a page of another service on the same host (another port: the same site,
    # so the viewer's session cookie goes along) tries to listen in.
    page = open_page(bob, "/")
    page.wait_for_selector(LIVE)
    foreign = f"http://127.0.0.1:{port + 1}/"
    page.context.route(
        foreign, lambda route: route.fulfill(body="<!doctype html><title>x</title>", status=200)
    )
    page.goto(foreign)
    ws_url = daphne_url.replace("http:", "ws:") + path
    assert open_socket(page, ws_url) == "refused"
    # The same script from the wallboard's own origin gets through (so it can fail above).
    page.goto(daphne_url + "/")
    page.wait_for_selector(LIVE)
    assert open_socket(page, ws_url) == "open"


# -- 4. the PBX goes away and comes back ------------------------------------------------------
def test_pbx_outage_shows_stale_then_fresh_data(open_page, bob, live_pbx, artifacts):
    sim = live_pbx.sim
    page = open_page(bob, "/")
    page.wait_for_selector(LIVE)
    banner = page.locator(f"#pbx-status-{live_pbx.pbx.pk}")
    t1004 = tile(page, live_pbx.pbx.pk, "1004")
    expect(banner).to_contain_text("live")
    expect(t1004.locator(".state__word")).to_have_text("Free")
    expect(t1004).to_have_css("opacity", "1")

    # The PBX drops the session and refuses new ones.
    sim.call(lambda: (sim.sim.close_listeners(), sim.sim.faults.drop_all()))
    expect(banner).to_contain_text(re.compile(r"PBX Lab unreachable since \d\d:\d\d"))
    stale_since = Pbx.objects.get(pk=live_pbx.pbx.pk).stale_since
    from django.utils import timezone

    expect(banner).to_contain_text(f"since {timezone.localtime(stale_since):%H:%M}")
    expect(banner).to_contain_text("data as of")
    expect(t1004).to_have_css("opacity", "0.45")
    expect(t1004).to_have_css("filter", "grayscale(1)")
    # Meanwhile, on the PBX: phone 1004 logs out. The page cannot know yet.
    sim.call(sim_pbx(live_pbx).unregister, "1004")
    expect(t1004.locator(".state__word")).to_have_text("Free")
    page.screenshot(path=str(artifacts / "live-stale.png"), full_page=True)

    sim.call(sim.sim.listen)
    expect(banner).not_to_contain_text("unreachable", timeout=SLOW)
    expect(banner).to_contain_text("live", timeout=SLOW)
    expect(page.locator("[data-stale]")).to_have_count(0)
    expect(t1004.locator(".state__word")).to_have_text("Unavailable")
    expect(t1004.locator(".reg")).to_have_text(re.compile("Not registered$"))
    expect(t1004).to_have_css("opacity", "1")
    expect_tile(page, live_pbx, "1004", live_pbx.snapshot())


# -- 5. kiosk links -----------------------------------------------------------------------------
def test_kiosk_link_shows_the_live_wallboard_until_revoked(open_page, live_pbx, daphne_url):
    link = KioskLink(name="Hall TV")
    token = link.issue()
    link.save()
    kiosk = open_page(None, f"/kiosk/{token}/", viewport={"width": 1920, "height": 1080})
    kiosk.wait_for_selector(LIVE)
    assert kiosk.url == f"{daphne_url}/kiosk/{token}/"  # no detour through the login
    truth = live_pbx.snapshot()
    for name in ("1000", "1001", "1002", "1005"):
        expect_tile(kiosk, live_pbx, name, truth)
    expect(kiosk.locator("button")).to_have_count(0)
    sim = live_pbx.sim
    sim.call(sim_pbx(live_pbx).calls.phone_call, "1005", "1002")
    expect(tile(kiosk, live_pbx.pbx.pk, "1002").locator(".state__word")).to_have_text("Ringing")

    # Revoked in the admin, as the administrator does it.
    root = User.objects.create_superuser("root", password="not-used-here-1")
    admin = open_page(root, "/admin/monitor/kiosklink/")
    admin.locator(f"input[name=_selected_action][value='{link.pk}']").check()
    admin.locator("select[name=action]").select_option("revoke")
    admin.get_by_role("button", name="Go").click()
    expect(admin.locator(".messagelist")).to_contain_text("Revoked 1.")
    # The open screen is told, reloads, and gets the server's answer.
    expect(kiosk).to_have_title(re.compile("Not Found"))
    expect(kiosk.locator(".tile")).to_have_count(0)
    response = kiosk.goto(f"{daphne_url}/kiosk/{token}/")
    assert response.status == 404


# -- 6. an idle page ----------------------------------------------------------------------------
def test_an_idle_page_keeps_its_socket_and_actions_still_reach_the_worker(
    open_page, alice, live_pbx
):
    queue = Queue.objects.get(pbx=live_pbx.pbx, name="6500")
    member = QueueMember.objects.get(queue=queue, interface="PJSIP/1002")
    closed: list[str] = []
    page = open_page(alice, f"/queues/{queue.pk}/")
    page.wait_for_selector(LIVE)
    page.on("websocket", lambda ws: closed.append(f"new socket {ws.url}"))
    page.evaluate("window.loadedOnce = true")
    # Longer than the channel layer's blocking read (BZPOPMIN, 5 s) with nothing to say.
    page.wait_for_timeout(6500)
    expect(page.locator("#socket-state")).to_have_attribute("data-state", "open")
    row = page.locator(f"#member-{member.pk}")
    row.get_by_label("Pause reason").fill("after a quiet spell")
    row.get_by_role("button", name="Pause", exact=True).click()
    expect(page.locator("#action-result .result--ok")).to_contain_text("Pause")
    expect(row.locator(".row__paused")).to_have_text("‖ Paused: after a quiet spell")
    assert closed == [] and page.evaluate("window.loadedOnce") is True


# The page's WebSockets wait for ``window.releaseSockets()`` before they connect, as on a slow
# network: real sockets to the real server, only later.
HOLD_SOCKETS = """(() => {
  const Real = window.WebSocket, held = [];
  window.releaseSockets = () => held.splice(0).forEach(connect => connect());
  window.heldSockets = () => held.length;
  function Held(url, protocols) {
    const fake = new EventTarget();
    Object.assign(fake, {url, readyState: 0, CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
    fake.send = () => { throw new Error("not connected yet"); };
    fake.close = () => { fake.readyState = 3; };
    held.push(() => {
      const ws = new Real(url, protocols);
      fake.send = data => ws.send(data);
      fake.close = (code, reason) => ws.close(code, reason);
      for (const type of ["open", "message", "close", "error"]) {
        ws.addEventListener(type, event => {
          fake.readyState = ws.readyState;
          if (fake["on" + type]) fake["on" + type](event);
          fake.dispatchEvent(new event.constructor(event.type, event));
        });
      }
    });
    return fake;
  }
  Object.assign(Held, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Held;
})();"""


def test_a_change_between_the_render_and_the_socket_is_not_lost(
    open_page, daphne_url, bob, live_pbx
):
    page = open_page(bob, "/accounts/login/")  # a page without a socket, to set things up
    page.context.add_init_script(HOLD_SOCKETS)
    page.goto(daphne_url + "/")
    ringing = tile(page, live_pbx.pbx.pk, "1002")
    expect(ringing.locator(".state__word")).to_have_text("Free")
    page.wait_for_function("() => window.heldSockets() === 1")
    # The PBX changes and the worker publishes it, to groups this page has not joined yet.
    live_pbx.sim.call(sim_pbx(live_pbx).calls.phone_call, "1005", "1002")
    endpoint = Endpoint.objects.filter(pbx=live_pbx.pbx, resource="1002")
    live_pbx.wait_for(lambda: endpoint.get().state == "ringing", "the worker to write it")
    expect(ringing.locator(".state__word")).to_have_text("Free")  # the page did not hear it
    page.evaluate("window.releaseSockets()")
    page.wait_for_selector(LIVE)
    expect(ringing.locator(".state__word")).to_have_text("Ringing")


@pytest.mark.parametrize(
    ("host", "origin", "proto", "accepted"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000", None, True),
        ("127.0.0.1:8000", "http://127.0.0.1:8001", None, False),  # another port
        ("127.0.0.1:8000", "http://localhost:8000", None, False),  # another host
        ("wb2.example.com", "https://wb2.example.com", "https", True),  # behind nginx
        ("wb2.example.com", "http://wb2.example.com", "https", False),  # another scheme
        ("wb2.example.com", "https://wb2.example.com", "http", False),
        ("wb.internal:8001", "https://wb.example.com", "https", True),  # CSRF_TRUSTED_ORIGINS
        ("wb.internal:8001", "https://tv.wall.example.org", "https", True),  # ... a wildcard
        ("wb.internal:8001", "https://evil.example.org", "https", False),
        ("", "http://127.0.0.1", None, True),  # no Host: left to the host name check
    ],
)
def test_a_socket_must_come_from_the_sites_own_origin(settings, host, origin, proto, accepted):
    from monitor.consumers import same_origin

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.CSRF_TRUSTED_ORIGINS = ["https://wb.example.com", "https://*.wall.example.org"]
    headers = [(b"origin", origin.encode())]
    headers += [(b"host", host.encode())] if host else []
    headers += [(b"x-forwarded-proto", proto.encode())] if proto else []
    assert same_origin({"type": "websocket", "headers": headers}) is accepted


def test_a_kiosk_link_limited_to_a_queue_receives_nothing_of_another_queue(
    open_page, live_pbx, daphne_url
):
    """What arrives on the TV's socket, frame by frame, while both queues take calls."""
    link = KioskLink(name="Support TV", pbx=live_pbx.pbx, queues="6501")
    token = link.issue()
    link.save()
    frames: list[str] = []
    page = open_page(None, "/", viewport={"width": 1920, "height": 1080})
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(data)))
    page.goto(f"{daphne_url}/kiosk/{token}/")
    page.wait_for_selector(LIVE)
    sales, support = (Queue.objects.get(pbx=live_pbx.pbx, name=n) for n in ("6500", "6501"))
    pbx = sim_pbx(live_pbx)
    # Sales (6500) rings its agents 1001-1004; support (6501) is 1002, 1003 and 1005.
    live_pbx.sim.call(pbx.calls.trunk_call, "+31201110001", "6500")
    live_pbx.sim.call(pbx.calls.trunk_call, "+31202220002", "6501")
    live_pbx.sim.call(pbx.calls.phone_call, "1004", "1001")
    support_card = page.locator(f"#queue-{support.pk}")
    expect(support_card.locator(".stat--big dd").first).not_to_have_text("0")
    ext_1004 = endpoint_pk(live_pbx, "1004")
    live_pbx.wait_for(
        lambda: Endpoint.objects.get(pk=ext_1004).state != "not_inuse" or None,
        "1004's call to reach the mirror",
    )
    expect(tile(page, live_pbx.pbx.pk, "1005")).to_have_count(1)
    received = "\n".join(frames)
    assert f'id="queue-{support.pk}"' in received  # it hears its own queue
    assert f'id="queue-{sales.pk}"' not in received
    assert "+31201110001" not in received  # sales' caller
    for other in ("1001", "1004"):  # extensions only sales has
        assert f'id="endpoint-{endpoint_pk(live_pbx, other)}"' not in received
    assert 'id="member-' not in received and 'id="caller-' not in received
    expect(page.locator(f"#queue-{sales.pk}")).to_have_count(0)
