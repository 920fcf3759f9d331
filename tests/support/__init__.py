"""Helpers shared by the test suites and the benchmarks."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose tool or service is missing on a developer's machine; fail it under CI
    (``CI=true``, set by ``.ci/run``), which installs and starts everything, so that a missing
    piece cannot turn into a green run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
