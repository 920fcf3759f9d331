"""The kiosk on a TV: every queue card and extension tile, legible, on a screen that never
scrolls, at 1366x768 and 1920x1080, from 10 to 1,000 extensions (paging when it must).

The rows are written straight into the test database. What was wholly on screen with its text
at least 14 px high is collected in the page after every turn (the ``kiosk:turned`` event of
static/js/kiosk.js), and the test waits for two full rounds of pages at most.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from monitor.models import Call, DeviceState, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from monitor.web_models import KioskLink
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"
MIN_PX = 14

FIRST = str.split(
    "Anna Ben Carla David Emma Farid Greta Hugo Ines Jonas Karin Luca Maria Nils Olga Paul "
    "Rosa Sami Tara Umut Vera Wim Yara Zoe Ahmed Bea Chen Dana Erik Fatma Gil Hana Ivan Jana "
    "Kofi Lea Malik Nora Omar Pia"
)
LAST = str.split(
    "Albers Brandt Costa Demir Eriksen Fischer Garcia Hansen Ivanova Jansen Keller Lange Meyer "
    "Novak Ortiz Peters Quinn Rossi Schmidt Tanaka Urban Vogel Weber Yilmaz Zimmermann"
)
QUEUES = str.split(
    "Sales Support Billing Technical Returns Orders VIP Spanish French Partners Retention Claims "
    "Renewals Helpdesk Dispatch Bookings Complaints Shipping Accounts Premium"
)
# Device state, its share of the extensions, and whether it has a call.
STATES = [
    (DeviceState.NOT_INUSE, 0.42, False),
    (DeviceState.INUSE, 0.33, True),
    (DeviceState.RINGING, 0.06, True),
    (DeviceState.ONHOLD, 0.05, True),
    (DeviceState.UNAVAILABLE, 0.12, False),
    (DeviceState.UNKNOWN, 0.02, False),
]


def seed(extensions: int, queues: int, name: str = "Main") -> Pbx:
    """A PBX as a call centre's: named agents in a mix of states, calls with their timers,
    queues with members (some paused) and waiting callers, one queue red and two amber."""
    rng = random.Random(extensions * 100 + queues)
    now = timezone.now()
    pbx = Pbx(name=name, host="127.0.0.1", username="wallboard1", connected=True, synced_at=now)
    pbx.set_secret("s3cret")
    pbx.save()
    weights = [share for _, share, _ in STATES]
    rows, calls = [], []
    for i in range(extensions):
        resource = str(2001 + i)
        state, _, on_call = rng.choices(STATES, weights)[0]
        person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        rows.append(
            Endpoint(
                pbx=pbx,
                resource=resource,
                name=person,
                state=state,
                registered=state != DeviceState.UNAVAILABLE,
            )
        )
        if on_call:
            calls.append(
                Call(
                    pbx=pbx,
                    uniqueid=f"1700000000.{i}",
                    channel=f"PJSIP/{resource}-{i:08x}",
                    state="Up" if state != DeviceState.RINGING else "Ringing",
                    caller_id_num=resource,
                    connected_num=f"030{rng.randrange(10**6, 10**7)}",
                    connected_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                    started_at=now - timedelta(seconds=rng.randrange(5, 1500)),
                    endpoint_resource=resource,
                )
            )
    Endpoint.objects.bulk_create(rows)
    Call.objects.bulk_create(calls)
    seed_queues(pbx, rows, queues, rng, now)
    return pbx


def seed_queues(pbx: Pbx, endpoints: list[Endpoint], count: int, rng, now) -> None:
    busy = {DeviceState.INUSE, DeviceState.RINGING, DeviceState.ONHOLD}
    waiting = {0: 8, 1: 5, 2: 4}  # the first red, the next two amber, the rest calm
    for q in range(count):
        queue = Queue.objects.create(
            pbx=pbx,
            name=str(6500 + q),
            display_name=QUEUES[q % len(QUEUES)],
            strategy="rrmemory",
            completed=rng.randrange(40, 400),
            abandoned=rng.randrange(0, 25),
            service_level=20,
            service_level_perf=rng.uniform(70, 98),
            holdtime=rng.randrange(10, 60),
        )
        agents = endpoints[q::count] or endpoints[:1]
        QueueMember.objects.bulk_create(
            QueueMember(
                pbx=pbx,
                queue=queue,
                interface=f"PJSIP/{ep.resource}",
                name=ep.name,
                status=ep.state,
                in_call=ep.state in busy,
                paused=rng.random() < 0.1,
            )
            for ep in agents
        )
        callers = waiting.get(q, rng.choice((0, 0, 1, 2)))
        QueueCaller.objects.bulk_create(
            QueueCaller(
                pbx=pbx,
                queue=queue,
                uniqueid=f"1700000001.{q}.{n}",
                channel=f"PJSIP/trunk-{q:04x}{n:04x}",
                position=n + 1,
                caller_id_num=f"030{rng.randrange(10**6, 10**7)}",
                joined_at=now - timedelta(seconds=rng.randrange(3, 12) * (callers - n)),
            )
            for n in range(callers)
        )


def kiosk_link(pbx: Pbx, turn: int = 2, **kwargs) -> str:
    link = KioskLink(name="Hall TV", pbx=pbx, turn_seconds=turn, **kwargs)
    token = link.issue()
    link.save()
    return f"/kiosk/{token}/"


# Runs in the page: after each turn, note every tile and card wholly on screen whose text is
# at least MIN_PX high, and any moment the document could scroll.
COLLECT = """(min) => {
  const seen = new Set(), bad = [];
  const inside = (r, box) => r.left >= box.left - 0.5 && r.top >= box.top - 0.5 &&
    r.right <= box.right + 0.5 && r.bottom <= box.bottom + 0.5;
  const textOf = (el) => Array.from(el.querySelectorAll("*")).concat([el]).filter((e) =>
    e.getClientRects().length && Array.from(e.childNodes).some(
      (n) => n.nodeType === 3 && n.textContent.trim()));
  function look() {
    const doc = document.documentElement;
    if (doc.scrollHeight > innerHeight || doc.scrollWidth > innerWidth)
      bad.push(`scrolls: ${doc.scrollWidth}x${doc.scrollHeight}`);
    const screen = document.getElementById("content").getBoundingClientRect();
    const view = {left: 0, top: 0, right: innerWidth, bottom: innerHeight};
    for (const el of document.querySelectorAll("#content [data-tile]")) {
      if (!/^(endpoint|queue)-/.test(el.id)) continue;
      const r = el.getBoundingClientRect();
      if (!r.width || !inside(r, view) || !inside(r, screen)) continue;
      const texts = textOf(el);
      const small = texts.filter((e) => parseFloat(getComputedStyle(e).fontSize) < min);
      // Numbers, symbols and timers whole; any text may be cut short sideways, not in height.
      const whole = el.querySelectorAll(".tile__ext, .state__icon, .timer, dd, .level__icon");
      const cut = Array.from(whole).filter((e) => e.getClientRects().length &&
          !inside(e.getBoundingClientRect(), r))
        .concat(texts.filter((e) => {
          const t = e.getBoundingClientRect();
          return t.top < r.top - 0.5 || t.bottom > r.bottom + 0.5;
        }));
      if (small.length) bad.push(`${el.id}: ${small[0].className} under ${min}px`);
      else if (cut.length) bad.push(`${el.id}: ${cut[0].className} cut off`);
      else seen.add(el.id);
    }
  }
  window.__kiosk = {seen, bad, turns: 0};
  document.addEventListener("kiosk:turned", () => { window.__kiosk.turns += 1; look(); });
  look();
}"""


def board_state(page) -> dict:
    return page.evaluate(
        """() => ({
          seen: Array.from(window.__kiosk.seen), bad: window.__kiosk.bad.slice(0, 5),
          turns: window.__kiosk.turns,
          pages: Number(document.getElementById("kiosk-board").dataset.pages),
          tilePx: getComputedStyle(document.querySelector(".tiles")).fontSize,
          compact: document.getElementById("kiosk-board").className,
          label: document.getElementById("kiosk-turn").textContent,
        })"""
    )


def expected_ids(pbx: Pbx) -> set[str]:
    endpoints = Endpoint.objects.filter(pbx=pbx).values_list("pk", flat=True)
    queues = Queue.objects.filter(pbx=pbx).values_list("pk", flat=True)
    return {f"endpoint-{pk}" for pk in endpoints} | {f"queue-{pk}" for pk in queues}


def watch_rounds(page, expected: set[str]) -> dict:
    """Watch the kiosk for up to two rounds of its pages; what it showed."""
    page.wait_for_selector(LIVE)
    page.evaluate(COLLECT, MIN_PX)

    def done():
        state = board_state(page)
        # One page never turns: what it shows at once is all it shows.
        rounds_over = state["pages"] == 1 or state["turns"] >= 2 * state["pages"]
        return state if expected <= set(state["seen"]) or rounds_over else None

    # Turns come every 2 s; a busy machine may be slow to render 1,000 tiles, hence the margin.
    state = wait_for(lambda: done(), 120, "two rounds of the kiosk's pages", step=0.25)
    return state


SIZES = [(10, 3), (100, 8), (300, 12), (1000, 20)]
SCREENS = [(1920, 1080), (1366, 768)]
# Every size on the two common screens, and the biggest ones on a 4K TV.
CASES = [(e, q, w, h) for w, h in SCREENS for e, q in SIZES] + [
    (300, 12, 3840, 2160),
    (1000, 20, 3840, 2160),
]


@pytest.mark.parametrize(
    "extensions,queues,width,height", CASES, ids=[f"{e}ext-{w}x{h}" for e, _, w, h in CASES]
)
def test_kiosk_shows_everything_legibly_without_scrolling(
    open_page, artifacts, extensions, queues, width, height
):
    pbx = seed(extensions, queues)
    page = open_page(None, kiosk_link(pbx), viewport={"width": width, "height": height})
    expected = expected_ids(pbx)
    state = watch_rounds(page, expected)
    page.screenshot(path=str(artifacts / f"kiosk-{extensions}-{width}x{height}.png"))
    print(
        f"\n{width}x{height} {extensions} extensions {queues} queues: {state['pages']} page(s), "
        f"tiles {state['tilePx']} ({state['compact']}), {state['turns']} turn(s) to see all"
    )
    assert state["bad"] == []
    assert expected - set(state["seen"]) == set()
    if state["pages"] > 1:
        assert state["label"].endswith(f" of {state['pages']}")


def test_kiosk_link_limited_to_a_queue_shows_that_queue_and_its_members(open_page):
    pbx = seed(100, 8)
    queue = Queue.objects.get(pbx=pbx, display_name="Billing")
    page = open_page(
        None, kiosk_link(pbx, queues=queue.name), viewport={"width": 1920, "height": 1080}
    )
    page.wait_for_selector(LIVE)
    members = {m.interface.split("/")[1] for m in QueueMember.objects.filter(queue=queue)}
    assert len(members) > 5
    shown = page.locator("#content .tile .tile__ext").all_text_contents()
    assert sorted(shown) == sorted(members)
    assert page.locator("#content .card").evaluate_all("els => els.map(e => e.id)") == [
        f"queue-{queue.pk}"
    ]
    px = page.locator("#content .tiles").evaluate("el => getComputedStyle(el).fontSize")
    assert float(px.removesuffix("px")) >= MIN_PX


@pytest.mark.parametrize(
    "extensions,queues,width,height,name",
    [(300, 12, 1920, 1080, "kiosk-300.png"), (1000, 20, 1366, 768, "kiosk-1000-1366.png")],
)
def test_kiosk_screenshots(open_page, artifacts, extensions, queues, width, height, name):
    pbx = seed(extensions, queues)
    page = open_page(None, kiosk_link(pbx, turn=600), viewport={"width": width, "height": height})
    page.wait_for_selector(LIVE)
    page.wait_for_function("() => document.getElementById('kiosk-board').dataset.pages")
    page.screenshot(path=str(artifacts / name))


def test_kiosk_fits_again_when_tiles_arrive_and_leave(open_page, publish):
    pbx = seed(10, 3)
    page = open_page(None, kiosk_link(pbx), viewport={"width": 1920, "height": 1080})
    page.wait_for_selector(LIVE)
    board = page.locator("#kiosk-board")
    assert "tiles-compact" not in board.get_attribute("class")
    Endpoint.objects.bulk_create(
        Endpoint(pbx=pbx, resource=str(3001 + i), name=f"New {i}", state=DeviceState.NOT_INUSE)
        for i in range(290)
    )
    added = list(Endpoint.objects.filter(pbx=pbx, resource__gte="3001"))
    publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [e.pk for e in added]})
    page.wait_for_function("() => document.querySelectorAll('#content .tile').length === 300")
    page.wait_for_function(
        "() => document.getElementById('kiosk-board').classList.contains('tiles-compact')"
    )
    state = watch_rounds(page, expected_ids(pbx))
    assert state["bad"] == [] and expected_ids(pbx) <= set(state["seen"])
    gone = [e.pk for e in added]
    Endpoint.objects.filter(pk__in=gone).delete()
    publish(pbx.pk, {"pbx": pbx.pk, "endpoints_removed": gone})
    page.wait_for_function("() => document.querySelectorAll('#content .tile').length === 10")
    page.wait_for_function(
        "() => !document.getElementById('kiosk-board').classList.contains('tiles-compact')"
    )


def test_logged_in_kiosk_pages_through_two_pbxes(open_page, bob):
    first, second = seed(400, 6, "Berlin"), seed(400, 6, "Hamburg")
    page = open_page(bob, "/kiosk/?turn=2", viewport={"width": 1920, "height": 1080})
    state = watch_rounds(page, expected_ids(first) | expected_ids(second))
    assert state["pages"] > 1 and state["bad"] == []
    assert expected_ids(first) | expected_ids(second) <= set(state["seen"])


def test_pages_turn_while_tiles_keep_arriving(open_page, publish):
    pbx = seed(600, 12)
    page = open_page(None, kiosk_link(pbx), viewport={"width": 1366, "height": 768})
    page.wait_for_selector(LIVE)
    board = page.locator("#kiosk-board")
    assert int(board.get_attribute("data-pages")) > 1
    first = board.get_attribute("data-page")
    # Each new tile re-fits the board; a turn of 2 s must still come while they arrive faster.
    for n in range(200):
        added = Endpoint.objects.create(pbx=pbx, resource=str(5001 + n), state="not_inuse")
        publish(pbx.pk, {"pbx": pbx.pk, "endpoints": [added.pk]})
        page.wait_for_selector(f"#endpoint-{added.pk}", state="attached")
        if board.get_attribute("data-page") != first:
            break
    assert board.get_attribute("data-page") != first
