"""Debian's Chromium for the browser tests (tests/browser, tests/production, tests/reliability).

Playwright never downloads a browser: ``/usr/bin/chromium`` (``apt install chromium``, as
``.ci/run`` does) or the test is skipped, and failed under CI (``tests.support.unavailable``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from tests.support import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is not installed (apt install chromium)")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a Playwright ``Browser``) for as long as the block runs."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread for as long as it runs, and
    # Django refuses ORM calls (a test's rows, the database flush after it) next to a running
    # loop. They are plain sync code here, so the check is off while the browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
