"""Fixtures of the web tests: Alice (supervisor), Bob (viewer), Charlie (logged in, no access),
and one PBX with extensions, a queue with members and a waiting caller, and a call.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.utils import timezone

from monitor.models import Call, DeviceState, Endpoint, Pbx, Queue, QueueCaller, QueueMember

GROUPS = importlib.import_module("monitor.migrations.0003_groups").GROUPS
PASSWORD = "correct horse battery staple"


def group(name: str) -> Group:
    """The group of the data migration; made again after a transactional test's flush."""
    found, created = Group.objects.get_or_create(name=name)
    if created:
        codenames = GROUPS[name]
        found.permissions.add(
            *Permission.objects.filter(content_type__app_label="monitor", codename__in=codenames)
        )
    return found


def make_user(username: str, group_name: str | None = None) -> User:
    user = User.objects.create_user(username, password=PASSWORD)
    if group_name:
        user.groups.add(group(group_name))
    return user


@pytest.fixture
def alice(db) -> User:
    return make_user("alice", "Supervisors")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob", "Viewers")


@pytest.fixture
def charlie(db) -> User:
    return make_user("charlie")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(alice) -> Client:
    return logged_in(alice)


@pytest.fixture
def viewer(bob) -> Client:
    return logged_in(bob)


@pytest.fixture
def stranger(charlie) -> Client:
    return logged_in(charlie)


def build_pbx(name: str = "Main", connected: bool = True) -> Pbx:
    now = timezone.now()
    pbx = Pbx(name=name, host="127.0.0.1", username="wallboard1", connected=connected)
    pbx.synced_at = now
    pbx.actions = {"Hangup": True, "Originate": True, "QueuePause": True}
    pbx.set_secret("s3cret")
    pbx.save()
    Endpoint.objects.create(
        pbx=pbx, resource="1001", name="Agent 1001", state=DeviceState.INUSE, registered=True
    )
    Endpoint.objects.create(
        pbx=pbx, resource="1002", name="Agent 1002", state=DeviceState.NOT_INUSE, registered=True
    )
    Endpoint.objects.create(
        pbx=pbx, resource="1003", state=DeviceState.UNAVAILABLE, registered=False
    )
    queue = Queue.objects.create(
        pbx=pbx, name="6500", strategy="ringall", completed=7, abandoned=2, calls_waiting=1
    )
    QueueMember.objects.create(
        pbx=pbx,
        queue=queue,
        interface="PJSIP/1001",
        name="Agent 1001",
        in_call=True,
        status=DeviceState.INUSE,
        calls_taken=3,
    )
    QueueMember.objects.create(
        pbx=pbx,
        queue=queue,
        interface="PJSIP/1002",
        name="Agent 1002",
        status=DeviceState.NOT_INUSE,
        paused=True,
        paused_reason="lunch",
    )
    QueueCaller.objects.create(
        pbx=pbx,
        queue=queue,
        uniqueid="1700000000.10",
        channel="PJSIP/trunk_1-0000000a",
        position=1,
        caller_id_num="0301234567",
        joined_at=now - timedelta(seconds=42),
    )
    # One conversation: a customer called in on the trunk, queued 15 s in 6500, 1001 answered.
    answered = now - timedelta(minutes=2)
    Call.objects.create(
        pbx=pbx,
        uniqueid="1700000000.1",
        linkedid="1700000000.2",
        channel="PJSIP/1001-00000001",
        state="Up",
        caller_id_num="1001",
        caller_id_name="Agent 1001",
        started_at=answered - timedelta(seconds=2),
        peer_uniqueid="1700000000.2",
        endpoint_resource="1001",
        queue="6500",
        answered_at=answered,
    )
    Call.objects.create(
        pbx=pbx,
        uniqueid="1700000000.2",
        linkedid="1700000000.2",
        channel="PJSIP/trunk_1-00000002",
        state="Up",
        caller_id_num="0309876543",
        caller_id_name="Customer",
        started_at=answered - timedelta(seconds=15),
        peer_uniqueid="1700000000.1",
        endpoint_resource="trunk_1",
        queue="6500",
        answered_at=answered,
        waited=15,
    )
    return pbx


@pytest.fixture
def pbx(db) -> Pbx:
    return build_pbx()
