"""A person typing on a page that updates: what they type, where their caret is and what they
click survive every live update, the refresh after a page load and a reconnect.

Against the real worker and a busy simulated call centre (calls arriving all the time, so the
member rows being typed into change under the typing hands), in Debian's Chromium.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from monitor.models import Pbx, Queue, QueueMember
from monitor.web_models import AuditEntry
from tests.browser.conftest import LivePbx, WorkerThread

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"
TYPING_SECONDS = 20.0

# Counts the live messages the page applied, and the changes they made inside the member rows.
WATCH = """container => {
    window.__messages = 0; window.__rowChanges = 0;
    document.addEventListener("fcmdash:updated", () => { window.__messages += 1; });
    new MutationObserver(records => { window.__rowChanges += records.length; })
        .observe(document.getElementById(container),
                 {subtree: true, childList: true, attributes: true, characterData: true});
}"""


@pytest.fixture
def busy_pbx(transactional_db, redis_layer, daphne_url):
    """A simulated call centre (30 phones, 2 queues of 8) with calls arriving every second,
    mirrored by the real worker; no agent pauses by itself (the test's typing does)."""
    from monitor.sim.scenario import Scenario, ScenarioConfig
    from tests.support.simthread import SimThread

    with SimThread(extensions=30, queues=2, members_per_queue=8, seed=3, time_scale=0.1) as sim:
        row = Pbx(name="Busy", host="127.0.0.1", port=sim.port, username="admin123")
        row.set_secret("admin123")
        row.save()
        live = LivePbx(sim, row)
        worker = WorkerThread().start()
        config = ScenarioConfig(call_rate=1.5, pause_rate=0.0, registration_rate=0.0)
        scenario = sim.call(lambda: Scenario(sim.sim.pbx, seed=5, config=config))
        try:
            live.wait_synced()
            sim.call(scenario.start)
            yield live
        finally:
            sim.call(scenario.stop)
            live.hang_up_everything()
            worker.stop()


def caret(page) -> dict:
    return page.evaluate(
        """() => { const el = document.activeElement;
            return {id: el.id, value: el.value, at: el.selectionStart}; }"""
    )


def test_pause_reasons_typed_into_a_busy_queue_page_survive_updates_and_a_reconnect(
    open_page, alice, busy_pbx, daphne
):
    queue = Queue.objects.filter(pbx=busy_pbx.pbx).order_by("name").first()
    members = list(QueueMember.objects.filter(queue=queue).order_by("pk"))
    page = open_page(alice, f"/queues/{queue.pk}/")
    page.wait_for_selector(LIVE)
    page.evaluate(WATCH, f"queue-{queue.pk}-members")
    typed = {m.pk: "" for m in members}
    fields = {m.pk: page.locator(f"#member-{m.pk}-reason") for m in members}
    started = time.monotonic()
    reconnected = False
    n = 0
    while time.monotonic() - started < TYPING_SECONDS:
        member = members[n % len(members)]
        field = fields[member.pk]
        field.click()
        page.keyboard.press("End")
        chunk = f"r{member.pk}-{n} "
        field.press_sequentially(chunk, delay=40)
        typed[member.pk] += chunk
        # Still here and still focused, right after the keys, whatever arrived meanwhile.
        assert caret(page) == {
            "id": f"member-{member.pk}-reason",
            "value": typed[member.pk],
            "at": len(typed[member.pk]),
        }
        if not reconnected and time.monotonic() - started > TYPING_SECONDS / 2:
            # A Wi-Fi blip: the socket drops, the page reconnects and fetches its content.
            daphne.stop()
            expect(page.locator("#socket-state")).to_have_text("reconnecting…")
            field.press_sequentially("offline ", delay=20)
            typed[member.pk] += "offline "
            daphne.start()
            page.wait_for_selector(LIVE, timeout=20000)
            reconnected = True
        n += 1
    assert reconnected
    for pk, text in typed.items():
        expect(fields[pk]).to_have_value(text)
    # The rows did change while the reasons were typed into them.
    assert page.evaluate("window.__messages") >= 10
    assert page.evaluate("window.__rowChanges") >= 10
    # Every reason typed reaches the server: one audited pause each.
    for m in members:
        page.locator(f"#member-{m.pk}-pause button[value='1']").click()
        expect(fields[m.pk]).to_have_value("")  # sent: the form is cleared
    busy_pbx.wait_for(
        lambda: AuditEntry.objects.filter(kind="pause").count() == len(members) or None,
        "every pause to be audited",
    )
    reasons = {e.params.get("reason") for e in AuditEntry.objects.filter(kind="pause")}
    assert reasons == {text.strip() for text in typed.values()}  # as the PBX is sent it


def test_click_to_call_typed_right_after_the_page_loads_reaches_the_server_every_time(
    open_page, alice, busy_pbx, daphne_url
):
    page = open_page(alice, "/")
    tries = 5
    for n in range(tries):
        # Straight after the HTML arrives: the socket opens and the page refreshes meanwhile.
        page.goto(daphne_url + "/originate/", wait_until="domcontentloaded")
        extension = page.locator("form.originate input[name=extension]")
        number = page.locator("form.originate input[name=number]")
        extension.fill(f"100{n}")
        number.click()
        number.press_sequentially(f"55501{n}", delay=60)
        assert caret(page)["value"] == f"55501{n}"
        expect(extension).to_have_value(f"100{n}")
        page.wait_for_selector(LIVE)  # the refresh on open has happened by now
        expect(number).to_be_focused()
        expect(number).to_have_value(f"55501{n}")
        page.get_by_role("button", name="Call", exact=True).click()
        expect(page.locator("#action-result")).to_contain_text("Call:")
    busy_pbx.wait_for(
        lambda: AuditEntry.objects.filter(kind="originate").count() == tries or None,
        "every originate to be audited",
    )
    sent = {(e.params.get("extension"), e.params.get("number")) for e in AuditEntry.objects.all()}
    assert sent >= {(f"100{n}", f"55501{n}") for n in range(tries)}
