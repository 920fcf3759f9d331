"""``/metrics`` on the embedded set-up: who may read it, and the families it shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitor.models import DeviceState, Pbx, Queue, QueueCaller, QueueMember, WorkerStats
from monitor.web_models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def pbx():
    now = timezone.now()
    pbx = Pbx(name='Main "HQ"', host="127.0.0.1", username="wallboard1", connected=True)
    pbx.set_secret("s3cret")
    pbx.synced_at = now
    pbx.save()
    queue = Queue.objects.create(pbx=pbx, name="6500")
    Queue.objects.create(pbx=pbx, name="6501")
    for number, (status, paused) in enumerate(
        [(DeviceState.INUSE, False), (DeviceState.NOT_INUSE, True), (DeviceState.NOT_INUSE, False)]
    ):
        QueueMember.objects.create(
            pbx=pbx, queue=queue, interface=f"PJSIP/100{number}", status=status, paused=paused
        )
    for seconds in (42, 7):
        QueueCaller.objects.create(
            pbx=pbx,
            queue=queue,
            uniqueid=f"1700000000.{seconds}",
            channel=f"PJSIP/trunk-{seconds}",
            joined_at=now - timedelta(seconds=seconds),
        )
    WorkerStats.objects.create(
        pbx=pbx, events_applied=1234, reconnects=2, flushes=50, resyncs=3, flush_lag=0.05
    )
    return pbx


def samples(response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_loopback_reads_the_metrics(client, pbx):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    values = samples(response)
    main = (("pbx", 'Main "HQ"'),)
    q6500 = (("pbx", 'Main "HQ"'), ("queue", "6500"))
    assert values[("fcmdash_pbx_connected", main)] == 1
    assert values[("fcmdash_pbx_stale", main)] == 0
    assert values[("fcmdash_ami_events_total", main)] == 1234
    assert values[("fcmdash_ami_reconnects_total", main)] == 2
    assert values[("fcmdash_worker_flushes_total", main)] == 50
    assert values[("fcmdash_worker_resyncs_total", main)] == 3
    assert values[("fcmdash_worker_flush_lag_seconds", main)] == 0.05
    assert values[("fcmdash_queue_callers_waiting", q6500)] == 2
    assert 42 <= values[("fcmdash_queue_longest_wait_seconds", q6500)] < 50
    assert values[("fcmdash_queue_members", (*q6500, ("status", "not_inuse")))] == 2
    assert values[("fcmdash_queue_members", (*q6500, ("status", "inuse")))] == 1
    assert values[("fcmdash_queue_members", (*q6500, ("status", "ringing")))] == 0
    assert values[("fcmdash_queue_members_paused", q6500)] == 1
    q6501 = (("pbx", 'Main "HQ"'), ("queue", "6501"))
    assert values[("fcmdash_queue_callers_waiting", q6501)] == 0
    assert values[("fcmdash_queue_longest_wait_seconds", q6501)] == 0


def test_ipv6_loopback_reads_the_metrics(client, pbx):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_a_pbx_without_worker_report_has_no_counters(client, pbx):
    WorkerStats.objects.all().delete()
    values = samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    assert not any(name == "fcmdash_ami_events_total" for name, _ in values)
    assert values[("fcmdash_pbx_connected", (("pbx", 'Main "HQ"'),))] == 1


@pytest.mark.parametrize(
    "meta",
    [
        {"REMOTE_ADDR": "192.0.2.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "192.0.2.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=192.0.2.7"},
        {"REMOTE_ADDR": "192.0.2.7", "HTTP_AUTHORIZATION": "Bearer fcm_wrong"},
    ],
    ids=["remote", "x-forwarded-for", "x-real-ip", "forwarded", "wrong-token"],
)
def test_others_need_a_token(client, pbx, meta):
    response = client.get("/metrics", **meta)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="fcmdash"'
    assert b"fcmdash_" not in response.content


def test_api_token_reads_the_metrics_until_revoked(client, pbx):
    token = ApiToken(name="prometheus")
    secret = token.issue()
    token.save()
    auth = {"REMOTE_ADDR": "192.0.2.7", "HTTP_X_FORWARDED_FOR": "192.0.2.7"}
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}", **auth)
    assert response.status_code == 200 and b"fcmdash_queue_members" in response.content
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoked_at = timezone.now()
    token.save()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}", **auth)
    assert response.status_code == 401


def test_disabled_pbx_is_left_out(client, pbx):
    Pbx.objects.filter(pk=pbx.pk).update(enabled=False)
    values = samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1"))
    assert not any(dict(labels).get("pbx") for _, labels in values)
