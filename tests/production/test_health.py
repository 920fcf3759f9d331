"""``/healthz`` on the embedded set-up (SQLite, in-memory layer): who is healthy, and why not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitor.models import Pbx, WorkerStats

# The view reads the database from a worker thread, which sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(admin_client):
    """The details of /healthz are for logged-in staff (and API tokens)."""
    return admin_client


def make_pbx(name: str = "Main", *, connected: bool = True, report_age: float | None = 0.5):
    now = timezone.now()
    pbx = Pbx(name=name, host="127.0.0.1", username="wallboard1", connected=connected)
    pbx.set_secret("s3cret-Pa55")
    pbx.connected_since = now - timedelta(minutes=5) if connected else None
    pbx.stale_since = None if connected else now - timedelta(minutes=1)
    pbx.synced_at = now - timedelta(minutes=5)
    pbx.save()
    if report_age is not None:
        WorkerStats.objects.create(pbx=pbx, updated_at=now - timedelta(seconds=report_age))
    return pbx


def test_healthy_with_every_pbx_connected_and_reporting(staff):
    make_pbx("Main")
    make_pbx("Branch")
    response = staff.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {
        "ok": True,
        "vendor": "sqlite",
        "seconds": body["database"]["seconds"],
        "reason": "",
    }
    assert (
        body["channel_layer"]["ok"] and body["channel_layer"]["backend"] == "InMemoryChannelLayer"
    )
    assert [(p["name"], p["ok"], p["connected"]) for p in body["pbxes"]] == [
        ("Branch", True, True),
        ("Main", True, True),
    ]
    assert response["Cache-Control"].startswith("max-age=0")


def test_no_pbx_at_all_is_healthy(client):
    assert client.get("/healthz").status_code == 200


def test_disconnected_pbx_fails_with_its_last_error_and_no_secret(staff):
    pbx = make_pbx("Main", connected=False)
    pbx.last_error = (
        "login to ami://wallboard1:s3cret-Pa55@10.0.0.5:7777 refused (Secret: s3cret-Pa55)"
    )
    pbx.save()
    make_pbx("Branch")
    response = staff.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    main = next(p for p in body["pbxes"] if p["name"] == "Main")
    assert main["ok"] is False and main["connected"] is False
    assert main["reason"].startswith("AMI session down: login to ami://wallboard1:***@10.0.0.5")
    assert main["since"] is not None
    assert "s3cret-Pa55" not in response.content.decode()
    assert next(p for p in body["pbxes"] if p["name"] == "Branch")["ok"] is True


def test_pbx_without_a_worker_report_fails(staff, settings):
    settings.FCMDASH_HEALTH_MAX_AGE = 10
    make_pbx("Never", report_age=None)
    make_pbx("Killed", report_age=25)
    body = staff.get("/healthz").json()
    reasons = {p["name"]: p["reason"] for p in body["pbxes"]}
    assert reasons["Never"] == "no AMI worker has reported (is amiworker running?)"
    assert reasons["Killed"] == "no worker report for 25 s (is amiworker running?)"


def test_connected_but_not_synchronised_fails(staff):
    pbx = make_pbx()
    pbx.synced_at = None
    pbx.save()
    body = staff.get("/healthz").json()
    assert body["pbxes"][0]["reason"] == "AMI session up, state not synchronised yet"


def test_disabled_pbx_is_not_checked(client):
    pbx = make_pbx(connected=False, report_age=None)
    pbx.enabled = False
    pbx.save()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["pbxes"] == []


def test_unreachable_redis_fails_the_channel_layer(staff, settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    channel_layers.backends.clear()
    try:
        response = staff.get("/healthz")
    finally:
        channel_layers.backends.clear()
    assert response.status_code == 503
    layer = response.json()["channel_layer"]
    assert layer["ok"] is False and layer["backend"] == "RedisChannelLayer"
    assert "127.0.0.1:1" in layer["reason"]


def test_post_is_refused(client):
    assert client.post("/healthz").status_code == 405


def test_database_down_fails_with_its_error_masked(staff, monkeypatch):
    from django.db import OperationalError

    def down() -> None:
        raise OperationalError("connection to postgres://fcmdash:hunter2@db:5432 failed")

    monkeypatch.setattr("monitor.health._select_one", down)
    response = staff.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is False
    assert body["database"]["reason"] == "connection to postgres://fcmdash:***@db:5432 failed"
    assert body["pbxes"] == [
        {"name": "?", "ok": False, "reason": "PBX status unknown: no database"}
    ]
    assert "hunter2" not in response.content.decode()


async def test_a_hanging_check_fails_after_the_time_limit(monkeypatch):
    import time

    from monitor import health

    monkeypatch.setattr("monitor.health.TIMEOUT", 0.2)
    monkeypatch.setattr("monitor.health._select_one", lambda: time.sleep(1))
    started = time.monotonic()
    report = await health.check()
    assert time.monotonic() - started < 0.9
    assert report["status"] == "fail"
    assert report["database"]["reason"] == "no answer within 0.2 s"


def test_anonymous_gets_ok_or_fail_per_pbx_name_only(client):
    pbx = make_pbx("Main", connected=False)
    pbx.last_error = "AMI login as 'wallboard1' at 10.0.0.5:7777 failed"
    pbx.save()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["pbxes"] == [{"name": "Main", "ok": False}]
    assert body["database"] == {"ok": True} and body["channel_layer"] == {"ok": True}
    assert "wallboard1" not in response.content.decode()
    assert "10.0.0.5" not in response.content.decode()


def test_an_api_token_gets_the_details(client):
    from monitor.web_models import ApiToken

    make_pbx("Main", connected=False)
    row = ApiToken(name="probe")
    token = row.issue()
    row.save()
    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["pbxes"][0]["reason"].startswith("AMI session down")
    assert (
        "reason" not in client.get("/healthz", HTTP_AUTHORIZATION="Bearer wrong").json()["pbxes"][0]
    )


def test_failing_writes_are_named_while_the_session_is_up(staff):
    pbx = make_pbx("Main")
    WorkerStats.objects.filter(pbx=pbx).update(
        flush_error="database writes failing: value too long for type character varying(80)"
    )
    body = staff.get("/healthz").json()
    assert body["pbxes"][0]["reason"] == (
        "database writes failing: value too long for type character varying(80)"
    )
