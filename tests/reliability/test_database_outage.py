"""PostgreSQL goes away: the worker pool (advisory lock, flushes, statistics) runs on a real
PostgreSQL server through a TCP proxy, and the proxy is cut (listener closed, connections
reset) so that the database is really unreachable. Meanwhile calls come and go on the PBX.

The AMI session must stay the same session throughout, the worker's live state must follow the
PBX all along, and once the database is back it must catch up to the PBX's truth.

The normal run cuts it for 3 s; the run the issue asks for (30 s) is marked ``slow`` and runs
in ``make test`` and CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from monitor.models import Pbx, WorkerStats
from monitor.runner import WorkerPool
from tests.production.conftest import fresh_database

from .conftest import (
    CANARY_SECRET,
    CANARY_USER,
    calls_in_progress,
    eventually,
    live_differences,
    new_sim,
    truth_differences,
)
from .database import migrate, postgres_through, via
from .proxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres_proxy(postgres_url: str, tmp_path) -> Iterator[tuple[TcpProxy, str]]:
    """A fresh, migrated PostgreSQL database, and a proxy in front of its server."""
    from urllib.parse import urlsplit

    with fresh_database(postgres_url) as db_url:
        migrate(db_url, tmp_path / "var")
        server = urlsplit(db_url)
        with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
            yield proxy, via(proxy, db_url)


def add_pbx(port: int) -> int:
    pbx = Pbx(name="Main", host="127.0.0.1", port=port, username=CANARY_USER, keepalive=5)
    pbx.set_secret(CANARY_SECRET)
    pbx.save()
    return pbx.pk


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        )
        return cursor.fetchone()[0]


def row(pbx_id: int) -> Pbx:
    return Pbx.objects.get(pk=pbx_id)


async def no_publish(pbx_id: int, summary: dict) -> None:
    """The pages are not part of this test (publishing renders through asgiref's one thread)."""


def move_on(sim, step: int) -> None:  # noqa: ANN001
    """A change on the PBX: calls start, are answered, end; members pause and unpause."""
    calls = sim.pbx.calls
    if step % 3 == 0:
        calls.phone_call("1005", "1002")
    elif step % 3 == 1:
        for ch in list(sim.pbx.channels.values()):
            if ch.name.startswith("PJSIP/1002-"):
                calls.answer(ch.name)
        sim.pbx.queue_pause("PJSIP/1003", step % 2 == 0, "6500", "Break")
    else:
        for ch in list(sim.pbx.channels.values())[:2]:
            calls.hangup(ch.name)


async def outage(postgres_proxy, seconds: float, record, caplog) -> None:  # noqa: ANN001
    proxy, url = postgres_proxy
    async with new_sim() as sim, postgres_through(url):
        pbx_id = await asyncio.to_thread(add_pbx, sim.port)
        pool = WorkerPool(poll=0.3, flush_interval=0.05, publish=no_publish)
        task = asyncio.create_task(pool.run())
        try:
            calls_in_progress(sim)
            await eventually(lambda: truth_differences(sim, pbx_id), 15, "mirror before")
            worker = pool.running[pbx_id].worker
            [session] = sim.authenticated_sessions
            proxy.cut()
            cut_at = time.monotonic()
            step = 0
            while time.monotonic() - cut_at < seconds:
                move_on(sim, step)
                step += 1
                # Waited for, not timed: on a machine whose cores are busy elsewhere a step
                # of the simulator and the worker's reading of it can take seconds.
                await eventually(lambda: live_differences(sim, worker), 15, "live state")
                assert sim.authenticated_sessions == [session] and not session.closed
                assert pool.running[pbx_id].worker is worker
                await asyncio.sleep(min(0.5, seconds / 6))
            with pytest.raises(Exception):  # noqa: B017 - really unreachable, whatever it says
                await asyncio.to_thread(row, pbx_id)
            proxy.restore()
            restored = time.monotonic()
            await eventually(lambda: truth_differences(sim, pbx_id), 15, "mirror after")
            caught_up = time.monotonic() - restored
            await eventually(lambda: row(pbx_id).connected and not row(pbx_id).stale)
            assert sim.authenticated_sessions == [session] and worker.client.reconnects == 0
            assert pool.running[pbx_id].worker is worker
            # The statistics the outage kept from the database are added to the next report
            # (the first one, if the cut came before any: on a busy machine it may).
            applied = worker.events_applied
            reported = WorkerStats.objects.filter(pbx_id=pbx_id).values_list("events_applied")
            await eventually(
                lambda: (reported.first() or (-1,))[0] >= applied,
                5,
                "statistics caught up",
            )
            assert (await asyncio.to_thread(WorkerStats.objects.get, pbx_id=pbx_id)).reconnects == 0
            # The advisory lock died with its connection; the worker holds it again.
            await eventually(advisory_locks_held, 5, "the lock taken again")
            print(
                f"\n{seconds:g} s outage, {step} changes on the PBX meanwhile; "
                f"the database caught up {caught_up:.2f} s after it came back"
            )
        finally:
            pool.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    # One line per kind of trouble, not one per flush, report or poll.
    for needle in (
        "database flush failed",
        "cannot write worker statistics",
        "cannot read the PBX list",
    ):
        lines = [r for r in caplog.records if needle in r.getMessage()]
        assert len(lines) <= 1, (needle, len(lines))
    assert not [
        r for r in caplog.records if r.levelno >= logging.ERROR and "flush" not in r.getMessage()
    ], "an error other than the failed flush"
    record(
        "service fault", f"PostgreSQL unreachable for {seconds:g} s (TCP proxy cut)", "nothing lost"
    )


async def test_database_unreachable_for_a_few_seconds(postgres_proxy, record, caplog):
    await outage(postgres_proxy, 3.0, record, caplog)


@pytest.mark.slow
async def test_database_unreachable_for_30_seconds(postgres_proxy, record, caplog):
    await outage(postgres_proxy, 30.0, record, caplog)
