"""Two ``manage.py amiworker`` processes on one database, for the takeover tests
(``tests/mirror/test_takeover.py``, ``tests/reliability/test_split_brain.py``): their
environment, the database they share read from outside Django, and the PBX row they mirror.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, Process

SETUP = """
import django, sys
django.setup()
from django.core.management import call_command
from monitor.models import Pbx
call_command("migrate", verbosity=0)
pbx = Pbx(name="Main", host="127.0.0.1", port=int(sys.argv[1]), username="admin123")
pbx.set_secret("admin123")
pbx.save()
print(pbx.pk)
"""


def child_env(var_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FCMDASH_") and k != "DATABASE_URL"
    }
    env.update(
        FCMDASH_VAR_DIR=str(var_dir),
        FCMDASH_LOG_LEVEL="INFO",
        DJANGO_SETTINGS_MODULE="fcmdash.settings",
    )
    env.pop("REDIS_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def start_worker(name: str, env: dict[str, str], log_dir: Path) -> Process:
    """``manage.py amiworker`` in its own session, its output in ``<log_dir>/<name>.log``."""
    argv = [sys.executable, "manage.py", "amiworker", "--flush-interval", "0.1"]
    return Process(name, argv, env, log_dir).start()


class Db:
    """Reads the workers' database from outside Django (this process's Django has its own)."""

    def __init__(self, url: str | None, sqlite_path: Path) -> None:
        self.url, self.sqlite_path = url, sqlite_path

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        if self.url is None:
            with sqlite3.connect(self.sqlite_path, timeout=10) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()

    def pbx(self, pk: int) -> dict[str, Any]:
        cols = ("worker", "connected", "synced_at", "stale_since")
        row = self.rows(f"SELECT {', '.join(cols)} FROM monitor_pbx WHERE id = %s", pk)[0]
        return dict(zip(cols, row, strict=True))

    def calls(self, pk: int) -> list[str]:
        return [r[0] for r in self.rows("SELECT channel FROM monitor_call WHERE pbx_id = %s", pk)]

    def endpoints(self, pk: int) -> set[str]:
        return {
            r[0] for r in self.rows("SELECT resource FROM monitor_endpoint WHERE pbx_id = %s", pk)
        }


def synced_after(value: Any, wall: float) -> bool:
    if value is None:
        return False
    if isinstance(value, str):  # SQLite returns text
        from datetime import datetime

        value = datetime.fromisoformat(value)
    return value.timestamp() > wall


def add_pbx(env: dict[str, str], sim_port: int) -> int:
    """Migrate the workers' database and add a PBX for the simulator at ``sim_port``."""
    setup = subprocess.run(
        [sys.executable, "-c", SETUP, str(sim_port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    return int(setup.stdout.split()[-1])
