"""The wallboard in Chromium on each of the two Daphne processes of the production set-up: a
call on the PBX changes the same tile on both pages, through the worker, PostgreSQL and Redis."""

from __future__ import annotations

import re

import pytest

from tests.production.conftest import PASSWORD, Deployment, Web
from tests.support.chromium import chromium

pytestmark = [pytest.mark.production, pytest.mark.browser, pytest.mark.slow]

LIVE = "#socket-state[data-state=open]"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def wallboard(browser, web: Web):
    """A page on ``web``'s wallboard, logged in through the form as the demo admin."""
    page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
    page.goto(web.url + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(LIVE)
    return page


def tile(page, pbx_id: int, resource: str):
    return page.locator(f'article.tile[data-pbx="{pbx_id}"]').filter(
        has=page.locator(".tile__ext", has_text=re.compile(f"^{resource}$"))
    )


def test_a_call_changes_the_same_tile_on_both_daphnes(browser, healthy: Deployment):
    from playwright.sync_api import expect

    from tests.production.test_deployment import hang_up_everything

    pages = [wallboard(browser, web) for web in healthy.web]
    for page in pages:
        expect(tile(page, healthy.pbx_id, "1002")).to_contain_text("Free")
    sim = healthy.sim
    sim.call(sim.sim.pbx.calls.phone_call, "1005", "1002")
    try:
        for page in pages:
            expect(tile(page, healthy.pbx_id, "1002")).to_contain_text("Ringing", timeout=10000)
            expect(tile(page, healthy.pbx_id, "1002")).to_have_class(
                re.compile(r"\btile--ringing\b")
            )
    finally:
        hang_up_everything(sim)
    for page in pages:
        expect(tile(page, healthy.pbx_id, "1002")).not_to_contain_text("Ringing", timeout=10000)
        page.context.close()
