"""The production set-up at the HTTP level: two Daphne processes and a separate amiworker on
PostgreSQL and Redis (``deployment`` in conftest.py)."""

from __future__ import annotations

import signal
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.production.conftest import Deployment, Web, free_port, wait_for
from tests.support.simthread import SimThread

pytestmark = [pytest.mark.production, pytest.mark.slow]


def metrics(web: Web, token: str | None = None) -> dict[tuple[str, tuple], float]:
    status, _, body = web.get("/metrics", token=token)
    assert status == 200, body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def main(name: str, values: dict) -> float:
    return values[(name, (("pbx", "Main"),))]


def state(web: Web, token: str) -> dict:
    import json

    status, _, body = web.get("/api/v1/state", token=token)
    assert status == 200, body
    return json.loads(body)


def endpoint_state(web: Web, token: str, resource: str) -> str:
    snapshot = state(web, token)
    return next(e["state"] for e in snapshot["endpoints"] if e["resource"] == resource)


def channel_of(sim: SimThread, endpoint: str) -> str | None:
    channels = sim.call(lambda: sim.sim.snapshot()["channels"])
    return next(
        (c["name"] for c in channels.values() if c["name"].startswith(f"PJSIP/{endpoint}-")), None
    )


def hang_up_everything(sim: SimThread) -> None:
    for name in sim.call(lambda: [c["name"] for c in sim.sim.snapshot()["channels"].values()]):
        sim.call(sim.sim.pbx.calls.hangup, name)


def test_healthz_is_200_on_both_daphnes_with_every_component(healthy: Deployment):
    for web in healthy.web:
        status, body = web.health(healthy.token)
        assert status == 200
        assert body["database"]["ok"] and body["database"]["vendor"] == "postgresql"
        assert body["channel_layer"] == {**body["channel_layer"], "ok": True}
        assert body["channel_layer"]["backend"] == "RedisChannelLayer"
        [pbx] = body["pbxes"]
        assert pbx["name"] == "Main" and pbx["connected"] and pbx["worker_age"] < 5
        assert "admin123" not in str(body)


def test_a_call_shows_through_both_daphnes(healthy: Deployment):
    sim, token = healthy.sim, healthy.token
    for web in healthy.web:
        assert endpoint_state(web, token, "1002") == "not_inuse"
    sim.call(sim.sim.pbx.calls.phone_call, "1005", "1002")
    try:
        for web in healthy.web:
            wait_for(
                lambda web=web: endpoint_state(web, token, "1002") == "ringing",
                10,
                f"1002 ringing through {web.name}",
            )
    finally:
        hang_up_everything(sim)
    for web in healthy.web:
        wait_for(
            lambda web=web: endpoint_state(web, token, "1002") == "not_inuse",
            10,
            f"1002 free again through {web.name}",
        )


def test_metrics_show_the_queues_and_the_ami_counters_rising(healthy: Deployment):
    sim, web = healthy.sim, healthy.web[0]
    before = metrics(web)  # from 127.0.0.1, straight to Daphne: no token needed
    assert main("fcmdash_pbx_connected", before) == 1
    assert main("fcmdash_pbx_stale", before) == 0
    queues = {dict(labels)["queue"] for name, labels in before if name.startswith("fcmdash_queue_")}
    assert {"6500", "6501"} <= queues
    members = sim.call(lambda: list(sim.sim.pbx.queues["6500"].members))
    # Every member paused: the caller waits (a free agent of the simulator answers at once).
    for interface in members:
        sim.call(lambda i=interface: sim.sim.pbx.queue_pause(i, True, queue="6500"))
    sim.call(sim.sim.pbx.calls.trunk_call, "+15550100", "6500")
    try:
        waiting = (("pbx", "Main"), ("queue", "6500"))
        after = wait_for(
            lambda: (m := metrics(web)).get(("fcmdash_queue_callers_waiting", waiting)) and m,
            10,
            "a caller waiting in 6500 in /metrics",
        )
        assert after[("fcmdash_queue_members_paused", waiting)] == len(members)
        assert after[("fcmdash_queue_longest_wait_seconds", waiting)] >= 0
        # The worker reports its counters about once a second, after the flush.
        events = main("fcmdash_ami_events_total", before)
        for other in healthy.web:
            after = wait_for(
                lambda web=other: (
                    main("fcmdash_ami_events_total", m := metrics(web)) > events and m
                ),
                5,
                f"more AMI events counted in /metrics of {other.name}",
            )
    finally:
        hang_up_everything(sim)
        for interface in members:
            sim.call(lambda i=interface: sim.sim.pbx.queue_pause(i, False, queue="6500"))
    reconnects = main("fcmdash_ami_reconnects_total", after)
    sim.call(sim.sim.faults.drop_all)
    wait_for(
        lambda: main("fcmdash_ami_reconnects_total", metrics(web)) > reconnects,
        15,
        "the reconnect counted in /metrics",
    )
    healthy.wait_healthy()
    final = metrics(web)
    for counter in ("fcmdash_ami_events_total", "fcmdash_worker_flushes_total"):
        assert main(counter, final) >= main(counter, after)
    assert main("fcmdash_worker_resyncs_total", final) > main(
        "fcmdash_worker_resyncs_total", before
    )


def test_metrics_through_a_proxy_need_the_api_token(healthy: Deployment):
    import urllib.error
    import urllib.request

    web = healthy.web[0]
    request = urllib.request.Request(web.url + "/metrics", headers={"X-Forwarded-For": "192.0.2.7"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    request.add_header("Authorization", f"Bearer {healthy.token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_healthz_503_while_a_pbx_refuses_connections(healthy: Deployment):
    with SimThread() as second:
        pbx_id = healthy.add_pbx("Second", second.port)
        try:
            healthy.wait_healthy()  # the worker picked it up
            second.call(second.sim.faults.refuse_for, 120)
            second.call(second.sim.faults.drop_all)

            def failing(web: Web):
                status, body = web.health(healthy.token)
                return status == 503 and body

            for web in healthy.web:
                body = wait_for(lambda web=web: failing(web), 10, f"503 from {web.name}")
                reasons = {p["name"]: p["reason"] for p in body["pbxes"]}
                assert reasons["Main"] == ""
                assert reasons["Second"].startswith("AMI session down: ")
                assert body["database"]["ok"] and body["channel_layer"]["ok"]
        finally:
            # Disabled PBXes are not checked; the worker pool stops its worker.
            healthy.django(
                "from monitor.models import Pbx\n"
                f"Pbx.objects.filter(pk={pbx_id}).update(enabled=False)"
            )
    healthy.wait_healthy()


def test_healthz_503_on_a_daphne_whose_redis_is_dead(healthy: Deployment):
    dead = healthy.start_web("daphne-dead-redis", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        status, body = dead.health(healthy.token)
        assert status == 503
        assert body["status"] == "fail" and body["channel_layer"]["ok"] is False
        assert "127.0.0.1" in body["channel_layer"]["reason"]
        assert body["database"]["ok"] and body["pbxes"][0]["ok"]
        # The others are fine.
        assert [web.health(healthy.token)[0] for web in healthy.web] == [200, 200]
    finally:
        dead.stop()


def test_a_standby_worker_takes_over_and_the_counters_keep_growing(healthy: Deployment):
    web = healthy.web[0]
    before = metrics(web)
    standby = healthy.start_worker("amiworker-standby")
    wait_for(lambda: "another worker is active; standing by" in standby.log(), 20, "stand-by")
    healthy.worker.stop(signal.SIGKILL)  # a crash: no log-off, no last flush
    healthy.worker = standby
    wait_for(lambda: "worker active" in standby.log(), 20, "the stand-by to take over")
    resyncs = main("fcmdash_worker_resyncs_total", before)
    after = wait_for(
        lambda: main("fcmdash_worker_resyncs_total", m := metrics(web)) > resyncs and m,
        10,
        "the new worker's resync counted",
    )
    healthy.wait_healthy()
    for counter in ("fcmdash_ami_events_total", "fcmdash_worker_flushes_total"):
        assert main(counter, after) >= main(counter, before)


def test_a_killed_worker_without_standby_turns_healthz_503(healthy: Deployment):
    healthy.worker.stop(signal.SIGKILL)
    started = time.monotonic()
    web = healthy.web[0]
    body = wait_for(
        lambda: (r := web.health(healthy.token))[0] == 503 and r[1], 15, "503 after the kill"
    )
    assert body["pbxes"][0]["reason"].startswith("no worker report for ")
    assert time.monotonic() - started < 10
    healthy.worker = healthy.start_worker("amiworker-2")
    healthy.wait_healthy()


def test_static_files_come_hashed_and_cacheable(healthy: Deployment):
    import re

    web = healthy.web[1]
    status, _, page = web.get("/accounts/login/")
    assert status == 200
    css = re.search(r'href="(/static/css/fcmdash\.[0-9a-f]{12}\.css)"', page)
    assert css, "the login page links the hashed stylesheet (collectstatic's manifest)"
    status, headers, _ = web.get(css.group(1))
    assert status == 200 and "immutable" in headers["Cache-Control"]
