"""Browser tests: Debian's Chromium through Playwright against a live Daphne.

- ``daphne_url``: Daphne in a child process on a free 127.0.0.1 port, on this session's test
  database (a file: SQLite ``:memory:`` cannot be shared) and the Redis channel layer of the
  ``redis_url`` fixture, under a prefix of its own.
- ``redis_layer``: the same layer in this process, so that a test's ``publish`` reaches the
  pages. Tests write rows with ``django_db(transaction=True)``, so Daphne sees them committed.
- Playwright never downloads a browser: ``/usr/bin/chromium`` or the tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from tests.conftest import REPO_DIR
from tests.support import wait_for
from tests.support.chromium import chromium
from tests.support.processes import free_port

ARTIFACTS = REPO_DIR / "test-artifacts"
PREFIX = f"fcmdash-test-{uuid.uuid4().hex[:8]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on 127.0.0.1:{port} within {timeout:g} s")


class Daphne:
    """Daphne in a child process, restartable on the same port (to drop every socket)."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port, self.env, self.log_path = port, env, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "fcmdash.asgi:application",
                ],
                cwd=REPO_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_listening(self.port, self.process)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None


@contextlib.contextmanager
def live_daphne(db_name: str, redis_url: str, prefix: str, log_path: Path) -> Iterator[Daphne]:
    """Daphne on a free port with ``tests/browser/live_settings.py``: the test database file
    ``db_name`` and the Redis channel layer of ``redis_url`` under ``prefix``; stopped at the
    end."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.live_settings",
        "FCMDASH_TEST_DB": db_name,
        "FCMDASH_TEST_REDIS_URL": redis_url,
        "FCMDASH_TEST_REDIS_PREFIX": prefix,
        "PYTHONPATH": str(REPO_DIR),
    }
    server = Daphne(free_port(), env, log_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def daphne(django_db_setup, django_db_blocker, redis_url, var_dir):
    with django_db_blocker.unblock():
        db_name = str(connection.settings_dict["NAME"])
    with live_daphne(db_name, redis_url, PREFIX, var_dir / "daphne.log") as server:
        yield server


@pytest.fixture(scope="session")
def daphne_url(daphne) -> str:
    return daphne.url


@pytest.fixture
def redis_layer(settings, redis_url):
    from channels.layers import channel_layers

    from fcmdash.settings import redis_channel_layer

    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, PREFIX)}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def publish(redis_layer):
    """``publish(pbx_id, summary)`` as the worker calls it, from a thread of its own (the
    Playwright sync API keeps an event loop in this one)."""
    from monitor import broadcast

    def run(pbx_id: int, summary: dict) -> None:
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(broadcast.publish(pbx_id, summary))
            except BaseException as exc:  # pragma: no cover - surfaced below
                errors.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join(20)
        assert not errors, errors

    return run


# Per module, not per session: the loop Playwright keeps running in the main thread would make
# every later test that calls async_to_sync (Django's test client on an async view) fail.
@pytest.fixture(scope="module")
def browser(daphne_url):
    with chromium() as browser:
        yield browser


@pytest.fixture
def open_page(browser, daphne_url):
    """``open_page(user_or_None, path)`` -> a Playwright page logged in as that user."""
    contexts = []

    def open_(user, path: str, viewport=None):
        context = browser.new_context(viewport=viewport or {"width": 1600, "height": 900})
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": daphne_url}]
            )
        page = context.new_page()
        page.goto(daphne_url + path)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# The people and the PBX of the web tests.
from tests.web.conftest import alice, bob, charlie, pbx  # noqa: E402, F401


# -- the real worker and the simulator, for tests/browser/test_live_*.py ----------------------
class WorkerThread:
    """The real :class:`~monitor.runner.WorkerPool` (the one ``amiworker`` runs) on an event loop
    of its own, in a thread of this process: it logs in to the simulator over TCP, writes the
    test database and publishes through the Redis layer of ``redis_layer``, which carries its
    tiles to the Daphne child process and the pages' actions back to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="amiworker")
        self.error: BaseException | None = None

    def _main(self) -> None:
        from monitor.runner import WorkerPool

        async def run() -> None:
            self.pool = WorkerPool(poll=0.5)
            self._ready.set()
            await self.pool.run()

        try:
            self.loop.run_until_complete(run())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        except BaseException as exc:  # pragma: no cover - surfaced by stop()
            self.error = exc
            self._ready.set()
        finally:
            self.loop.close()

    def start(self) -> WorkerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop the pool (its workers log off and mark their PBX down) and wait for it."""
        if self.pool is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.pool.stop)
        self._thread.join(45)  # a worker's stop is bounded: 5 s a step (monitor/worker.py)
        if self._thread.is_alive():
            frames = sys._current_frames()
            stacks = [
                f"--- {t.name}\n" + "".join(traceback.format_stack(frames[t.ident]))
                for t in threading.enumerate()
                if t.ident in frames and t is not threading.current_thread()
            ]
            raise AssertionError("the worker thread did not stop:\n" + "\n".join(stacks))
        assert self.error is None, self.error


class LivePbx:
    """A simulated PBX, its ``Pbx`` row, and the worker mirroring it."""

    def __init__(self, sim, row) -> None:
        from tests.support.simthread import SimThread

        self.sim: SimThread = sim
        self.pbx = row

    def snapshot(self) -> dict:
        return self.sim.call(self.sim.sim.snapshot)

    def channels(self, prefix: str = "") -> list[str]:
        names = [ch["name"] for ch in self.snapshot()["channels"].values()]
        return sorted(name for name in names if name.startswith(prefix))

    def wait_for(self, predicate, what: str, timeout: float = 10.0):
        """``predicate()``'s first truthy value, checked every 50 ms; fails after ``timeout``."""
        return wait_for(predicate, timeout, what, step=0.05)

    def wait_synced(self, timeout: float = 15.0) -> None:
        from monitor.models import Endpoint, Pbx

        count = len(self.snapshot()["endpoints"])

        def synced() -> bool:
            row = Pbx.objects.get(pk=self.pbx.pk)
            mirrored = Endpoint.objects.filter(pbx_id=self.pbx.pk).count()
            return row.connected and row.synced_at is not None and mirrored == count

        self.wait_for(synced, "the worker's first resync", timeout)

    def hang_up_everything(self) -> None:
        for name in self.channels():
            self.sim.call(self.sim.sim.pbx.calls.hangup, name)


@pytest.fixture
def live_pbx(transactional_db, redis_layer, daphne_url):
    """The lab PBX of the simulator (``SimThread``, real AMI over TCP on 127.0.0.1), a ``Pbx``
    row for it (AMI user ``admin123``, every privilege) and :class:`WorkerThread` mirroring it,
    synchronised once before the test starts. Function scoped: the transactional test's flush
    empties the tables afterwards, so the worker must be gone by then."""
    from monitor.models import Pbx
    from tests.support.simthread import SimThread

    with SimThread() as sim:
        row = Pbx(name="Lab", host="127.0.0.1", port=sim.port, username="admin123")
        row.set_secret("admin123")
        row.save()
        live = LivePbx(sim, row)
        worker = WorkerThread().start()
        try:
            live.wait_synced()
            yield live
        finally:
            live.hang_up_everything()
            worker.stop()
