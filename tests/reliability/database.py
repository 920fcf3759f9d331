"""Run this process's Django on another database for a while: PostgreSQL behind a TcpProxy.

The session's tests use SQLite; the database-outage tests need the worker pool (its advisory
lock, its flushes, its statistics) on a PostgreSQL server that really goes away. So, for the
length of :func:`postgres_through`:

- ``connections.settings["default"]`` is a PostgreSQL dict (a new dict: connections made
  before keep theirs), so every thread that opens a connection from now on opens that one;
- this thread's connection is swapped too (the worker pool asks it for the lock kind);
- the event loop gets a fresh default executor, whose threads are the only others that
  connect. At the end each of them closes and forgets its connection, this thread gets its
  SQLite connection back, and the settings are restored: no PostgreSQL connection leaks into
  the tests after.

Code run under it must not use ``sync_to_async(thread_sensitive=True)`` (asgiref's one
long-lived thread): ``asyncio.to_thread`` and ``thread_sensitive=False`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.db import connections

from tests.conftest import REPO_DIR

from .proxy import TcpProxy


def migrate(db_url: str, var_dir: Path) -> None:
    env = {
        "DATABASE_URL": db_url,
        "FCMDASH_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "fcmdash.settings",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def via(proxy: TcpProxy, db_url: str) -> str:
    """``db_url`` with the proxy's address instead of the server's."""
    parts = urlsplit(db_url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _forget_connections() -> None:
    for alias in list(connections.settings):
        with contextlib.suppress(Exception):
            connections[alias].close()
        with contextlib.suppress(AttributeError):
            del connections[alias]


@contextlib.asynccontextmanager
async def postgres_through(url: str, *, threads: int = 8) -> AsyncIterator[None]:
    old_settings = connections.settings["default"]
    old_here = connections["default"]
    parsed = dj_database_url.parse(url)
    new = {
        **old_settings,
        **parsed,
        "OPTIONS": {"connect_timeout": 5},
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
    }
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pg")
    loop.set_default_executor(executor)
    connections.settings["default"] = new
    del connections["default"]  # this thread: a PostgreSQL connection from now on
    try:
        yield
    finally:
        barrier = threading.Barrier(threads)

        def close_here() -> None:
            _forget_connections()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(5)  # one call per thread: each of them closes its own

        await asyncio.gather(*(loop.run_in_executor(executor, close_here) for _ in range(threads)))
        _forget_connections()
        connections.settings["default"] = old_settings
        connections["default"] = old_here
        executor.shutdown(wait=True)
        loop.set_default_executor(ThreadPoolExecutor())
