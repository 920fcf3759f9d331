"""The Content-Security-Policy (fcmdash/headers.py) breaks no page: each page kind is opened in
Chromium with every ``securitypolicyviolation`` event and CSP console message collected from the
first byte on, and none may appear. The kiosk is watched until it has turned a page (its
constructed stylesheet), the live pages until their socket is open.

That the watch sees a violation is checked too: a page that adds an inline ``<style>`` is
caught.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.test import Client

from tests.support import wait_for

from .test_kiosk_layout import LIVE, kiosk_link, seed

pytestmark = pytest.mark.django_db(transaction=True)

# Installed before any script of the page runs.
WATCH = """window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


@pytest.fixture
def watched(browser, daphne_url):
    """``watched(user_or_None, path, viewport=None)`` -> (page, console CSP messages)."""
    contexts = []

    def open_(user, path: str, viewport=None):
        context = browser.new_context(viewport=viewport or {"width": 1600, "height": 900})
        contexts.append(context)
        context.add_init_script(WATCH)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
            name = django_settings.SESSION_COOKIE_NAME
            context.add_cookies([{"name": name, "value": cookie, "url": daphne_url}])
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
        )
        response = page.goto(daphne_url + path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        return page, console

    yield open_
    for context in contexts:
        context.close()


def violations(page, console: list[str]) -> list[str]:
    return page.evaluate("window.__csp") + console


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser("root", password="not-used-here-1")


@pytest.mark.parametrize(
    "path", ["/", "/calls/", "/originate/", "/kiosk/", "/admin/", "/admin/monitor/kiosklink/add/"]
)
def test_no_logged_in_page_breaks_the_policy(watched, root, path, record):
    seed(20, 3)
    page, console = watched(root, path)
    if path in ("/", "/calls/", "/kiosk/"):
        page.wait_for_selector(LIVE)
    page.wait_for_load_state("networkidle")
    assert violations(page, console) == []
    record("security", "inline script or style in a page, in a browser (CSP)", "refused")


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_the_login_pages_keep_to_the_policy(watched, path):
    page, console = watched(None, path)
    page.wait_for_load_state("networkidle")
    assert violations(page, console) == []


def test_a_paging_kiosk_keeps_to_the_policy(watched):
    pbx = seed(300, 12)
    page, console = watched(None, kiosk_link(pbx), viewport={"width": 1366, "height": 768})
    page.wait_for_selector(LIVE)
    wait_for(
        lambda: page.evaluate(
            "() => document.getElementById('kiosk-turn').textContent.startsWith('page 2 of')"
        ),
        60,
        "the kiosk turning to its second page",
        step=0.25,
    )
    assert violations(page, console) == []


def test_the_watch_sees_an_inline_style(watched):
    page, console = watched(None, "/accounts/login/")
    page.evaluate(
        "() => document.head.appendChild(Object.assign(document.createElement('style'),"
        " {textContent: 'body { color: red }'}))"
    )
    seen = wait_for(lambda: violations(page, console), 10, "the violation to be reported")
    assert any("style-src" in v for v in seen)
