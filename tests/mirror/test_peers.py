"""A call's row names the party it talks to (``peer_channel``) even when a flush carries only
one side of the call: a hold, a state change or a caller-ID update touches one channel, and its
row is rewritten without its peer's."""

from __future__ import annotations

import asyncio

import pytest

from monitor.ami.events import WANTED_EVENTS

from .harness import channel_of, db_calls, eventually, mirrored, running_worker
from .oracle import Picture, capture, category, packets, pairs

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_call_put_on_hold_still_names_its_peer(sim):
    async with running_worker(sim) as worker:
        await mirrored(sim, worker)
        sim.pbx.calls.phone_call("1005", "1002")
        sim.pbx.calls.answer(channel_of(sim, "1002"))
        a, b = channel_of(sim, "1005"), channel_of(sim, "1002")

        def talking(hold: bool) -> list[str]:
            calls = {c["channel"]: c for c in db_calls(worker.pbx_id).values()}
            if set(calls) != {a, b}:
                return [f"calls {sorted(calls)}"]
            out = (
                []
                if calls[b]["peer_channel"] == a
                else [f"{b} talks to {calls[b]['peer_channel']!r}"]
            )
            out += (
                []
                if calls[a]["peer_channel"] == b
                else [f"{a} talks to {calls[a]['peer_channel']!r}"]
            )
            held = sync_on_hold(worker.pbx_id, b)
            return out + ([f"{b} on hold: {held}"] if held != hold else [])

        await eventually(lambda: talking(False))
        await asyncio.sleep(0.1)  # the hold below must come in a flush of its own
        assert sim.pbx.calls.hold(b, True)
        await eventually(lambda: talking(True))
        assert sim.pbx.calls.hold(b, False)
        await eventually(lambda: talking(False))


def sync_on_hold(pbx_id: int, channel: str) -> bool | None:
    from monitor.models import Call

    return (
        Call.objects.filter(pbx_id=pbx_id, channel=channel)
        .values_list("on_hold", flat=True)
        .first()
    )


async def test_peers_stay_right_when_every_event_is_flushed_on_its_own(sim):
    """xfer_abacbc, one event per flush: after each, the bridged pairs the capture describes
    must show in the database."""
    events = capture("xfer_attended/xfer_abacbc")
    parsed = packets(events)
    async with running_worker(sim, flush_interval=0.005) as worker:
        await mirrored(sim, worker)
        picture = Picture()
        for event, packet in zip(events, parsed, strict=True):
            applied = worker.events_applied
            flushes = worker.flushes
            sim.faults.send_event(pairs(event), category=category(event))
            picture.apply(packet)
            if packet.name.lower() not in WANTED_EVENTS:
                continue
            await flushed_after(worker, applied, flushes)
            await eventually(
                lambda n=packet.name: [
                    f"after {n}: {d}" for d in picture.differences(worker.pbx_id)
                ]
            )
        assert not picture.channels


async def flushed_after(worker, applied: int, flushes: int, timeout: float = 5.0) -> None:
    """Wait until the worker applied one more event and flushed since (an event that changes
    nothing is not flushed: then a few flush intervals are enough)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while worker.events_applied == applied:
        assert asyncio.get_running_loop().time() < deadline, "the event never arrived"
        await asyncio.sleep(0.002)
    quiet = asyncio.get_running_loop().time() + 5 * worker.flush_interval
    while worker.flushes == flushes and asyncio.get_running_loop().time() < quiet:
        await asyncio.sleep(0.002)
