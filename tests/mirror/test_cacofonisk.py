"""The cacofonisk captures (real Asterisk 13 calls: transfers, pickups, originates, queues, call
groups) sent event by event over the simulator's TCP session to a real worker.

The captures use chan_sip ``SIP/...`` channels, so their Call rows have no endpoint: the checks
are on channels, peers, bridges and linkedids. Every check is against what the capture itself
says (``oracle.Picture``) or against facts read off the capture by hand below.
"""

from __future__ import annotations

import pytest

from monitor.state.states import local_partner

from .harness import db_calls, eventually, mirrored, running_worker
from .oracle import Picture, capture, capture_names, category, packets, pairs

pytestmark = pytest.mark.django_db(transaction=True)


class Feed:
    """One capture, sent in slices: ``to(n)`` sends events up to index ``n`` inclusive."""

    def __init__(self, sim, name: str) -> None:
        self.sim = sim
        self.name = name
        self.events = capture(name)
        self.packets = packets(self.events)
        self.sent = 0

    def to(self, last: int | None = None) -> Picture:
        end = len(self.events) if last is None else last + 1
        for event in self.events[self.sent : end]:
            assert self.sim.faults.send_event(pairs(event), category=category(event)) == 1
        self.sent = max(self.sent, end)
        return Picture().feed(self.packets[: self.sent])

    def checkpoints(self) -> list[int]:
        """The first moment two channels share a bridge, and the last one (after a transfer
        or a pickup, the parties that end up talking)."""
        paired = []
        picture = Picture()
        for i, p in enumerate(self.packets):
            picture.apply(p)
            if picture.peers():
                paired.append(i)
        return sorted({paired[0], paired[-1]}) if paired else [len(self.packets) // 2]


async def test_every_capture_leaves_no_call_behind_and_is_right_on_the_way(sim):
    names = capture_names()
    assert len(names) == 51
    paired = 0
    async with running_worker(sim, flush_interval=0.01) as worker:
        await mirrored(sim, worker)
        pid = worker.pbx_id
        for name in names:
            feed = Feed(sim, name)
            for index in feed.checkpoints():
                picture = feed.to(index)
                assert picture.channels, f"{name}@{index}: nothing to look at"
                paired += bool(picture.peers())
                where = f"{name}@{index}"
                await eventually(
                    lambda p=picture, w=where: [f"{w}: {d}" for d in p.differences(pid)]
                )
            assert not feed.to().channels  # the capture ends with every channel hung up
            await eventually(
                lambda n=name: [f"{n}: {c['channel']} left" for c in db_calls(pid).values()]
            )
        await mirrored(sim, worker)  # and the lab PBX itself is still mirrored as it is
    assert paired >= 80  # most captures have two checkpoints with a two-party bridge


# -- concrete checkpoints, read off the captures ---------------------------------------------
def far_end(calls: dict[str, dict], channel: str) -> str:
    """The channel ``channel`` talks to, through Local channel pairs (from database rows)."""
    by_name = {c["channel"]: c for c in calls.values()}
    peer = by_name[channel]["peer_channel"]
    for _ in range(8):
        partner = local_partner(peer)
        if partner is None or partner not in by_name or not by_name[partner]["peer_channel"]:
            return peer
        peer = by_name[partner]["peer_channel"]
    return peer


def extension_calls(calls: dict[str, dict], extension: str) -> list[dict]:
    return [c for c in calls.values() if c["channel"].startswith(f"SIP/{extension}-")]


# capture, after event #, {extension: (its channel, talks to (far end), linkedid)}, extensions idle
CHECKPOINTS = [
    (  # A calls B (through a Local pair), B answers: the first BridgeEnter pairs are formed
        "xfer_attended/xfer_abacbc",
        34,
        {
            "150010001": (
                "SIP/150010001-00000028",
                "SIP/150010002-00000029",
                "195176c06ab8-1529941216.590",
            ),
            "150010002": (
                "SIP/150010002-00000029",
                "SIP/150010001-00000028",
                "195176c06ab8-1529941216.590",
            ),
        },
        ["150010003"],
    ),
    (  # A consulted C, then completed the attended transfer and hung up both its calls: B-C
        "xfer_attended/xfer_abacbc",
        89,
        {
            "150010002": (
                "SIP/150010002-00000029",
                "SIP/150010003-0000002b",
                "195176c06ab8-1529941216.590",
            ),
            "150010003": (
                "SIP/150010003-0000002b",
                "SIP/150010002-00000029",
                "195176c06ab8-1529941225.617",
            ),
        },
        ["150010001"],
    ),
    (  # B blind-transferred A to C, C answered: A-C, B gone
        "xfer_blind/xfer_blind_abbcac",
        83,
        {
            "150010001": (
                "SIP/150010001-00000003",
                "SIP/150010003-00000005",
                "07b796be1962-1529998959.65",
            ),
            "150010003": (
                "SIP/150010003-00000005",
                "SIP/150010001-00000003",
                "07b796be1962-1529998959.65",
            ),
        },
        ["150010002"],
    ),
    (  # A calls B; B rings (its call points at the Local leg that dials it)
        "xfer_misc/sip_pickup",
        21,
        {
            "150010001": (
                "SIP/150010001-0000001f",
                "SIP/150010002-00000020",
                "59b750c14f20-1538124863.373",
            ),
            "150010002": (
                "SIP/150010002-00000020",
                "SIP/150010001-0000001f",
                "59b750c14f20-1538124863.373",
            ),
        },
        ["150010003"],
    ),
    (  # C picked B's ringing call up: A-C, C now carries A's linkedid, B hung up
        "xfer_misc/sip_pickup",
        47,
        {
            "150010001": (
                "SIP/150010001-0000001f",
                "SIP/150010003-00000021",
                "59b750c14f20-1538124863.373",
            ),
            "150010003": (
                "SIP/150010003-00000021",
                "SIP/150010001-0000001f",
                "59b750c14f20-1538124863.373",
            ),
        },
        ["150010002"],
    ),
    (  # a click-to-dial originate: the PBX calls A, then B, and joins them through 4 Local pairs
        "originate/ctd-account-account",
        128,
        {
            "150010001": (
                "SIP/150010001-00000002",
                "SIP/150010002-00000003",
                "c4061ca6474c-1531990397.86",
            ),
            "150010002": (
                "SIP/150010002-00000003",
                "SIP/150010001-00000002",
                "c4061ca6474c-1531990397.86",
            ),
        },
        [],
    ),
    (  # a queue call answered by 150010001, attended-transferred to 150010002
        "queue/queue_attn_xfer",
        92,
        {
            "150010002": (
                "SIP/150010002-0000008a",
                "SIP/voipgrid-siproute-docker-00000087",
                "f29ea68048f6-1530022819.2433",
            ),
        },
        ["150010001"],
    ),
]


async def test_each_extensions_current_call_is_right_mid_way(sim):
    async with running_worker(sim, flush_interval=0.01) as worker:
        await mirrored(sim, worker)
        pid = worker.pbx_id
        feed = None
        for name, index, talking, idle in CHECKPOINTS:
            if feed is None or feed.name != name:
                await finish(feed, pid)
                feed = Feed(sim, name)
            feed.to(index)

            def check(want=talking, idle=idle, where=f"{name}@{index}") -> list[str]:
                calls = db_calls(pid)
                out = []
                for ext, (channel, peer, linkedid) in want.items():
                    mine = extension_calls(calls, ext)
                    if [c["channel"] for c in mine] != [channel]:
                        out.append(f"{where}: {ext} has {[c['channel'] for c in mine]}")
                        continue
                    got = (far_end(calls, channel), mine[0]["linkedid"])
                    if got != (peer, linkedid):
                        out.append(f"{where}: {ext} talks to {got}, want {(peer, linkedid)}")
                out += [
                    f"{where}: {ext} still has a call"
                    for ext in idle
                    if extension_calls(calls, ext)
                ]
                return out

            await eventually(check)
        await finish(feed, pid)


async def finish(feed: Feed | None, pid: int) -> None:
    """Send the rest of the capture; wait until no call is left in the database."""
    if feed is not None:
        feed.to()
        await eventually(lambda: [f"{c['channel']} left" for c in db_calls(pid).values()])
