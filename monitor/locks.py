"""At most one active worker per PBX, whatever number of ``amiworker`` processes run.

Two AMI sessions mirroring one PBX would race each other's writes, and double every action a
supervisor clicks. Each PBX has its own lock, held for as long as its worker runs:

- PostgreSQL: a session-level advisory lock on a connection of its own. The server releases it
  the moment the holder's connection dies, so a killed worker is replaced at the next poll.
- SQLite (the embedded default): ``flock`` on a file beside the database. The kernel releases
  it when the holding process exits, and SQLite is never shared beyond one host anyway.

A worker that does not get the lock stands by and polls (``POLL_SECONDS``).

The database going away is not taken as losing the lock (PostgreSQL frees it with the
connection): while nobody reaches the database nobody can take the lock either, so the worker
keeps its AMI session and the mirror catches up later. As soon as the database answers again
the lock is taken again on a new connection; if another worker got it meanwhile (it reached the
database while this one could not), this one stops then.

A lock alone leaves a window: the lock's connection can die while the worker's other
connections still work (an idle connection cut by a firewall, an admin's
``pg_terminate_backend``), and the stand-by then takes the PBX over while the old worker goes
on writing until its next look at the lock. So a takeover also raises the PBX row's *fence*
(``Pbx.fence``, in the same transaction that names the new worker), and every transaction a
worker writes starts by checking that the fence is still the one it was started with
(``mirror.check_fence``, under the row's write lock): the old worker's first write after the
takeover is refused, it stops at once, and actions sent for the new fence are not its to run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import connections

POLL_SECONDS = 2.0


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class PbxLock(Protocol):
    def try_acquire(self) -> bool: ...
    def still_held(self) -> bool | None: ...  # None: cannot tell now (database away)
    def release(self) -> None: ...


class FileLock:
    """``flock`` on ``<var>/locks/pbx-<id>.lock``."""

    def __init__(self, pbx_id: int, directory: Path | None = None) -> None:
        directory = directory or Path(settings.FCMDASH_VAR_DIR) / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"pbx-{pbx_id}.lock"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, holder_name().encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a dedicated psycopg connection."""

    def __init__(self, pbx_id: int, alias: str = "default") -> None:
        self.pbx_id = pbx_id
        self.alias = alias
        digest = hashlib.sha256(f"fcmdash.pbx.{pbx_id}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn = None

    def _connect(self):  # type: ignore[no-untyped-def]
        # Django's connections are closed between requests and per thread; the lock must live
        # exactly as long as this worker, so it gets a connection Django does not manage.
        conn = connections[self.alias]
        params = conn.get_connection_params()
        new = conn.get_new_connection(params)
        new.autocommit = True
        return new

    def try_acquire(self) -> bool:
        if self._conn is None:
            self._conn = self._connect()
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            got = bool(cur.fetchone()[0])
        if not got:
            self.release()
        return got

    def still_held(self) -> bool | None:
        """True if held, False if lost, None if the database cannot be asked now."""
        if self._conn is None:
            return self._take_again()
        try:
            with self._conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = (%s::bigint & 4294967295)::oid",
                    [self.key],
                )
                return bool(cur.fetchone()[0])
        except Exception:
            # The connection broke, and with it the lock: take it again if nobody else has.
            self.release()
            return self._take_again()

    def _take_again(self) -> bool | None:
        try:
            return self.try_acquire()
        except Exception:
            self.release()
            return None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def lock_for(pbx_id: int) -> PbxLock:
    if connections["default"].vendor == "postgresql":
        return AdvisoryLock(pbx_id)
    return FileLock(pbx_id)
