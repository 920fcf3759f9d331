"""Configurations to start a :class:`~monitor.sim.pbx.Pbx` from.

``build_lab`` recreates the lab PBX the transcripts were captured on (their README): PJSIP
endpoints 1000-1009 and ``trunk_1``, phones 1001-1005 registered with the lab's contact URIs,
1001 answering automatically, hints in ``ext-local``, queue 6500 (ringall, static members
PJSIP/1001-1004 named ``Agent 100x``) and 6501 (rrmemory, 1002/1003/1005).

``build_generated`` makes a call centre of any size from a seed (5,000 endpoints and
200 queues x 25 members answer their list actions in a fraction of a second): agents dealt
out one team per queue, a 30 s service level.
"""

from __future__ import annotations

import random

from .model import Contact, Endpoint, Queue
from .pbx import Pbx

# Contacts of the lab's baresip phones (b1 PJSIPShowContacts, b4 ``pjsip show contacts``).
LAB_CONTACTS = {
    "1001": ("0x55e4565f1580", 5110, "de516c5be9c5a62d", "63ffef7b7d7acb2b44b7dd95357f98af", 585),
    "1002": ("0x55665bfec580", 5120, "93e52f2d727e93b3", "6be8b1f2d26272cbfecd94f27cd36cfe", 408),
    "1003": ("0x5622edf5a580", 5130, "b194e64a96c58f4b", "81979bda855ef53e6629563148437cea", 605),
    "1004": ("0x5635ead20580", 5140, "1cff27bb4af9127b", "81e8b3a54520d70a2cc4482800bf6ef0", 572),
    "1005": ("0x5596fce86580", 5150, "ac475b16a30b088d", "707e40953494f1835ec1407fc704d9a7", 466),
}
TRUNK_HASH = "296963fad8deea7aeec5c303b52900b0"
# Seconds within which an answered call counts as in service level (the usual 80/20 or 80/30).
SERVICE_LEVEL = 30
STRATEGIES = ("ringall", "rrmemory", "leastrecent", "fewestcalls", "random", "linear")


def _phone(pbx: Pbx, name: str) -> Endpoint:
    return Endpoint(name, "phone", "from-internal", f"Ext {name}")


def _trunk(pbx: Pbx, name: str = "trunk_1") -> Endpoint:
    ep = Endpoint(name, "trunk", "from-trunk", "")
    ep.contacts.append(
        Contact(
            aor=name,
            uri="sip:trunk@127.0.0.1:5099",
            status="NonQualified",
            rtt_usec=0,
            user_agent="",
            hash=TRUNK_HASH,
            via_port=5099,
            static=True,
        )
    )
    return ep


def build_lab(pbx: Pbx) -> Pbx:
    expires = int(pbx.boot_time) + 120
    for n in range(1000, 1010):
        ep = _phone(pbx, str(n))
        if ep.name in LAB_CONTACTS:
            tag, port, call_id, digest, rtt = LAB_CONTACTS[ep.name]
            ep.contacts.append(
                Contact(
                    aor=ep.name,
                    uri=f"sip:{ep.name}-{tag}@127.0.0.1:{port}",
                    rtt_usec=rtt,
                    call_id=call_id,
                    hash=digest,
                    expiration=expires,
                    via_port=port,
                )
            )
            ep.online = True
        ep.auto_answer = ep.name == "1001"
        pbx.add_endpoint(ep)
    pbx.add_endpoint(_trunk(pbx))
    for n in range(1000, 1010):
        pbx.add_hint(str(n), f"PJSIP/{n}")
    sales = pbx.add_queue(Queue("6500", "ringall", display_name="Test_Sales_Q", chairman="1000"))
    support = pbx.add_queue(
        Queue("6501", "rrmemory", display_name="Test_Support_Q", chairman="1000")
    )
    for queue, members in (
        (sales, ("1001", "1002", "1003", "1004")),
        (support, ("1002", "1003", "1005")),
    ):
        for n in members:
            pbx.new_member(queue, f"PJSIP/{n}", f"Agent {n}")
    pbx.add_hint("6500", "Queue:6500_avail")
    pbx.add_hint("6501", "Queue:6501_avail")
    return pbx


def build_generated(
    pbx: Pbx,
    *,
    extensions: int,
    queues: int,
    members_per_queue: int,
    seed: int = 0,
    registered: float = 0.9,
) -> Pbx:
    """``extensions`` phones (from 1000, or 10000 above 9000 of them), queues from 6500."""
    rng = random.Random(seed)
    first = 1000 if extensions <= 9000 else 10000
    names = [str(first + i) for i in range(extensions)]
    online: list[str] = []
    for name in names:
        ep = _phone(pbx, name)
        if rng.random() < registered:
            port = 5100 + rng.randrange(4000)
            ep.contacts.append(
                Contact(
                    aor=name,
                    uri=f"sip:{name}-0x{rng.getrandbits(44):x}@127.0.0.1:{port}",
                    rtt_usec=300 + rng.randrange(900),
                    call_id=f"{rng.getrandbits(64):016x}",
                    hash=f"{rng.getrandbits(128):032x}",
                    expiration=int(pbx.boot_time) + 3600,
                    via_port=port,
                )
            )
            ep.online = True
            online.append(name)
        pbx.add_endpoint(ep)
    pbx.add_endpoint(_trunk(pbx))
    for name in names:
        pbx.add_hint(name, f"PJSIP/{name}")
    pool = online or names
    # Agents are dealt out: each sits in one queue until there are more seats than phones,
    # then the deal goes round again and some agents serve two queues.
    seats = rng.sample(pool, len(pool))
    for i in range(queues):
        qname = str(6500 + i)
        q = pbx.add_queue(
            Queue(
                qname,
                STRATEGIES[i % len(STRATEGIES)],
                display_name=f"Queue_{qname}",
                chairman=names[0] if names else "",
                servicelevel=SERVICE_LEVEL,
            )
        )
        start = i * members_per_queue
        team = {seats[(start + j) % len(seats)] for j in range(members_per_queue)} if seats else ()
        for n in sorted(team):
            pbx.new_member(q, f"PJSIP/{n}", f"Agent {n}", penalty=rng.choice((0, 0, 0, 1)))
        pbx.add_hint(qname, f"Queue:{qname}_avail")
    return pbx
