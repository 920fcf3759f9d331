"""Helpers shared by the test suites and the benchmarks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NoReturn

# pytest is imported where it is used: the benchmarks import this package (through
# ``tests.support.processes``, ``simthread``, ``truth``) as plain Python.


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose tool or service is missing on a developer's machine; fail it under CI
    (``CI=true``, set by ``.ci/run``), which installs and starts everything, so that a missing
    piece cannot turn into a green run."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """``predicate()``'s first truthy value, asked every ``step`` seconds; fails the test after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            import pytest

            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
