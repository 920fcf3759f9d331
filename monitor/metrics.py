"""``GET /metrics``: Prometheus metrics, computed from the database at each scrape.

Every web process answers with the same numbers: they come from the mirror and from the
workers' :class:`~monitor.models.WorkerStats` rows (``monitor/stats.py``), not from this
process's memory, so any Daphne behind the proxy can be scraped. ``prometheus_client`` writes
the text format (label escaping, ``_total`` suffixes); its default registry and the per-process
collectors are not used.

Who may read it (the numbers name queues and show the call volume):

- a request with ``Authorization: Bearer <token>`` of an active API token
  (``manage.py apitoken NAME``, the tokens of ``/api/v1/state``);
- a request straight from this host (loopback client address) that no proxy forwarded: one
  carrying ``X-Forwarded-For``, ``X-Real-IP`` or ``Forwarded`` needs the token, since a proxy on
  this host makes every visitor look local.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .models import DeviceState, Pbx, Queue, QueueMember, WorkerStats
from .web_models import ApiToken

FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")

# WorkerStats counter -> metric name (without _total) and help.
COUNTERS = {
    "events_applied": ("fcmdash_ami_events", "AMI events applied to the live state."),
    "reconnects": ("fcmdash_ami_reconnects", "AMI sessions lost and opened again."),
    "event_overflows": (
        "fcmdash_ami_event_overflows",
        "Times the event queue overflowed (each costs a resync).",
    ),
    "flushes": ("fcmdash_worker_flushes", "Database flushes of the mirror."),
    "resyncs": ("fcmdash_worker_resyncs", "Full reloads of the PBX state."),
}
# WorkerStats gauge -> metric name and help.
GAUGES = {
    "events_per_second": ("fcmdash_ami_events_per_second", "AMI events applied per second."),
    "flush_lag": (
        "fcmdash_worker_flush_lag_seconds",
        "Longest time a change waited to be written to the database, over the last report.",
    ),
    "event_queue": ("fcmdash_worker_event_queue", "AMI events received and not yet applied."),
}


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="fcmdash"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MirrorCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def allowed(request: HttpRequest) -> bool:
    """A valid bearer token, or a direct request from this host (see the module's rules)."""
    by_token = ApiToken.check_request(request)
    if by_token is not None:
        return by_token
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


class MirrorCollector:
    """The metric families of every enabled PBX, read at collection time."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        pbxes = list(Pbx.objects.filter(enabled=True).order_by("name"))
        stats = {s.pbx_id: s for s in WorkerStats.objects.filter(pbx__in=pbxes)}
        yield from pbx_families(pbxes, stats, now)
        yield from queue_families({p.pk: p.name for p in pbxes}, now)


def pbx_families(
    pbxes: list[Pbx], stats: dict[int, WorkerStats], now: dt.datetime
) -> Iterator[Metric]:
    connected = GaugeMetricFamily(
        "fcmdash_pbx_connected", "1 while the AMI session with the PBX is up.", labels=["pbx"]
    )
    stale = GaugeMetricFamily(
        "fcmdash_pbx_stale", "1 while the mirrored data of the PBX may be wrong.", labels=["pbx"]
    )
    age = GaugeMetricFamily(
        "fcmdash_worker_report_age_seconds",
        "Seconds since the PBX's AMI worker last reported (about once a second while it runs).",
        labels=["pbx"],
    )
    counters = {
        key: CounterMetricFamily(name, text, labels=["pbx"])
        for key, (name, text) in COUNTERS.items()
    }
    gauges = {
        key: GaugeMetricFamily(name, text, labels=["pbx"]) for key, (name, text) in GAUGES.items()
    }
    for pbx in pbxes:
        connected.add_metric([pbx.name], int(pbx.connected))
        stale.add_metric([pbx.name], int(pbx.stale))
        row = stats.get(pbx.pk)
        if row is None:
            continue  # no worker has reported yet: no numbers rather than made-up zeros
        age.add_metric([pbx.name], max(0.0, (now - row.updated_at).total_seconds()))
        for key, family in counters.items():
            family.add_metric([pbx.name], getattr(row, key))
        for key, family in gauges.items():
            family.add_metric([pbx.name], getattr(row, key))
    yield from (connected, stale, age, *counters.values(), *gauges.values())


def queue_families(names: dict[int, str], now: dt.datetime) -> Iterator[Metric]:
    labels = ["pbx", "queue"]
    waiting = GaugeMetricFamily(
        "fcmdash_queue_callers_waiting", "Callers waiting in the queue.", labels=labels
    )
    longest = GaugeMetricFamily(
        "fcmdash_queue_longest_wait_seconds",
        "Seconds the longest-waiting caller has waited (0: nobody waits).",
        labels=labels,
    )
    members = GaugeMetricFamily(
        "fcmdash_queue_members",
        "Queue members by device status.",
        labels=[*labels, "status"],
    )
    paused = GaugeMetricFamily(
        "fcmdash_queue_members_paused", "Queue members that are paused.", labels=labels
    )
    queues = (
        Queue.objects.filter(pbx_id__in=list(names))
        .annotate(waiting=Count("callers"), first_joined=Min("callers__joined_at"))
        .order_by("pbx_id", "name")
    )
    counts = _member_counts(names)
    for q in queues:
        key = [names[q.pbx_id], q.name]
        waiting.add_metric(key, q.waiting)
        since = q.first_joined
        longest.add_metric(key, max(0.0, (now - since).total_seconds()) if since else 0.0)
        by_status = counts.get(q.pk, {})
        for status in DeviceState.values:
            members.add_metric([*key, status], by_status.get(status, 0))
        paused.add_metric(key, by_status.get("paused", 0))
    yield from (waiting, longest, members, paused)


def _member_counts(names: Iterable[int]) -> dict[int, dict[str, int]]:
    """queue id -> {device status: members, "paused": paused members}."""
    counts: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    rows = (
        QueueMember.objects.filter(pbx_id__in=list(names))
        .values("queue_id", "status", "paused")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["queue_id"]][row["status"]] += row["n"]
        if row["paused"]:
            counts[row["queue_id"]]["paused"] += row["n"]
    return counts
