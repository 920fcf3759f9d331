"""Split brain: the stand-by takes a PBX over while the worker it replaces can still write.

Two ``manage.py amiworker`` processes on one PostgreSQL database of their own, a triggered
table that records which worker's connection wrote each row and when.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from tests.support import wait_for
from tests.support.processes import Process, fresh_database
from tests.support.simthread import SimThread
from tests.support.takeover import Db, add_pbx, child_env

pytestmark = pytest.mark.slow

# Every row the workers write, with the application_name of the connection that wrote it: each
# worker's DATABASE_URL names it, so the rows say which worker wrote what, and when.
AUDIT_SQL = """
CREATE TABLE written_by (
    at timestamptz NOT NULL DEFAULT clock_timestamp(), app text NOT NULL, tbl text NOT NULL
);
CREATE FUNCTION written_by() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO written_by (app, tbl) VALUES (current_setting('application_name'), TG_TABLE_NAME);
    RETURN NULL;
END $$;
"""
AUDITED = (
    "monitor_pbx",
    "monitor_endpoint",
    "monitor_queue",
    "monitor_queuemember",
    "monitor_queuecaller",
    "monitor_call",
    "monitor_workerstats",
)


def with_app(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


def test_a_worker_that_lost_its_lock_writes_nothing_after_the_takeover(
    tmp_path, postgres_url, record
):
    """Only the active worker's lock connection dies (a firewall's idle timeout, an admin's
    ``pg_terminate_backend``): PostgreSQL frees the lock, the stand-by takes the PBX over, while
    the old worker's own connection still works and it still has its AMI session. It polls its
    lock every 10 s here, so without the fence it would go on writing for seconds beside the new
    one; with it, none of its writes comes after the takeover, and it stands by.

    Checked by reverting: without ``check_fence`` in the flush, the old worker's rows keep
    coming after the takeover (hundreds, over several seconds) and this fails."""
    import psycopg

    with (
        fresh_database(postgres_url, "fcmdash_fence") as database_url,
        SimThread(time_scale=0.01) as st,
    ):
        pk = add_pbx(child_env(tmp_path / "var", database_url), st.port)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(AUDIT_SQL)
            for table in AUDITED:
                conn.execute(
                    f"CREATE TRIGGER written_by AFTER INSERT OR UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION written_by()"
                )
        db = Db(database_url, tmp_path / "unused")
        sessions = lambda: st.call(lambda: len(st.sim.authenticated_sessions))  # noqa: E731
        argv = [sys.executable, "manage.py", "amiworker", "--flush-interval", "0.1"]
        old_env = child_env(tmp_path / "var", with_app(database_url, "worker_old"))
        new_env = child_env(tmp_path / "var", with_app(database_url, "worker_new"))
        old = Process("old", [*argv, "--poll", "10"], old_env, tmp_path).start()
        new: Process | None = None
        stop_calls = threading.Event()
        try:
            wait_for(lambda: db.pbx(pk)["synced_at"], 30, "the first worker to sync", step=0.05)
            new = Process("new", argv, new_env, tmp_path).start()
            wait_for(lambda: "standing by" in new.log(), 30, "the stand-by", step=0.05)

            def calls() -> None:  # changes all the time: there is always something to write
                while not stop_calls.is_set():
                    st.call(lambda: st.sim.pbx.calls.phone_call("1005", "1002"))
                    time.sleep(0.05)
                    for name in [
                        c["name"] for c in st.call(lambda: st.sim.snapshot())["channels"].values()
                    ]:
                        st.call(lambda n=name: st.sim.pbx.calls.hangup(n))
                    time.sleep(0.05)

            caller = threading.Thread(target=calls, daemon=True)
            caller.start()
            wait_for(
                lambda: (
                    db.rows("SELECT count(*) FROM written_by WHERE tbl = 'monitor_call'")[0][0] > 4
                ),
                15,
                "the old worker writing calls",
                step=0.05,
            )
            # The old worker's lock connection dies; its other connection lives on.
            killed = db.rows(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted"
            )
            assert killed == [(True,)]
            wait_for(lambda: "worker active at" in new.log(), 15, "the takeover", step=0.05)
            wait_for(
                lambda: (
                    "another worker has taken over" in old.log() or "lost its lock" in old.log()
                ),
                30,
                "the old worker to notice",
                step=0.05,
            )
            takeover_at = db.rows("SELECT min(at) FROM written_by WHERE app = 'worker_new'")[0][0]
            late = db.rows(
                "SELECT tbl, count(*), max(at) - %s FROM written_by "
                "WHERE app = 'worker_old' AND at > %s GROUP BY tbl",
                takeover_at,
                takeover_at,
            )
            assert late == [], f"the old worker wrote after the takeover: {late}"
            assert "another worker has taken over" in old.log()
            stop_calls.set()
            caller.join(10)
            # The new worker alone mirrors the PBX; the old one stands by.
            wait_for(lambda: sessions() == 1, 15, "one AMI session", step=0.05)
            wait_for(lambda: "another worker is active; standing by" in old.log(), 30, "stand-by")
            after = db.pbx(pk)
            assert after["worker"].endswith(f":{new.pid}") and after["connected"]
            assert old.popen.poll() is None
            record(
                "service fault",
                "active worker's lock connection killed while its other connection and AMI "
                "session live on (split brain): no write of it after the takeover",
                "nothing lost",
            )
        finally:
            stop_calls.set()
            for w in (old, new):
                if w is not None:
                    w.stop(timeout=10)
