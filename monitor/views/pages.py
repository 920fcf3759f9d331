"""The live pages: wallboard, queue detail, extension detail, calls, click-to-call form.

Each page puts in the tile partials (``{% tile %}``, ``monitor/jinja2/monitor/tiles/*.html``)
with rows loaded by :mod:`monitor.tiles`, so its first render and the live updates are the same
HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import truncatechars

from .. import tiles
from ..forms import OriginateForm
from ..models import Call, Endpoint, Pbx, Queue, QueueMember
from ..scope import QUEUE_GROUP, Scope, scope_from_query
from ..state.conversations import Conversation
from ..web_models import ExtensionGroup
from .access import originator_required, page_context, viewer_required


@dataclass
class Section:
    """One PBX's part of a page."""

    pbx: Pbx
    endpoints: list[Endpoint] = field(default_factory=list)
    queues: list[Queue] = field(default_factory=list)
    calls: list[Conversation] = field(default_factory=list)
    # A filtered list takes no new tiles from live updates (they may not match the filter).
    filtered: bool = False


def selected_pbxes(request: HttpRequest) -> list[Pbx]:
    """The enabled PBXes named by ``?pbx=<id>`` (all enabled ones when absent or unknown)."""
    pbxes = list(Pbx.objects.filter(enabled=True))
    wanted = request.GET.get("pbx", "")
    if wanted.isdigit():
        chosen = [p for p in pbxes if p.pk == int(wanted)]
        return chosen or pbxes
    return pbxes


def wallboard_sections(scope: Scope, pbxes: list[Pbx]) -> list[Section]:
    """Each PBX of ``scope`` (``pbxes``: its rows, ``scope.pbxes()``) with the queues and
    extensions it shows."""
    sections = []
    for pbx in pbxes:
        endpoints = Endpoint.objects.filter(pbx=pbx)
        queues = Queue.objects.filter(pbx=pbx)
        endpoint_names = scope.resources(pbx.pk)
        if scope.queue_names is not None:  # the rows of scope.queue_pks(), in this query
            queues = queues.filter(name__in=scope.queue_names)
        if endpoint_names is not None:
            endpoints = endpoints.filter(resource__in=endpoint_names)
        endpoints = list(endpoints)
        for endpoint in endpoints:
            endpoint.pbx = pbx  # the same row for all, without joining it to each of thousands
        sections.append(
            Section(
                pbx,
                tiles.load_endpoints(endpoints, whole_pbx=endpoint_names is None),
                tiles.load_queues(queues),
                filtered=scope.filtered,
            )
        )
    return sections


def group_choices(pbx_ids: tuple[int, ...]) -> list[tuple[str, str]]:
    """The wallboard's group filter: the departments, then each queue's members."""
    groups = ExtensionGroup.objects.filter(pbx_id__in=pbx_ids).select_related("pbx")
    several = len(pbx_ids) > 1
    choices = [(str(g.pk), f"{g.name} ({g.pbx.name})" if several else g.name) for g in groups]
    names = Queue.objects.filter(pbx_id__in=pbx_ids).values_list("name", flat=True)
    choices += [(QUEUE_GROUP + n, f"members of {truncatechars(n, 60)}") for n in sorted(set(names))]
    return choices


@viewer_required
def wallboard(request: HttpRequest) -> HttpResponse:
    scope = scope_from_query(request.GET)
    pbxes = scope.pbxes()
    context = page_context(request, pbxes, board=True, scope=scope)
    context.update(
        sections=wallboard_sections(scope, pbxes),
        queue_filter=next(iter(sorted(scope.queue_names or ())), ""),
        group_filter=request.GET.getlist("group"),
        pbx_filter=request.GET.get("pbx", ""),
        all_pbxes=Pbx.objects.filter(enabled=True),
        queue_names=Queue.objects.filter(pbx__enabled=True)
        .values_list("name", flat=True)
        .distinct()
        .order_by("name"),
        group_choices=group_choices(scope.pbx_ids),
    )
    return render(request, "monitor/wallboard.html", context)


@viewer_required
def queue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    queue = get_object_or_404(Queue.objects.select_related("pbx"), pk=pk, pbx__enabled=True)
    queue = tiles.load_queues([queue])[0]
    members = QueueMember.objects.filter(queue=queue).select_related("pbx", "queue")
    came_through = Call.objects.filter(pbx_id=queue.pbx_id, queue=queue.name)
    context = page_context(request, [queue.pbx], page=f"queue:{queue.pk}")
    context.update(
        pbx=queue.pbx,
        queue=queue,
        members=tiles.load_members(members),
        callers=queue.callers_list,
        calls=tiles.conversations_of(queue.pbx, came_through),
    )
    return render(request, "monitor/queue_detail.html", context)


@viewer_required
def extension_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(Endpoint.objects.select_related("pbx"), pk=pk, pbx__enabled=True)
    endpoint = tiles.load_endpoints([endpoint])[0]
    context = page_context(request, [endpoint.pbx], page=f"extension:{endpoint.pk}")
    context.update(
        pbx=endpoint.pbx,
        endpoint=endpoint,
        calls=tiles.conversations_of(endpoint.pbx, endpoint.calls),
        members=tiles.members_of_endpoint(endpoint),
        form=OriginateForm(initial={"pbx_choice": endpoint.pbx, "extension": endpoint.resource}),
    )
    return render(request, "monitor/extension_detail.html", context)


@viewer_required
def calls(request: HttpRequest) -> HttpResponse:
    pbxes = selected_pbxes(request)
    sections = [
        Section(pbx, calls=tiles.load_conversations(tiles.with_pbx(pbx.calls.all(), pbx)))
        for pbx in pbxes
    ]
    context = page_context(request, pbxes, page="calls")
    context["sections"] = sections
    return render(request, "monitor/calls.html", context)


@originator_required
def originate_form(request: HttpRequest) -> HttpResponse:
    initial: dict[str, Any] = {}
    pk = request.GET.get("endpoint", "")
    rows = Endpoint.objects.filter(pbx__enabled=True)
    endpoint = rows.filter(pk=int(pk)).first() if pk.isdigit() else None
    if endpoint is not None:
        initial = {"pbx_choice": endpoint.pbx_id, "extension": endpoint.resource}
    pbxes = list(Pbx.objects.filter(enabled=True))
    context = page_context(request, pbxes)
    context.update(form=OriginateForm(initial=initial), endpoint=endpoint)
    return render(request, "monitor/originate.html", context)
