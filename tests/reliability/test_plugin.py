"""The reliability plugin itself: the secret watch finds a leak wherever it is, and the table
is what the README shows. (A watch that never fires would prove nothing.)"""

from __future__ import annotations

import logging

import pytest

from .ledger import END, START, Ledger, render, replace_between_markers
from .plugin import TEST_SECRETS, Watch, WatchHandler


def test_the_watch_finds_a_secret_in_text_bytes_and_log_records():
    watch = Watch(secrets=("canary-123",))
    watch.text("nothing here", "page or API body")
    assert not watch.hits
    watch.text(b"...Secret: canary-123\r\n...", "file", "test-artifacts/x.log")
    logger = logging.getLogger("tests.reliability.selftest")
    handler = WatchHandler(watch)
    logger.addHandler(handler)
    try:
        try:
            raise ConnectionError("login refused for canary-123")
        except ConnectionError:
            logger.exception("failed")  # in the traceback only
    finally:
        logger.removeHandler(handler)
    assert len(watch.hits) == 2
    assert watch.hits[0].startswith("file test-artifacts/x.log")
    assert "log record" in watch.hits[1]
    assert watch.searched == {"page or API body": 1, "file": 1, "log record": 1}


def test_the_watched_secrets_are_the_ones_the_tests_use():
    from .conftest import CANARY_SECRET

    assert CANARY_SECRET in TEST_SECRETS and "wb1pass9" in TEST_SECRETS


def test_the_ledger_counts_attempts_and_failures_and_renders_the_table():
    ledger = Ledger()
    ledger.add("PBX fault", "restart", "survived", 3)
    ledger.add("security", "CR in a field", "refused", 2)
    ledger.add("security", "CR in a field", "refused", 1, ok=False)
    ledger.fuzz("AMI parser: random bytes", 300)
    table = render(ledger)
    assert "| PBX fault | restart | 3 | survived |" in table
    assert "| security | CR in a field | 3 | **FAILED** (1 of 3) |" in table
    assert "Fuzzed inputs: **300** (AMI parser: random bytes 300)." in table
    with pytest.raises(ValueError):
        ledger.add("security", "CR in a field", "survived")  # one outcome per row
    with pytest.raises(ValueError):
        ledger.add("weather", "rain", "survived")


def test_the_readme_block_between_the_markers_is_replaced_and_nothing_else():
    text = f"# x\n\nbefore\n{START}\nold table\n{END}\nafter\n"
    assert replace_between_markers(text, "new\n") == f"# x\n\nbefore\n{START}\nnew\n{END}\nafter\n"
    with pytest.raises(ValueError):
        replace_between_markers("no markers", "new\n")
