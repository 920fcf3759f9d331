"""Shared test basics: the session's var dir and the optional PostgreSQL and Redis services.

The var dir itself is made by ``fcmdash.pytest_plugin``, because Django's settings (which write
keys into it) load before this file is read.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import unavailable

REPO_DIR = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# The reliability ledger and the secret watch, for every test of the suite.
pytest_plugins = ["tests.reliability.plugin"]


@pytest.fixture(scope="session")
def var_dir() -> Path:
    """This session's own FCMDASH_VAR_DIR (a temporary directory removed at the end)."""
    return Path(os.environ["FCMDASH_VAR_DIR"])


def _answering(variable: str, default: str) -> str:
    """The URL in ``variable`` (or ``default``) if its host:port accepts a TCP connection.

    Skips the test when nothing answers; fails it under CI (``CI=true``), whose .ci/run starts
    both services, so that a broken service cannot turn into a green run.
    """
    url = os.environ.get(variable) or default
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            pass
    except OSError as exc:
        unavailable(f"{variable}: nothing answers at {parts.hostname}:{parts.port} ({exc})")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server to talk to: ``FCMDASH_TEST_POSTGRES_URL``, by default local `test`."""
    return _answering("FCMDASH_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server to talk to: ``FCMDASH_TEST_REDIS_URL``, by default 127.0.0.1:6379."""
    return _answering("FCMDASH_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@pytest.fixture(autouse=True)
def _fresh_broadcast_memory():
    """Each test starts with a broadcaster that has sent nothing: it sends only tiles that
    changed since it last sent them (``monitor.broadcast.Sent``), and a test's PBX may have the
    pk of an earlier test's."""
    from monitor import broadcast

    for memory in (broadcast._sent, broadcast._day_sent, broadcast._day_next):
        memory.clear()
    yield
    for memory in (broadcast._sent, broadcast._day_sent, broadcast._day_next):
        memory.clear()
    broadcast._day_pending.clear()
