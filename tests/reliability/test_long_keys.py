"""PostgreSQL: names the PBX sends that are longer than any column used to be (a queue, an
endpoint, a member interface of 600 characters) are mirrored whole, shown cut on the wallboard
and whole in the API; a key too long for any index leaves out its row only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from monitor.models import Endpoint, Pbx, Queue, QueueMember
from monitor.runner import WorkerPool
from monitor.sim.model import Endpoint as SimEndpoint
from monitor.sim.model import Queue as SimQueue
from tests.production.conftest import fresh_database

from .conftest import eventually, new_sim, truth_differences
from .database import migrate, postgres_through
from .test_database_outage import add_pbx, no_publish

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "Q" + "x" * 598 + "Z"  # 600 characters
LONG_EXT = "E" + "7" * 598 + "Z"


@pytest.fixture
def postgres_db(postgres_url: str, tmp_path) -> Iterator[str]:
    with fresh_database(postgres_url) as db_url:
        migrate(db_url, tmp_path / "var")
        yield db_url


def add_long_names(sim, *, queue: str, endpoint: str) -> None:  # noqa: ANN001
    sim.pbx.add_endpoint(SimEndpoint(name=endpoint))
    q = sim.pbx.add_queue(SimQueue(name=queue))
    sim.pbx.new_member(q, f"PJSIP/{endpoint}", name="Long Agent")


def resources() -> set[str]:
    return set(Endpoint.objects.values_list("resource", flat=True))


def queue_names() -> set[str]:
    return set(Queue.objects.values_list("name", flat=True))


def pages(pbx_id: int) -> tuple[str, str]:
    """The wallboard and the API's state, as a superuser sees them."""
    user = get_user_model().objects.create_superuser("longnames", "l@example.invalid", "pw")
    client = Client()
    client.force_login(user)
    wallboard = client.get(f"/?pbx={pbx_id}").content.decode()
    api = client.get("/api/v1/state").content.decode()
    return wallboard, api


async def test_600_character_names_are_mirrored_whole_and_shown_cut(postgres_db, record):
    async with new_sim() as sim, postgres_through(postgres_db):
        add_long_names(sim, queue=LONG, endpoint=LONG_EXT)
        pbx_id = await asyncio.to_thread(add_pbx, sim.port)
        pool = WorkerPool(poll=0.3, flush_interval=0.05, publish=no_publish)
        task = asyncio.create_task(pool.run())
        try:
            await eventually(lambda: truth_differences(sim, pbx_id), 15, "mirror")
            assert await asyncio.to_thread(Queue.objects.filter(name=LONG).exists)
            assert await asyncio.to_thread(Endpoint.objects.filter(resource=LONG_EXT).exists)
            member = QueueMember.objects.filter(interface=f"PJSIP/{LONG_EXT}").exists
            assert await asyncio.to_thread(member)
            wallboard, api = await asyncio.to_thread(pages, pbx_id)
        finally:
            pool.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    assert LONG in api and LONG_EXT in api
    # Keys stay whole where they are keys (a filter's value, a tile's sort key); what is read
    # on the screen is cut.
    shown = re.sub(r"<[^>]*>", " ", wallboard)
    assert LONG[:40] in shown and LONG_EXT[:40] in shown
    assert LONG not in shown and LONG_EXT not in shown
    record(
        "bad input", "600-character queue, endpoint and member names (PostgreSQL)", "nothing lost"
    )


async def test_a_key_no_index_can_hold_leaves_out_its_row_only(postgres_db, record, caplog):
    huge = "H" * 5000
    async with new_sim() as sim, postgres_through(postgres_db):
        add_long_names(sim, queue=huge, endpoint=huge)
        pbx_id = await asyncio.to_thread(add_pbx, sim.port)
        pool = WorkerPool(poll=0.3, flush_interval=0.05, publish=no_publish)
        task = asyncio.create_task(pool.run())
        try:
            others = {e.name for e in sim.pbx.endpoints.values() if e.name != huge}
            await eventually(lambda: resources() == others, 15, "the other endpoints")
            queues = {q for q in sim.pbx.queues if q != huge}
            await eventually(lambda: queue_names() == queues, 15, "the other queues")
            worker = pool.running[pbx_id].worker
            assert not worker.flush_error and not worker._db_failing
        finally:
            pool.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    lines = [r for r in caplog.records if "left out" in r.getMessage()]
    # One line per row left out (the endpoint, the queue, its member), not one per flush.
    assert len(lines) == 3 and all(r.levelno == logging.WARNING for r in lines), lines
    record("bad input", "5,000-character keys (PostgreSQL)", "survived")


def member_interfaces() -> set[str]:
    return set(QueueMember.objects.values_list("interface", flat=True))


async def test_a_row_the_database_refuses_leaves_out_that_row_only(postgres_db, record, caplog):
    async with new_sim() as sim, postgres_through(postgres_db):
        queue = next(iter(sim.pbx.queues.values()))
        # PostgreSQL's text holds no NUL: "PostgreSQL text fields cannot contain NUL bytes".
        bad = sim.pbx.new_member(queue, "PJSIP/9999", name="Null\x00Agent")
        big = sim.pbx.new_member(queue, "PJSIP/9998", name="Busy Agent")
        big.calls_taken = 2**40  # beyond PostgreSQL's integer: written as its largest
        pbx_id = await asyncio.to_thread(add_pbx, sim.port)
        pool = WorkerPool(poll=0.3, flush_interval=0.05, publish=no_publish)
        task = asyncio.create_task(pool.run())
        try:
            others = {
                m.interface
                for q in sim.pbx.queues.values()
                for m in q.members.values()
                if m is not bad
            }
            await eventually(lambda: member_interfaces() == others, 15, "the other members")
            await eventually(lambda: resources() == set(sim.pbx.endpoints), 15, "endpoints")
            worker = pool.running[pbx_id].worker
            assert not worker.flush_error and not worker._db_failing
            taken = QueueMember.objects.values_list("calls_taken", flat=True)
            assert await asyncio.to_thread(taken.get, interface="PJSIP/9998") == 2**31 - 1
        finally:
            pool.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    lines = [r for r in caplog.records if "left out" in r.getMessage()]
    assert len(lines) == 1 and "PJSIP/9999" in lines[0].getMessage(), lines
    assert not [r for r in caplog.records if "flush failed" in r.getMessage()]
    record("bad input", "a member name with a NUL, a counter beyond 2^31 (PostgreSQL)", "survived")


REFUSE_ENDPOINT_WRITES = """
CREATE FUNCTION refuse_writes() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'endpoint writes refused by the test'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON monitor_endpoint
FOR EACH ROW EXECUTE FUNCTION refuse_writes();
"""


def refuse_endpoint_writes() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(REFUSE_ENDPOINT_WRITES)


def healthz_reason(pbx_id: int) -> str:
    from monitor.health import pbx_sessions

    return next(p["reason"] for p in pbx_sessions() if p["name"] == "Main")


async def test_flushes_that_keep_failing_back_off_and_healthz_says_why(
    postgres_db, record, monkeypatch
):
    from monitor import mirror

    attempts: list[float] = []
    flush = mirror.flush

    def counted(batch):  # noqa: ANN001, ANN202
        attempts.append(time.monotonic())
        return flush(batch)

    monkeypatch.setattr(mirror, "flush", counted)
    async with new_sim() as sim, postgres_through(postgres_db):
        await asyncio.to_thread(refuse_endpoint_writes)
        pbx_id = await asyncio.to_thread(add_pbx, sim.port)
        pool = WorkerPool(poll=0.3, flush_interval=0.05, publish=no_publish)
        task = asyncio.create_task(pool.run())
        try:
            reason = await eventually(
                lambda: (
                    "database writes failing" in healthz_reason(pbx_id) and healthz_reason(pbx_id)
                ),
                15,
                "healthz names the failing writes",
            )
            await eventually(lambda: len(attempts) >= 8, 30, "eight flush attempts")
            seen = attempts[:8]  # the measure ends here, whatever the stopping worker does
            connected = await asyncio.to_thread(lambda: Pbx.objects.get(pk=pbx_id).connected)
        finally:
            pool.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    assert "endpoint writes refused by the test" in reason
    assert connected  # the status row is written alone: the session is up, and says so
    # Waits double from the flush interval (0.05 s) up to 2 s: from the 6th attempt on, at
    # least 0.8 s apart; a busy machine only makes them longer.
    gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert min(gaps[5:]) >= 0.8, gaps
    print(f"\nflush attempt gaps {[round(g, 2) for g in gaps]}")
    record("service fault", "PostgreSQL refusing every endpoint write", "survived")
