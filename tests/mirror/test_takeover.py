"""Two ``manage.py amiworker`` processes on one PBX and one database: exactly one mirrors it,
the other stands by; ``kill -9`` the active one and the other takes over within 10 s.

Real processes, a real file SQLite database (and, if it answers, a real PostgreSQL database of
its own), the default lock poll of 2 s. The call that was up when the active worker died has
ended by the time the other takes over, and 1009 was deleted meanwhile: the new worker's first
full write removes both from the database (the process-restart variant of the ghost test).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import wait_for
from tests.support.processes import Process, fresh_database
from tests.support.simthread import SimThread
from tests.support.takeover import Db, add_pbx, child_env, start_worker, synced_after

TAKEOVER_LIMIT = 10.0

pytestmark = pytest.mark.slow


def takeover(tmp_path: Path, database_url: str | None) -> float:
    var_dir = tmp_path / "var"
    env = child_env(var_dir, database_url)
    with SimThread(time_scale=0.01) as st:
        pk = add_pbx(env, st.port)
        db = Db(database_url, var_dir / "fcmdash.sqlite3")
        sessions = lambda: st.call(lambda: len(st.sim.authenticated_sessions))  # noqa: E731
        workers = [start_worker(n, env, tmp_path) for n in ("a", "b")]
        killed_one: Process | None = None
        try:
            # Both start at once: one gets the lock, the other says it stands by.
            wait_for(
                lambda: sessions() == 1 and db.pbx(pk)["synced_at"],
                30,
                "one worker to sync",
                step=0.02,
            )
            holder = db.pbx(pk)["worker"]
            active = next(w for w in workers if holder.endswith(f":{w.pid}"))
            standby = next(w for w in workers if w is not active)
            wait_for(
                lambda: "another worker is active; standing by" in standby.log(),
                10,
                "the stand-by line",
                step=0.02,
            )
            assert "standing by" not in active.log()
            assert "worker active at" in active.log() and "worker active at" not in standby.log()
            time.sleep(2.5)  # more than a lock poll: still one session, still the same holder
            assert sessions() == 1 and db.pbx(pk)["worker"] == holder

            st.call(lambda: st.sim.pbx.calls.phone_call("1005", "1002"))
            wait_for(lambda: len(db.calls(pk)) == 2, 10, "the call in the database", step=0.02)

            os.kill(active.pid, signal.SIGKILL)
            killed_one = active
            killed_wall, killed = time.time(), time.monotonic()
            active.popen.wait(5)
            # While nobody mirrors the PBX: the call ends and 1009 is deleted.
            for name in [
                c["name"] for c in st.call(lambda: st.sim.snapshot())["channels"].values()
            ]:
                st.call(lambda n=name: st.sim.pbx.calls.hangup(n))
            st.call(lambda: st.sim.pbx.endpoints.pop("1009"))

            wait_for(
                lambda: sessions() == 1 and st.call(lambda: len(st.sim.sessions)) == 1,
                15,
                "the new session",
                step=0.02,
            )
            logged_in = time.monotonic() - killed
            wait_for(
                lambda: synced_after(db.pbx(pk)["synced_at"], killed_wall),
                15,
                "the new worker's full write",
                step=0.02,
            )
            written = time.monotonic() - killed
            kind = "PostgreSQL" if database_url else "SQLite"
            print(
                f"\ntakeover ({kind}): logged in after {logged_in:.2f} s,"
                f" first full write committed after {written:.2f} s"
            )
            after = db.pbx(pk)
            assert after["worker"].endswith(f":{standby.pid}") and after["connected"]
            assert after["stale_since"] is None
            assert (
                db.calls(pk) == []
                and "1009" not in db.endpoints(pk)
                and len(db.endpoints(pk)) == 10
            )
            assert written <= TAKEOVER_LIMIT, f"takeover took {written:.2f} s"
            return written
        finally:
            for w in workers:
                w.stop(timeout=10)
            for w in workers:
                if w is not killed_one:  # the survivors stop cleanly on SIGTERM
                    assert w.popen.returncode == 0, w.log()[-2000:]
                    assert "amiworker: stopped" in w.log()


def test_two_workers_on_sqlite_one_active_the_other_takes_over(tmp_path):
    takeover(tmp_path, None)


def test_two_workers_on_postgresql_one_active_the_other_takes_over(tmp_path, postgres_url):
    with fresh_database(postgres_url, "fcmdash_takeover") as database_url:
        takeover(tmp_path, database_url)
