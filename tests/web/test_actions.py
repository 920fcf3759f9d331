"""Supervisor actions over HTTP: permissions, CSRF, validation, rate limit, audit.

``monitor.actions.request`` is replaced by a recorder here: these tests are about what the web
side lets through. The worker side is tested in test_execute.py.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from monitor import actions
from monitor.models import Call, Endpoint, QueueMember
from monitor.web_models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sent(monkeypatch):
    """Every request() that would reach the worker, answered with the PBX's usual words."""
    calls: list[tuple[int, str, dict]] = []
    answers = {
        "hangup": "Channel Hungup",
        "originate": "Originate successfully queued",
        "pause": "Interface paused successfully",
        "unpause": "Interface unpaused successfully",
    }

    async def fake_request(pbx_id, kind, params, *, user, timeout=10.0, fence=None):
        actions.clean_params(kind, params)  # what the real one checks first
        assert fence is not None, "the view must say which takeover of the PBX it asks"
        calls.append((pbx_id, kind, params))
        return actions.Result(True, answers[kind])

    monkeypatch.setattr(actions, "request", fake_request)
    return calls


def call_pk() -> int:
    return Call.objects.get(uniqueid="1700000000.1").pk


def member_pk(interface="PJSIP/1001") -> int:
    return QueueMember.objects.get(interface=interface).pk


def test_owner_hangs_up_the_whole_conversation_by_call_row_not_by_channel_name(owner, pbx, sent):
    # A Local channel of the same call: hung up too, after the parties.
    Call.objects.create(
        pbx=pbx,
        uniqueid="1700000000.3",
        linkedid="1700000000.2",
        channel="Local/6500@from-queue-00000001;1",
        started_at=Call.objects.get(uniqueid="1700000000.1").started_at,
    )
    response = owner.post(
        reverse("monitor:hangup"), {"call": call_pk(), "channel": "PJSIP/evil"}, **HTMX
    )
    assert response.status_code == 200
    assert "Channel Hungup" in response.content.decode()
    channels = ["PJSIP/trunk_1-00000002", "PJSIP/1001-00000001", "Local/6500@from-queue-00000001;1"]
    assert sent == [(pbx.pk, "hangup", {"channels": channels})]
    entry = AuditEntry.objects.get()  # one entry for the call, not one per channel
    assert (entry.username, entry.kind, entry.ok) == ("alice", "hangup", True)
    assert entry.answer == "Channel Hungup" and entry.pbx_name == "Main"
    assert entry.params == {"channels": channels}


def test_viewer_gets_403_on_every_action(viewer, pbx, sent):
    for name, data in [
        ("monitor:hangup", {"call": call_pk()}),
        ("monitor:originate_action", {"extension": "1001", "number": "1002"}),
        ("monitor:pause", {"member": member_pk(), "paused": "1"}),
    ]:
        assert viewer.post(reverse(name), data, **HTMX).status_code == 403, name
    assert sent == [] and not AuditEntry.objects.exists()


def test_stranger_and_anonymous_get_403(stranger, pbx, sent):
    assert stranger.post(reverse("monitor:hangup"), {"call": call_pk()}).status_code == 403
    assert Client().post(reverse("monitor:hangup"), {"call": call_pk()}).status_code == 403
    assert sent == []


def test_missing_csrf_token_is_403(alice, pbx, sent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("monitor:hangup"), {"call": call_pk()}, **HTMX)
    assert response.status_code == 403
    assert sent == []


def test_csrf_header_from_the_page_is_accepted(alice, pbx, sent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get("/")
    token = page.context["csrf_token"]
    response = client.post(
        reverse("monitor:hangup"), {"call": call_pk()}, HTTP_X_CSRFTOKEN=str(token), **HTMX
    )
    assert response.status_code == 200


def test_get_is_not_allowed(owner, pbx):
    assert owner.get(reverse("monitor:hangup")).status_code == 405


def test_originate_sends_extension_number_and_configured_context(owner, pbx, sent):
    from monitor.web_models import OriginateSettings

    OriginateSettings.objects.create(pbx=pbx, context="from-office", timeout=20)
    data = {"pbx_choice": pbx.pk, "extension": "1001", "number": "+49301234#"}
    response = owner.post(reverse("monitor:originate_action"), data, **HTMX)
    assert "Originate successfully queued" in response.content.decode()
    params = {"extension": "1001", "number": "+49301234#", "context": "from-office", "timeout": 20}
    assert sent == [(pbx.pk, "originate", params)]


def test_originate_accepts_an_existing_endpoint_name(owner, pbx, sent):
    Endpoint.objects.create(pbx=pbx, resource="alice")
    data = {"extension": "alice", "number": "1002"}
    assert owner.post(reverse("monitor:originate_action"), data, **HTMX).status_code == 200
    assert sent[0][2]["extension"] == "alice" and sent[0][2]["context"] == "from-internal"


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", ":", "\r\nAction: Originate"])
@pytest.mark.parametrize("field", ["extension", "number"])
def test_injection_in_typed_originate_fields_is_refused(owner, pbx, sent, field, bad):
    data = {"extension": "1001", "number": "1002"}
    data[field] = data[field] + bad
    response = owner.post(reverse("monitor:originate_action"), data, **HTMX)
    assert response.status_code == 400
    text = response.content.decode()
    assert "refused" in text
    assert "not valid" in text or "line break" in text or "Null characters" in text
    assert sent == []
    assert AuditEntry.objects.get().ok is False


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "lunch\r\nAction: Hangup", "x" * 81])
def test_injection_in_pause_reason_is_refused(owner, pbx, sent, bad):
    data = {"member": member_pk(), "paused": "1", "reason": bad}
    response = owner.post(reverse("monitor:pause"), data, **HTMX)
    assert response.status_code == 400
    assert "reason" in response.content.decode().lower()
    assert sent == []


def test_a_colon_in_a_reason_is_text_not_a_header(owner, pbx, sent):
    # A reason is free text: "lunch: back at 2" stays one value of the Reason header.
    data = {"member": member_pk(), "paused": "1", "reason": "lunch: back at 2"}
    assert owner.post(reverse("monitor:pause"), data, **HTMX).status_code == 200
    action = actions.build_action("pause", sent[0][2])
    assert action.headers[-1] == ("Reason", "lunch: back at 2")


def test_pause_and_unpause_use_the_members_interface_and_queue(owner, pbx, sent):
    owner.post(reverse("monitor:pause"), {"member": member_pk(), "paused": "1", "reason": "break"})
    owner.post(reverse("monitor:pause"), {"member": member_pk("PJSIP/1002"), "paused": "0"})
    assert sent == [
        (pbx.pk, "pause", {"interface": "PJSIP/1001", "queue": "6500", "reason": "break"}),
        (pbx.pk, "unpause", {"interface": "PJSIP/1002", "queue": "6500"}),
    ]


def test_ended_call_is_a_clear_400(owner, pbx, sent):
    response = owner.post(reverse("monitor:hangup"), {"call": 99999}, **HTMX)
    assert response.status_code == 400
    assert "That call has ended" in response.content.decode()


def test_rate_limit_counts_audit_entries(owner, pbx, sent):
    from monitor.views.actions import RATE_LIMIT

    for _ in range(RATE_LIMIT):
        assert owner.post(reverse("monitor:hangup"), {"call": call_pk()}, **HTMX).status_code == 200
    response = owner.post(reverse("monitor:hangup"), {"call": call_pk()}, **HTMX)
    assert response.status_code == 429
    assert "too many actions" in response.content.decode()
    assert len(sent) == RATE_LIMIT
    assert AuditEntry.objects.count() == RATE_LIMIT


def test_pbx_without_the_privilege_is_not_asked(owner, pbx, sent):
    pbx.actions = {"Originate": False}
    pbx.save()
    data = {"extension": "1001", "number": "1002"}
    text = owner.post(reverse("monitor:originate_action"), data, **HTMX).content.decode()
    assert "Permission denied" in text and "needs Originate on the FCM630A AMI user" in text
    assert sent == []


def test_disconnected_pbx_is_not_asked(owner, pbx, sent):
    pbx.connected = False
    pbx.save()
    text = owner.post(reverse("monitor:hangup"), {"call": call_pk()}, **HTMX).content.decode()
    assert "PBX Main is not connected" in text and sent == []


def test_no_worker_means_connection_not_available(owner, pbx):
    # The real request() with the in-memory layer and nobody in ami.<id>: a short timeout.
    import asyncio

    result = asyncio.run(
        actions.request(pbx.pk, "hangup", {"channels": ["PJSIP/1001-1"]}, user=None, timeout=0.2)
    )
    assert result.ok is False and result.message == actions.NOT_AVAILABLE


def test_without_javascript_the_answer_comes_back_as_a_message(owner, pbx, sent):
    data = {"extension": "1001", "number": "1002", "next": "/originate/"}
    response = owner.post(reverse("monitor:originate_action"), data, follow=True)
    assert response.redirect_chain[-1][0] == "/originate/"
    assert "Originate successfully queued" in response.content.decode()


def test_next_must_stay_on_this_site(owner, pbx, sent):
    data = {"extension": "1001", "number": "1002", "next": "https://evil.example/"}
    response = owner.post(reverse("monitor:originate_action"), data)
    assert response["Location"] == "/"
