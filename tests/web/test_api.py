"""``GET /api/v1/state``: session or bearer token, read-only JSON."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from monitor.models import Pbx
from monitor.web_models import ApiToken

pytestmark = pytest.mark.django_db
URL = "/api/v1/state"


def test_owner_and_viewer_read_the_state_with_their_session(owner, viewer, pbx):
    for client in (owner, viewer):
        response = client.get(URL)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"


def test_stranger_and_anonymous_get_401(stranger, pbx):
    assert stranger.get(URL).status_code == 401
    response = Client().get(URL)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_state_lists_pbxes_endpoints_queues_and_calls(viewer, pbx):
    data = viewer.get(URL).json()
    assert data["pbxes"] == [
        {
            "name": "Main",
            "enabled": True,
            "connected": True,
            "stale": False,
            "since": None,
            "synced_at": pbx.synced_at.isoformat(),
        }
    ]
    ep = next(e for e in data["endpoints"] if e["resource"] == "1001")
    assert ep == {
        "pbx": "Main",
        "resource": "1001",
        "name": "Agent 1001",
        "state": "inuse",
        "registered": True,
        "calls": 0,
    }
    queue = data["queues"][0]
    assert queue["name"] == "6500" and queue["callers"][0]["seconds_waited"] >= 42
    paused = next(m for m in queue["members"] if m["interface"] == "PJSIP/1002")
    assert paused["paused"] is True and paused["status"] == "not_inuse"
    call = next(c for c in data["calls"] if c["channel"] == "PJSIP/1001-00000001")
    assert call["caller_id"] == "1001" and call["seconds"] >= 120 and call["state"] == "Up"
    trunk = next(c for c in data["calls"] if c["channel"] == "PJSIP/trunk_1-00000002")
    assert call["linkedid"] == trunk["linkedid"] == "1700000000.2"  # one call, two channels
    assert (trunk["queue"], trunk["waited"]) == ("6500", 15)


def test_bearer_token_from_the_command_works_once_printed(pbx, capsys):
    call_command("apitoken", "reporting")
    token = capsys.readouterr().out.strip()
    assert token.startswith("fcm_")
    stored = ApiToken.objects.get(name="reporting")
    assert token not in stored.token_hash  # only the hash is kept
    response = Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200 and response.json()["pbxes"][0]["name"] == "Main"
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_wrong_or_revoked_token_is_401(pbx):
    token = ApiToken(name="old")
    secret = token.issue()
    token.revoked_at = timezone.now()
    token.save()
    assert Client().get(URL, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    assert Client().get(URL, HTTP_AUTHORIZATION="Bearer fcm_nope").status_code == 401


def test_api_is_read_only(owner, pbx):
    assert owner.post(URL).status_code == 405


def test_apitoken_revoke(pbx, capsys):
    call_command("apitoken", "x")
    call_command("apitoken", "x", "--revoke")
    assert ApiToken.objects.get(name="x").revoked_at is not None


def test_a_switched_off_pbx_is_marked_and_its_rows_left_out(viewer, pbx):
    from tests.web.conftest import build_pbx

    build_pbx("Old simulator")
    Pbx.objects.filter(name="Old simulator").update(enabled=False)
    data = viewer.get("/api/v1/state").json()
    assert {(p["name"], p["enabled"]) for p in data["pbxes"]} == {
        ("Main", True),
        ("Old simulator", False),
    }
    for key in ("endpoints", "queues", "calls"):
        assert data[key] and {row["pbx"] for row in data[key]} == {"Main"}
