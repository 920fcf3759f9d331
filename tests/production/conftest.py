"""Production mode for real: PostgreSQL, Redis, ``manage.py amiworker`` and two Daphne processes,
set up as the README's "Production" section says.

``deployment`` (one for the tests of this directory, built on first use) does, in order:

1. a fresh PostgreSQL database with a unique name on the ``postgres_url`` server (dropped at the
   end), and a Redis prefix of its own on the ``redis_url`` server (its keys deleted at the end);
2. ``migrate``, ``collectstatic`` and the rows: the PBX "Main" (the simulator below), the demo
   users and an API token;
3. a PBX simulator (``SimThread``, in this process, so tests can make calls);
4. ``manage.py amiworker`` and two ``daphne -b 127.0.0.1 -p <free port> fcmdash.asgi:application``
   with ``DATABASE_URL``, ``REDIS_URL`` and ``FCMDASH_VAR_DIR`` set, each in its own session;
5. waits until ``/healthz`` answers 200 on both Daphnes.

At the end every process it started is stopped (SIGTERM, then SIGKILL), and a test fails if one
is still running. The processes' output goes to ``test-artifacts/production/<name>.log``.

Without PostgreSQL or Redis the tests skip (under ``CI=true`` they fail): see the fixtures in
``tests/conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_DIR
from tests.support import processes, wait_for
from tests.support.processes import Process, delete_redis_keys, free_port
from tests.support.simthread import SimThread

# The tests of this directory import free_port, wait_for and Process from here, and
# tests/reliability imports fresh_database.

ARTIFACTS = REPO_DIR / "test-artifacts" / "production"
PASSWORD = "prod-Test-pass-7"
START_TIMEOUT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "production: PostgreSQL + Redis + amiworker + two Daphne processes (tests/production)",
    )


class Web(Process):
    """A Daphne process on a free 127.0.0.1 port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        super().__init__(name, [*argv, "fcmdash.asgi:application"], env, log_dir)

    def get(self, path: str, *, token: str | None = None, timeout: float = 10.0):
        """``(status, headers, body text)`` of ``GET path``; HTTP errors are answers too."""
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def health(self, token: str | None = None) -> tuple[int, dict[str, Any]]:
        """The JSON of /healthz: its details need an API token (``Deployment.token``)."""
        status, _, body = self.get("/healthz", token=token)
        return status, json.loads(body)

    def answering(self) -> bool:
        if not self.alive:
            pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
        try:
            self.get("/healthz", timeout=2)
        except OSError:
            return False
        return True


@dataclass
class Deployment:
    """What ``deployment`` set up; tests may start more processes through it."""

    env: dict[str, str]
    db_url: str
    log_dir: Path
    sim: SimThread
    token: str = ""
    pbx_id: int = 0
    processes: list[Process] = field(default_factory=list)
    worker: Process | None = None
    web: list[Web] = field(default_factory=list)

    # -- commands ------------------------------------------------------------------------
    def manage(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run ``manage.py args`` to its end; returns its stdout, fails the test if it fails."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_DIR,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}"[-4000:])
        return result.stdout

    def django(self, code: str) -> str:
        """Run Python ``code`` with Django set up on the deployment's database."""
        return self.manage("shell", "--no-imports", "-c", code)

    def add_pbx(self, name: str, port: int) -> int:
        return int(
            self.django(
                "from monitor.models import Pbx\n"
                f"p = Pbx(name={name!r}, host='127.0.0.1', port={port}, username='admin123')\n"
                "p.set_secret('admin123')\n"
                "p.save()\n"
                "print(p.pk)\n"
            ).split()[-1]
        )

    # -- processes -------------------------------------------------------------------------
    def start_worker(self, name: str = "amiworker") -> Process:
        argv = [
            sys.executable,
            "manage.py",
            "amiworker",
            "--poll",
            "0.5",
            "--flush-interval",
            "0.1",
        ]
        process = Process(name, argv, self.env, self.log_dir)
        self.processes.append(process)
        return process.start()

    def start_web(self, name: str, **env: str) -> Web:
        web = Web(name, {**self.env, **env}, self.log_dir)
        self.processes.append(web)
        web.start()
        wait_for(web.answering, START_TIMEOUT, f"{name} to answer on {web.url}")
        return web

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every Daphne of the deployment answers /healthz with 200."""
        last: dict[str, Any] = {}

        def healthy() -> bool:
            for web in self.web:
                status, last[web.name] = web.health()
                if status != 200:
                    return False
            return True

        deadline = time.monotonic() + timeout
        while not healthy():
            if time.monotonic() > deadline:
                pytest.fail(f"not healthy after {timeout:g} s: {json.dumps(last, indent=1)}")
            time.sleep(0.1)

    def stop_all(self) -> list[str]:
        """Stop every process started; returns the names of those that would not stop."""
        for process in reversed(self.processes):
            process.stop()
        return [p.name for p in self.processes if p.alive]


def fresh_database(server_url: str) -> contextlib.AbstractContextManager[str]:
    """A new, empty database ``fcmdash_prod_*`` on the server of ``server_url``; dropped
    afterwards (``tests.support.processes.fresh_database``)."""
    return processes.fresh_database(server_url, "fcmdash_prod")


# Per package: built for the first test here that needs it, gone after the last test here.
@pytest.fixture(scope="package")
def deployment(postgres_url: str, redis_url: str) -> Iterator[Deployment]:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    var_dir = Path(tempfile.mkdtemp(prefix="fcmdash-prod-"))
    log_dir = var_dir / "logs"
    log_dir.mkdir()
    prefix = f"fcmdash-prod-{run}"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, var_dir, ignore_errors=True)
        stack.callback(_save_logs, log_dir)
        db_url = stack.enter_context(fresh_database(postgres_url))
        stack.callback(delete_redis_keys, redis_url, prefix)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fcmdash.settings",
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "FCMDASH_REDIS_PREFIX": prefix,
            "FCMDASH_VAR_DIR": str(var_dir / "var"),
            "FCMDASH_DB_CONN_MAX_AGE": "60",
            "FCMDASH_HEALTH_MAX_AGE": "5",
            "FCMDASH_DEMO_PASSWORD": PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
        sim = stack.enter_context(SimThread())
        d = Deployment(env=env, db_url=db_url, log_dir=log_dir, sim=sim)
        stack.callback(_stop_everything, d)
        d.manage("migrate", "--noinput")
        d.manage("collectstatic", "--noinput")
        d.manage("demo_users")
        d.token = d.manage("apitoken", "production tests").strip()
        d.pbx_id = d.add_pbx("Main", sim.port)
        d.worker = d.start_worker()
        d.web = [d.start_web("daphne-1"), d.start_web("daphne-2")]
        d.wait_healthy(START_TIMEOUT)
        print(f"\nproduction deployment ready in {time.monotonic() - started:.1f} s")
        yield d


def _stop_everything(d: Deployment) -> None:
    stray = d.stop_all()
    assert not stray, f"processes still running after SIGKILL: {stray}"


def _save_logs(log_dir: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for log in log_dir.glob("*.log"):
        shutil.copy(log, ARTIFACTS / log.name)


@pytest.fixture
def healthy(deployment: Deployment) -> Deployment:
    """The deployment, healthy again (a test before may have broken something for a moment)."""
    deployment.wait_healthy()
    return deployment
