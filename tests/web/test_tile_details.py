"""Details of the tiles that a supervisor would otherwise misread."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from monitor.models import Endpoint, Queue

pytestmark = pytest.mark.django_db


def test_stale_data_is_dated_when_it_stopped_being_true(viewer, pbx):
    synced = timezone.now() - dt.timedelta(hours=5)
    lost = timezone.now() - dt.timedelta(minutes=3)
    pbx.connected, pbx.synced_at, pbx.stale_since = False, synced, lost
    pbx.save()
    html = viewer.get("/").content.decode()
    local = timezone.localtime(lost).strftime("%H:%M:%S")
    assert f"data as of {local}" in html
    assert timezone.localtime(synced).strftime("%H:%M:%S") not in html


def test_no_service_level_before_any_call_was_answered(viewer, pbx):
    Queue.objects.filter(pbx=pbx).update(completed=0, service_level_perf=0.0)
    html = viewer.get("/").content.decode()
    assert "0%" not in html
    Queue.objects.filter(pbx=pbx, name="6500").update(completed=4, service_level_perf=75.0)
    assert "75%" in viewer.get("/").content.decode()


def test_trunks_get_no_click_to_call_button(owner, pbx):
    trunk = Endpoint.objects.create(pbx=pbx, resource="trunk_1", state="unavailable")
    phone = Endpoint.objects.get(pbx=pbx, resource="1001")
    html = owner.get("/").content.decode()
    assert f"?endpoint={phone.pk}" in html
    assert f"?endpoint={trunk.pk}" not in html
