"""Every page on a phone (360 and 390 px wide): nothing wider than the screen, and the menu
button opens the page links and Log out, each of them visible and clickable."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from monitor.models import Endpoint, Queue

pytestmark = pytest.mark.django_db(transaction=True)
LIVE = "#socket-state[data-state=open]"
PHONES = [{"width": 360, "height": 740}, {"width": 390, "height": 844}]
# The supervisor's links: every page of the top bar (Admin is for staff only).
LINKS = ["Wallboard", "Calls", "Click-to-call", "Kiosk"]


def pages(pbx) -> dict[str, str]:
    return {
        "wallboard": "/",
        "queue": f"/queues/{Queue.objects.get(pbx=pbx).pk}/",
        "extension": f"/extensions/{Endpoint.objects.get(pbx=pbx, resource='1001').pk}/",
        "calls": "/calls/",
        "originate": "/originate/",
    }


def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the screen (0 when it fits)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )


def open_menu(page: Page) -> None:
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    # Folded: the links are out of sight until the button is pressed.
    expect(page.get_by_role("link", name="Calls", exact=True)).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")


def assert_menu_usable(page: Page) -> None:
    """Each link and Log out is on screen and would take the click itself (trial: no
    navigation), with nothing on top of it."""
    for name in LINKS:
        link = page.locator(".nav").get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        expect(link).to_be_in_viewport()
        link.click(trial=True, timeout=5000)
    logout = page.get_by_role("button", name="Log out")
    expect(logout).to_be_in_viewport()
    logout.click(trial=True, timeout=5000)


@pytest.mark.parametrize("viewport", PHONES, ids=lambda v: f"{v['width']}px")
def test_supervisor_pages_fit_a_phone_and_the_menu_opens(
    open_page, alice, pbx, viewport, artifacts
):
    for name, path in pages(pbx).items():
        page = open_page(alice, path, viewport=viewport)
        page.wait_for_selector(LIVE)
        assert overflow(page) <= 0, f"{name} is {overflow(page)} px too wide"
        page.screenshot(path=str(artifacts / f"phone-{viewport['width']}-{name}.png"))
        open_menu(page)
        assert_menu_usable(page)
        assert overflow(page) <= 0, f"{name} with the menu open is {overflow(page)} px too wide"
        # docs/phone.png is the 360 px wallboard with the menu open, copied from here.
        page.screenshot(path=str(artifacts / f"phone-{viewport['width']}-{name}-menu.png"))
        page.close()


@pytest.mark.parametrize("viewport", PHONES, ids=lambda v: f"{v['width']}px")
def test_login_and_kiosk_fit_a_phone(open_page, alice, pbx, viewport):
    login = open_page(None, "/accounts/login/", viewport=viewport)
    expect(login.get_by_role("button", name="Log in")).to_be_in_viewport()
    assert overflow(login) <= 0
    kiosk = open_page(alice, "/kiosk/", viewport=viewport)
    kiosk.wait_for_selector(LIVE)
    assert overflow(kiosk) <= 0


def test_menu_links_and_log_out_work_on_a_phone(open_page, alice, pbx):
    page = open_page(alice, "/", viewport=PHONES[0])
    page.wait_for_selector(LIVE)
    open_menu(page)
    page.locator(".nav").get_by_role("link", name="Calls", exact=True).click()
    page.wait_for_url("**/calls/")
    # A new page starts folded; Escape folds an open menu again.
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")
    open_menu(page)
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Menu")).to_be_focused()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    open_menu(page)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")


def test_wide_screens_keep_the_links_in_the_bar(open_page, alice, pbx):
    page = open_page(alice, "/")
    page.wait_for_selector(LIVE)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    for name in LINKS:
        expect(page.locator(".nav").get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
