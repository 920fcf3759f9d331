"""The tiles of the pages: what each partial needs, loaded in a few queries, and rendered.

The partials are Jinja2 templates in ``monitor/jinja2/monitor/tiles/`` (``monitor/jinja.py``
says why); pages put them in with ``{% tile kind row %}`` and the broadcaster renders them, both
through :func:`render`. A partial sees only what is built here plus the ``controls`` flag
(supervisor buttons or not), never the request or the user, so the HTML is the same for every
browser of a group.

Rows get their display extras as attributes (``endpoint.call``, ``queue.stats`` ...).

The partials are rendered thousands of times a minute on a busy PBX, so they are cheap to
render: no localisation (their numbers are ids, counts and epoch seconds for data attributes,
never formatted for a locale) and their symbols written as character references, so that a live
update is pure ASCII and Daphne copies rather than transcodes it for each open socket.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.template import engines
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .history.report import card_numbers
from .models import Call, DeviceState, Endpoint, Pbx, Queue, QueueCaller, QueueMember
from .state import conversations
from .state.conversations import Conversation
from .web_models import (
    DEFAULT_WAIT_AMBER,
    DEFAULT_WAIT_RED,
    DEFAULT_WAITING_AMBER,
    DEFAULT_WAITING_RED,
    QueueThreshold,
)

TEMPLATES = {
    "pbx": "monitor/tiles/pbx_status.html",
    "endpoint": "monitor/tiles/endpoint.html",
    "queue": "monitor/tiles/queue.html",
    "member": "monitor/tiles/member.html",
    "caller": "monitor/tiles/caller.html",
    "call": "monitor/tiles/call.html",  # a conversation (every channel of one call)
    "today": "monitor/tiles/today.html",  # one PBX's day (monitor.history.sections)
    "agents": "monitor/tiles/agents.html",  # one PBX's agent board
}
# The partials' line breaks and indentation between tags: a tenth of a tile's bytes, sent to
# every open page. No tile puts inline text on either side of such a break (their rows and
# heads are flex and grid boxes), so taking it out changes nothing a page shows.
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")
BUSY = {DeviceState.INUSE, DeviceState.BUSY, DeviceState.RINGING, DeviceState.RINGINUSE}
BUSY |= {DeviceState.ONHOLD}
UNAVAILABLE = {DeviceState.UNAVAILABLE, DeviceState.INVALID, DeviceState.UNKNOWN}


def render(kind: str, obj: object, *, controls: bool) -> SafeString:
    """One tile's HTML, as the pages include it."""
    # The Jinja2 template itself, not Django's wrapper: the wrapper would copy the context and
    # look for a request on each of the thousands of calls a wallboard makes.
    template = engines["tiles"].get_template(TEMPLATES[kind]).template
    html = template.render({kind: obj, "controls": controls})
    return mark_safe(_BETWEEN_TAGS.sub("><", html).strip())


def resource_of(interface: str) -> str:
    """``PJSIP/1001`` -> ``1001``; what a queue member's interface names as an endpoint."""
    tech, _, rest = interface.partition("/")
    return rest if tech.upper() == "PJSIP" else ""


# -- endpoints ---------------------------------------------------------------------------
def load_endpoints(
    endpoints: Iterable[Endpoint], *, whole_pbx: bool = False, calls: list[Call] | None = None
) -> list[Endpoint]:
    """Endpoints with ``.calls`` (their Call rows, peers attached) and ``.call`` (the first).

    ``whole_pbx``: ``endpoints`` are all of their PBX's (a wallboard), so its calls are loaded
    without naming a thousand endpoints in the query, which took longer to build and to plan
    than the query saved. ``calls``: already loaded (:func:`load_calls`), at least those of
    ``endpoints``; nothing is queried then.
    """
    endpoints = list(endpoints)
    by_pbx: dict[int, list[Endpoint]] = defaultdict(list)
    for ep in endpoints:
        by_pbx[ep.pbx_id].append(ep)
    grouped: dict[tuple[int, str], list[Call]] = defaultdict(list)
    if calls is None:
        calls = []
        for pbx_id, eps in by_pbx.items():
            rows = Call.objects.filter(pbx_id=pbx_id)
            if not whole_pbx:
                rows = rows.filter(endpoint_resource__in=[e.resource for e in eps])
            calls += load_calls(rows, with_endpoints=False)
    for call in calls:
        grouped[(call.pbx_id, call.endpoint_resource)].append(call)
    for ep in endpoints:
        ep.calls = grouped.get((ep.pbx_id, ep.resource), [])
        ep.call = ep.calls[0] if ep.calls else None
    return endpoints


# -- calls -------------------------------------------------------------------------------
def load_calls(calls: Iterable[Call], *, with_endpoints: bool = True) -> list[Call]:
    """Calls with ``.peer`` (the other party's Call row or None), ``.party`` (its caller ID
    as text) and ``.endpoint_pk`` (for the extension page's list)."""
    calls = list(calls)
    peer_ids: dict[int, set[str]] = defaultdict(set)
    resources: dict[int, set[str]] = defaultdict(set)
    for call in calls:
        if call.peer_uniqueid:
            peer_ids[call.pbx_id].add(call.peer_uniqueid)
        if call.endpoint_resource:
            resources[call.pbx_id].add(call.endpoint_resource)
    peers = {
        (c.pbx_id, c.uniqueid): c
        for pbx_id, uids in peer_ids.items()
        for c in Call.objects.filter(pbx_id=pbx_id, uniqueid__in=uids)
    }
    endpoint_pks: dict[tuple[int, str], int] = {}
    if with_endpoints:
        for pbx_id, names in resources.items():
            rows = Endpoint.objects.filter(pbx_id=pbx_id, resource__in=names)
            endpoint_pks.update({(pbx_id, r): pk for pk, r in rows.values_list("pk", "resource")})
    for call in calls:
        call.peer = peers.get((call.pbx_id, call.peer_uniqueid))
        call.party = _party(call)
        call.endpoint_pk = endpoint_pks.get((call.pbx_id, call.endpoint_resource))
    return calls


def load_conversations(calls: Iterable[Call]) -> list[Conversation]:
    """The conversations of ``calls`` (Call rows with ``.pbx`` set: all the channels of each
    conversation wanted), oldest first, for the call row partial.

    Each gets ``.pbx``, ``.pk`` (a channel of it that names it to the hang-up form: the
    caller's), ``.dom_id``, ``.parents`` (the containers a new row may go into: the calls list,
    each party's extension page, the queue page), ``.queue_pk``; each party ``.endpoint_pk``.
    """
    found = conversations.group(calls)
    by_pbx: dict[int, list[Conversation]] = defaultdict(list)
    for conv in found:
        by_pbx[conv.legs[0].pbx_id].append(conv)
    for pbx_id, convs in by_pbx.items():
        parties = [p for c in convs for p in (c.caller, c.callee, *c.others) if p is not None]
        resources = {p.resource for p in parties}
        rows = Endpoint.objects.filter(pbx_id=pbx_id, resource__in=resources)
        endpoint_pks = dict(rows.values_list("resource", "pk"))
        rows = Queue.objects.filter(pbx_id=pbx_id, name__in={c.queue for c in convs if c.queue})
        queue_pks = dict(rows.values_list("name", "pk"))
        for p in parties:
            p.endpoint_pk = endpoint_pks.get(p.resource)
        for conv in convs:
            _decorate(conv, pbx_id, queue_pks.get(conv.queue))
    return found


def _decorate(conv: Conversation, pbx_id: int, queue_pk: int | None) -> None:
    first = conv.caller.leg if conv.caller is not None else conv.legs[0]
    conv.pbx, conv.pbx_id, conv.pk = first.pbx, pbx_id, first.pk
    conv.dom_id = conversations.dom_id(pbx_id, conv.key)
    conv.queue_pk = queue_pk
    conv.shown = [p for p in (conv.caller, conv.callee) if p is not None]
    parents = [f"calls-pbx-{pbx_id}"]
    for p in (conv.caller, conv.callee, *conv.others):
        if p is not None and p.endpoint_pk is not None:
            parents.append(f"endpoint-{p.endpoint_pk}-calls")
    if queue_pk is not None:
        parents.append(f"queue-{queue_pk}-calls")
    conv.parents = " ".join(parents)


def conversation_rows(pbx: Pbx, keys: Iterable[str]) -> list[Call]:
    """Every channel of the conversations ``keys`` (linkedids) of ``pbx``, with ``.pbx`` set."""
    return with_pbx(Call.objects.filter(pbx_id=pbx.pk).conversations(keys), pbx)


def conversations_of(pbx: Pbx, rows: Iterable[Call]) -> list[Conversation]:
    """The whole conversations ``rows`` (some channels of ``pbx``) are part of."""
    return load_conversations(conversation_rows(pbx, {conversations.key_of(r) for r in rows}))


def with_pbx(rows: Iterable[Call], pbx: Pbx) -> list[Call]:
    """``rows`` (of ``pbx``) as a list, each with ``.pbx`` set."""
    rows = list(rows)
    for row in rows:
        row.pbx = pbx  # one PBX for all: no join, and its privileges decide the buttons
    return rows


def _party(call: Call) -> str:
    """Who ``call`` talks to: the peer channel's caller ID, else the connected line."""
    peer = call.peer
    if peer is not None:
        num, name = peer.caller_id_num, peer.caller_id_name
    else:
        num, name = call.connected_num, call.connected_name
    num = "" if num in ("<unknown>", "") else num
    name = "" if name in ("<unknown>", "") else name
    if num and name and name != num:
        return f"{name} ({num})"
    return num or name or (call.exten if call.exten not in ("", "s") else "")


# -- queues ------------------------------------------------------------------------------
@dataclass
class QueueStats:
    available: int = 0
    busy: int = 0
    paused: int = 0
    unavailable: int = 0


def load_queues(queues: Iterable[Queue]) -> list[Queue]:
    """Queues with ``.callers_list``, ``.stats`` (member counts), ``.threshold``, ``.level``
    ("ok", "amber", "red") and ``.today`` (the day's numbers by fcmdash's count)."""
    queues = list(queues)
    if not queues:
        return queues
    ids = [q.pk for q in queues]
    # Only what the counts need, as tuples: a wallboard counts thousands of members and shows
    # none, and making a model instance of each was a tenth of its time.
    members: dict[int, list[MemberState]] = defaultdict(list)
    rows = QueueMember.objects.filter(queue_id__in=ids)
    for queue_id, *state in rows.values_list("queue_id", "paused", "status", "in_call"):
        members[queue_id].append(MemberState(*state))
    callers: dict[int, list[QueueCaller]] = defaultdict(list)
    for c in QueueCaller.objects.filter(queue_id__in=ids).order_by("position", "joined_at"):
        callers[c.queue_id].append(c)
    thresholds = {
        (t.pbx_id, t.queue_name): t
        for t in QueueThreshold.objects.filter(pbx_id__in={q.pbx_id for q in queues})
    }
    now = timezone.now()
    today = card_numbers([(q.pbx_id, q.name) for q in queues], now)
    for q in queues:
        q.today = today[(q.pbx_id, q.name)]
        q.stats = member_stats(members.get(q.pk, []))
        q.callers_list = callers.get(q.pk, [])
        # Some PBXes count waiting callers without listing them (the FCM630A Queues form).
        q.waiting = len(q.callers_list) or q.calls_waiting
        q.oldest = min((c.joined_at for c in q.callers_list), default=None)
        q.threshold = thresholds.get((q.pbx_id, q.name)) or default_threshold()
        q.level = level(q, now)
    return queues


def default_threshold() -> QueueThreshold:
    return QueueThreshold(
        waiting_amber=DEFAULT_WAITING_AMBER,
        waiting_red=DEFAULT_WAITING_RED,
        wait_amber=DEFAULT_WAIT_AMBER,
        wait_red=DEFAULT_WAIT_RED,
    )


class MemberState(NamedTuple):
    """What :func:`member_stats` reads of a member."""

    paused: bool
    status: str
    in_call: bool


def member_stats(members: Iterable[QueueMember | MemberState]) -> QueueStats:
    stats = QueueStats()
    for m in members:
        if m.paused:
            stats.paused += 1
        elif m.status in UNAVAILABLE:
            stats.unavailable += 1
        elif m.in_call or m.status in BUSY:
            stats.busy += 1
        else:
            stats.available += 1
    return stats


def level(queue: Queue, now: object) -> str:
    """Amber or red by the queue's thresholds; the browser re-checks the wait every second."""
    t = queue.threshold
    waited = (now - queue.oldest).total_seconds() if queue.oldest else 0  # type: ignore[operator]
    if queue.waiting > t.waiting_red or waited > t.wait_red:
        return "red"
    if queue.waiting > t.waiting_amber or waited > t.wait_amber:
        return "amber"
    return "ok"


# -- members -----------------------------------------------------------------------------
def load_members(members: Iterable[QueueMember]) -> list[QueueMember]:
    """Members with ``.endpoint_pk`` (their extension's row, if any) and ``.queue`` loaded."""
    members = list(members)
    wanted: dict[int, set[str]] = defaultdict(set)
    for m in members:
        wanted[m.pbx_id].add(resource_of(m.state_interface or m.interface))
    pks: dict[tuple[int, str], int] = {}
    for pbx_id, names in wanted.items():
        rows = Endpoint.objects.filter(pbx_id=pbx_id, resource__in=names)
        pks.update({(pbx_id, r): pk for pk, r in rows.values_list("pk", "resource")})
    for m in members:
        m.endpoint_pk = pks.get((m.pbx_id, resource_of(m.state_interface or m.interface)))
    return members


def members_of_endpoint(endpoint: Endpoint) -> list[QueueMember]:
    interfaces = [f"{endpoint.technology}/{endpoint.resource}", f"PJSIP/{endpoint.resource}"]
    rows = QueueMember.objects.filter(pbx_id=endpoint.pbx_id).select_related("queue", "pbx")
    rows = rows.filter(interface__in=interfaces) | rows.filter(state_interface__in=interfaces)
    return load_members(rows.order_by("queue__name"))


def pbxes_by_id(ids: Iterable[int]) -> dict[int, Pbx]:
    return Pbx.objects.in_bulk(list(ids))
