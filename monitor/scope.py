"""What a board (the wallboard ``/`` or a kiosk screen) shows: its PBXes, queues and extensions.

The page renders from a :class:`Scope` and its socket resolves the same one (from the page's
query string, :func:`query_of` -> :func:`scope_from_query`, or from the kiosk link), so that the
server sends a socket only what its page shows.

Rules:

- Only enabled PBXes are ever in a scope; a switched-off PBX disappears from every board.
- ``queue_names`` None: every queue. Otherwise those queues, *and* the extensions are limited
  to their members (a screen for the queue shows its agents).
- ``group_ids`` (extension groups, the admin's departments) and ``member_queues`` (the automatic
  group of a queue: its members, without limiting the queue cards) add their extensions.
- No queue, group or member queue chosen: every extension.

Membership is read from the database on every call: a queue's members change during the day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import QueryDict

from .models import Endpoint, Pbx, Queue, QueueMember
from .tiles import resource_of
from .web_models import ExtensionGroup, KioskLink

# The wallboard's group filter names a queue's automatic group as "queue:<name>".
QUEUE_GROUP = "queue:"
MAX_CHOICES = 100  # of each kind in a query: a long URL must not become a long query
MAX_NAME = 80  # Queue.name's length


@dataclass(frozen=True)
class Scope:
    """What a board (wallboard or kiosk screen) shows."""

    pbx_ids: tuple[int, ...]  # enabled PBXes shown
    queue_names: frozenset[str] | None = None  # None: every queue
    group_ids: tuple[int, ...] = ()  # extension groups chosen (empty: none chosen)
    member_queues: frozenset[str] = frozenset()  # automatic groups chosen: these queues' members

    @property
    def limits_extensions(self) -> bool:
        return bool(self.queue_names or self.group_ids or self.member_queues)

    @property
    def filtered(self) -> bool:
        """Whether anything of the PBXes shown is left out."""
        return self.queue_names is not None or self.limits_extensions

    def pbxes(self) -> list[Pbx]:
        """The PBX rows, in the order of ``pbx_ids``; one switched off since is left out."""
        rows = Pbx.objects.filter(pk__in=self.pbx_ids, enabled=True).in_bulk()
        return [rows[pk] for pk in self.pbx_ids if pk in rows]

    def queue_pks(self, pbx_id: int) -> set[int] | None:
        """The Queue rows of ``pbx_id`` shown; None: all queues of it."""
        if self.queue_names is None:
            return None
        rows = Queue.objects.filter(pbx_id=pbx_id, name__in=self.queue_names)
        return set(rows.values_list("pk", flat=True))

    def resources(self, pbx_id: int) -> set[str] | None:
        """The extension numbers of ``pbx_id`` shown; None: all extensions."""
        if not self.limits_extensions:
            return None
        queues = (self.queue_names or frozenset()) | self.member_queues
        names = members_resources(pbx_id, queues) if queues else set()
        for group in ExtensionGroup.objects.filter(pk__in=self.group_ids, pbx_id=pbx_id):
            names |= group.resources()
        return names

    def endpoint_pks(self, pbx_id: int) -> set[int] | None:
        """The Endpoint rows of ``pbx_id`` shown; None: all extensions."""
        names = self.resources(pbx_id)
        if names is None:
            return None
        rows = Endpoint.objects.filter(pbx_id=pbx_id, resource__in=names)
        return set(rows.values_list("pk", flat=True))


def members_resources(pbx_id: int, queue_names: Iterable[str]) -> set[str]:
    """The extension numbers of the members of these queues (by interface or the interface
    whose state it follows: ``Local/...`` members name their phone as ``state_interface``)."""
    rows = QueueMember.objects.filter(pbx_id=pbx_id, queue__name__in=list(queue_names))
    names: set[str] = set()
    for interface, state_interface in rows.values_list("interface", "state_interface"):
        names |= {resource_of(interface), resource_of(state_interface)}
    names.discard("")
    return names


def enabled_pbx_ids(wanted: Iterable[int] = ()) -> tuple[int, ...]:
    """The enabled PBXes among ``wanted``, in name order; all enabled ones when ``wanted`` is
    empty or names none of them."""
    rows = Pbx.objects.filter(enabled=True).values_list("pk", flat=True)
    every = tuple(rows)
    wanted = set(wanted)
    chosen = tuple(pk for pk in every if pk in wanted)
    return chosen or every


def scope_from_link(link: KioskLink) -> Scope:
    """A kiosk link's screen; a link to a switched-off PBX shows none."""
    if link.pbx_id is None:
        pbx_ids = enabled_pbx_ids()
    else:
        pbx_ids = (link.pbx_id,) if Pbx.objects.filter(pk=link.pbx_id, enabled=True) else ()
    groups = tuple(sorted(link.groups.values_list("pk", flat=True)))
    return Scope(pbx_ids, link.queue_names(), groups)


def scope_from_query(query: QueryDict) -> Scope:
    """The board of ``?pbx=1,2&queue=a&queue=b&group=3&group=queue:a`` (any may be absent or
    repeated; what cannot be read is left out, never raises)."""
    wanted = [
        int(p)
        for v in query.getlist("pbx")[:MAX_CHOICES]
        for p in v.split(",")[:MAX_CHOICES]
        if p.strip().isdigit() and len(p.strip()) <= 18  # a longer number fails the query
    ]
    queues = {q[:MAX_NAME] for q in query.getlist("queue")[:MAX_CHOICES] if q.strip()}
    groups: set[int] = set()
    member_queues: set[str] = set()
    for value in query.getlist("group")[:MAX_CHOICES]:
        if value.isdigit() and len(value) <= 18:
            groups.add(int(value))
        elif value.startswith(QUEUE_GROUP) and value[len(QUEUE_GROUP) :].strip():
            member_queues.add(value[len(QUEUE_GROUP) :][:MAX_NAME])
    return Scope(
        enabled_pbx_ids(wanted[:MAX_CHOICES]),
        frozenset(queues) or None,
        tuple(sorted(groups)),
        frozenset(member_queues),
    )


def query_of(scope: Scope) -> str:
    """The filters of ``scope`` as a query string (``queue=a&group=3``), its PBXes left out
    (the socket URL names them already); "" for a board without filters."""
    pairs = [("queue", name) for name in sorted(scope.queue_names or ())]
    pairs += [("group", str(pk)) for pk in scope.group_ids]
    pairs += [("group", QUEUE_GROUP + name) for name in sorted(scope.member_queues)]
    return urlencode(pairs)
