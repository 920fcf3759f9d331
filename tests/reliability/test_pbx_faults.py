"""The PBX and its network misbehave; the mirror must end equal to the PBX every time.

A real PbxWorker (built from a Pbx row) on real TCP to the simulator, writing to the test
database. After each fault the database is compared with the simulator's ground truth
(``tests/support/truth.py``), and the Pbx row, the admin page and the wallboard banner must say
what is wrong while it is wrong.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from monitor.ami.client import AmiClient, Backoff
from monitor.ami.errors import AuthenticationFailed, ConnectionLost
from monitor.models import Pbx
from tests.web.conftest import make_user

from .conftest import (
    CANARY_SECRET,
    CANARY_USER,
    calls_in_progress,
    eventually,
    fast_backoff,
    make_pbx,
    mirrored,
    worker_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
FAULT = "PBX fault"


def pbx_row(pbx_id: int) -> Pbx:
    return Pbx.objects.get(pk=pbx_id)


def pages_for(pbx_id: int) -> tuple[str, str]:
    """The admin change page and the wallboard, as an admin and a viewer see them (sync)."""
    root = User.objects.filter(username="root").first() or User.objects.create_superuser(
        "root", password="x" * 12
    )
    viewer = User.objects.filter(username="bob").first() or make_user("bob", "Viewers")
    admin, wall = Client(), Client()
    admin.force_login(root)
    wall.force_login(viewer)
    change = admin.get(f"/admin/monitor/pbx/{pbx_id}/change/")
    board = wall.get("/")
    assert change.status_code == 200 and board.status_code == 200
    return change.content.decode(), board.content.decode()


def healthy(pbx_id: int) -> bool:
    p = pbx_row(pbx_id)
    return p.connected and p.stale_since is None and not p.last_error


# -- restart, reset, close ------------------------------------------------------------------------
async def test_pbx_restart_in_the_middle_of_calls(sim, record):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        await mirrored(sim, pbx_id)
        for _ in range(3):
            assert calls_in_progress(sim) >= 4
            await mirrored(sim, pbx_id)
            session = next(iter(sim.authenticated_sessions))
            reconnects = worker.client.reconnects
            # Shutdown to every session, connections closed, refused for a while, back with
            # FullyBooted at login: the calls died with the PBX.
            await sim.faults.restart(down_for=0.4)
            await eventually(lambda: bool(sim.authenticated_sessions), what="a new login")
            assert next(iter(sim.authenticated_sessions)) is not session
            await mirrored(sim, pbx_id)
            assert sim.snapshot()["channels"] == {}
            assert worker.client.reconnects == reconnects + 1
            await eventually(lambda: healthy(pbx_id), what="the row says live")
            assert worker.state.pbx.status == "up"  # FullyBooted seen after the Shutdown
            record(
                FAULT,
                "PBX restart in the middle of calls (Shutdown, close, FullyBooted)",
                "survived",
            )
        # Life goes on after the last one.
        sim.pbx.calls.phone_call("1005", "1004")
        await mirrored(sim, pbx_id)


@pytest.mark.parametrize("rst", [True, False], ids=["reset", "close"])
async def test_connection_lost_while_the_pbx_moves_on(sim, record, rst):
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        calls_in_progress(sim)
        await mirrored(sim, pbx_id)
        for _ in range(3):
            reopened = sim.faults.refuse_for(0.5)
            assert sim.faults.drop_all(rst=rst) == 1
            # While nobody watches: a call ends, another starts, a member is unpaused.
            first = next(iter(sim.pbx.channels.values()), None)
            if first is not None:
                sim.pbx.calls.hangup(first.name)
            sim.pbx.calls.phone_call("1001", "1005")
            sim.pbx.queue_pause("PJSIP/1001", False, "6500")
            await eventually(lambda: not pbx_row(pbx_id).connected, what="marked down")
            assert (await asyncio.to_thread(pbx_row, pbx_id)).last_error  # for the banner
            await reopened
            await mirrored(sim, pbx_id)
            await eventually(lambda: healthy(pbx_id), what="the row says live")
            what = "connection reset (RST) mid-call" if rst else "connection closed (FIN) mid-call"
            record(FAULT, what, "survived")
        assert worker.client.reconnects == 3


async def test_half_open_connection_is_found_within_two_keepalive_periods(sim, record):
    pbx_id = await make_pbx(sim.port)
    keepalive = 0.4
    async with worker_for(pbx_id, keepalive=keepalive) as worker:
        calls_in_progress(sim)
        await mirrored(sim, pbx_id)
        for _ in range(2):
            session = next(iter(sim.authenticated_sessions))
            sim.faults.stall(True)  # no FIN, no RST: the peer just goes silent
            stalled = time.monotonic()
            for ch in list(sim.pbx.channels.values())[:1]:
                sim.pbx.calls.hangup(ch.name)  # a change the stalled session never delivers
            while "no Pong" not in worker.client.last_error:
                assert time.monotonic() - stalled < 4 * keepalive, "half-open never noticed"
                await asyncio.sleep(0.005)
            found = time.monotonic() - stalled
            assert found <= 2 * keepalive + 0.15, f"half-open found after {found:.2f} s"
            session.stall(False)
            session.close()
            await mirrored(sim, pbx_id)
            record(
                FAULT,
                "half-open connection (silence, no FIN), found within 2 keepalives",
                "survived",
            )
        assert worker.client.reconnects == 2


# -- failing logins: back off, say why, never hammer ---------------------------------------------
async def test_failing_logins_back_off_and_say_why_in_the_admin_and_on_the_page(sim, record, spy):
    floor = 0.5  # the real rule is 30 s: see test_backoff_rule_with_the_real_numbers
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id, backoff=fast_backoff(auth_floor=floor)):
        await mirrored(sim, pbx_id)
        sim.faults.fail_logins(True)
        sim.faults.drop_all(rst=True)
        await eventually(
            lambda: "Authentication failed" in pbx_row(pbx_id).last_error,
            what="the reason in the row",
        )
        admin_page, wallboard = await asyncio.to_thread(pages_for, pbx_id)
        for page in (admin_page, wallboard):
            assert "Permitted IP" in page and CANARY_SECRET not in page
        # The admin has the PBX's words; the wallboard the kind of failure, not the AMI user.
        assert "Authentication failed" in admin_page and "AMI login failed" in wallboard
        assert CANARY_USER not in wallboard
        # Count the login attempts the PBX sees over a window, and divide by that same window
        # as measured (on a busy machine the page render above may take seconds).
        started = time.monotonic()
        await asyncio.sleep(3.0)
        window = time.monotonic() - started
        failed = spy.logins("relcanary")[1:]  # the first one succeeded before the fault
        in_window = [r for r in failed if r.at >= started]
        gaps = [b.at - a.at for a, b in zip(failed, failed[1:], strict=False)]
        assert len(failed) >= 3, "it must keep trying"
        assert len(in_window) <= 1 + window / floor, (
            f"{len(in_window)} login attempts in {window:.2f} s"
        )
        assert min(gaps[1:]) >= floor * 0.95, f"attempts {gaps} s apart; the floor is {floor} s"
        sim.faults.fail_logins(False)
        await mirrored(sim, pbx_id, timeout=floor * 1.2 + 5)
        await eventually(lambda: healthy(pbx_id))
        record(
            FAULT, "AMI login starts failing (backs off, reason in admin and banner)", "survived"
        )


async def test_a_session_dropped_right_after_each_login_is_not_retried_in_a_tight_loop(
    sim, record, spy
):
    cap = 0.3
    pbx_id = await make_pbx(sim.port)

    async def kick_every_session() -> None:
        # A PBX that accepts the login, then hangs up at once (a crash loop, a kicked user).
        while True:
            for s in list(sim.authenticated_sessions):
                s.reset()
            await asyncio.sleep(0.01)

    async with worker_for(pbx_id, backoff=fast_backoff(cap=cap)):
        await mirrored(sim, pbx_id)
        kicker = asyncio.create_task(kick_every_session())
        try:
            await asyncio.sleep(3.0)
        finally:
            kicker.cancel()
        logins = spy.logins("relcanary")[1:]
        gaps = [b.at - a.at for a, b in zip(logins, logins[1:], strict=False)]
        # 0.05, 0.1, 0.2, then the cap: a steady login every 50 ms would be ~60.
        assert len(logins) <= 3 + 3.0 / cap, f"{len(logins)} logins in 3 s"
        assert min(gaps[4:]) >= cap * 0.95, gaps
        await mirrored(sim, pbx_id, timeout=5)
        record(FAULT, "PBX that drops every session right after login", "survived")


def test_backoff_rule_with_the_real_numbers(record):
    """At most one attempt every 30 s after repeated failures, with the defaults the worker
    uses (``AmiClient(config)``), whatever the failure."""
    from monitor.ami.config import AmiConfig

    client = AmiClient(AmiConfig(host="192.0.2.1", username="u", secret="s"))
    backoff = client.backoff
    assert (backoff.cap, backoff.auth_floor) == (30.0, 30.0)
    for error in (AuthenticationFailed("x"), ConnectionLost("x"), None):
        for trial in range(200):
            backoff.reset()
            delays = [backoff.next_delay(error) for _ in range(40)]
            repeated = delays[1:] if isinstance(error, AuthenticationFailed) else delays[7:]
            assert min(repeated) >= 30.0, (error, trial, delays)
            assert max(delays) <= 30.0 * 1.25
            # The first retries after a single failure stay quick (a PBX restart).
            assert delays[0] < (30.0 if isinstance(error, AuthenticationFailed) else 1.0)
    # Mixed failures (the FCM630A may refuse the address after failed logins) never go below
    # the floor once repeated.
    backoff.reset()
    mixed = [AuthenticationFailed("x"), ConnectionLost("x")] * 20
    delays = [backoff.next_delay(e) for e in mixed]
    assert min(delays[7:]) >= 30.0, delays
    # A session that ends before it was stable does not reset the count.
    assert Backoff().stable_after >= 30.0
    record(
        FAULT,
        "back-off rule: after repeated failures at most one attempt per 30 s "
        "(real numbers, 200 random runs per failure kind)",
        "survived",
        times=600,
    )
