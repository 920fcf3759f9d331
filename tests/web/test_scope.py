"""Scope: what a board shows, from its query string or its kiosk link, and back."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from monitor.models import Endpoint, Queue, QueueMember
from monitor.scope import Scope, query_of, scope_from_link, scope_from_query
from monitor.web_models import ExtensionGroup, KioskLink, expand_extensions
from tests.web.conftest import build_pbx

pytestmark = pytest.mark.django_db


def pks(pbx, *resources: str) -> set[int]:
    rows = Endpoint.objects.filter(pbx=pbx, resource__in=resources)
    return set(rows.values_list("pk", flat=True))


def test_no_filter_shows_every_queue_and_extension_of_every_enabled_pbx(pbx):
    other = build_pbx("Branch")
    off = build_pbx("Old")
    off.enabled = False
    off.save()
    scope = scope_from_query(QueryDict(""))
    assert scope.pbx_ids == (other.pk, pbx.pk)  # by name: Branch, Main
    assert scope.queue_pks(pbx.pk) is None and scope.endpoint_pks(pbx.pk) is None
    assert not scope.filtered


def test_a_disabled_pbx_asked_for_by_id_is_not_shown(pbx):
    off = build_pbx("Old")
    off.enabled = False
    off.save()
    assert scope_from_query(QueryDict(f"pbx={off.pk}")).pbx_ids == (pbx.pk,)
    assert scope_from_query(QueryDict(f"pbx={off.pk},{pbx.pk}")).pbx_ids == (pbx.pk,)


def test_queue_limits_the_queues_and_the_extensions_to_its_members(pbx):
    other = Queue.objects.create(pbx=pbx, name="6501")
    QueueMember.objects.create(pbx=pbx, queue=other, interface="PJSIP/1003")
    scope = scope_from_query(QueryDict("queue=6501"))
    assert scope.queue_pks(pbx.pk) == {other.pk}
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1003")


def test_membership_is_read_on_every_call(pbx):
    scope = scope_from_query(QueryDict("queue=6500"))
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1001", "1002")
    QueueMember.objects.filter(interface="PJSIP/1002").delete()
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1001")


def test_local_members_name_their_phone_by_state_interface(pbx):
    queue = Queue.objects.create(pbx=pbx, name="6502")
    QueueMember.objects.create(
        pbx=pbx, queue=queue, interface="Local/1003@agents", state_interface="PJSIP/1003"
    )
    assert scope_from_query(QueryDict("queue=6502")).endpoint_pks(pbx.pk) == pks(pbx, "1003")


def test_group_adds_its_extensions_and_keeps_every_queue(pbx):
    group = ExtensionGroup.objects.create(pbx=pbx, name="Sales", extensions="1002, 1003-1005")
    scope = scope_from_query(QueryDict(f"group={group.pk}"))
    assert scope.group_ids == (group.pk,)
    assert scope.queue_pks(pbx.pk) is None
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1002", "1003")
    assert scope.filtered


def test_group_of_another_pbx_shows_none_of_this_one(pbx):
    other = build_pbx("Branch")
    group = ExtensionGroup.objects.create(pbx=other, name="Sales", extensions="1001")
    scope = scope_from_query(QueryDict(f"group={group.pk}"))
    assert scope.endpoint_pks(pbx.pk) == set()
    assert scope.endpoint_pks(other.pk) == pks(other, "1001")


def test_automatic_queue_group_shows_its_members_and_every_queue(pbx):
    Queue.objects.create(pbx=pbx, name="6501")
    scope = scope_from_query(QueryDict("group=queue:6500"))
    assert scope.member_queues == frozenset({"6500"})
    assert scope.queue_pks(pbx.pk) is None
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1001", "1002")


def test_query_of_gives_back_the_same_scope(pbx):
    group = ExtensionGroup.objects.create(pbx=pbx, name="Sales & Co", extensions="1002")
    scope = Scope((pbx.pk,), frozenset({"b&c", "a"}), (group.pk,), frozenset({"6500"}))
    query = query_of(scope)
    assert query == f"queue=a&queue=b%26c&group={group.pk}&group=queue%3A6500"
    assert scope_from_query(QueryDict(f"pbx={pbx.pk}&{query}")) == scope
    assert query_of(Scope((pbx.pk,))) == ""


def test_unreadable_filters_are_left_out(pbx):
    scope = scope_from_query(QueryDict("pbx=x,,&group=abc&group=queue:&queue="))
    assert scope == Scope((pbx.pk,))


def test_kiosk_link_scope(pbx):
    group = ExtensionGroup.objects.create(pbx=pbx, name="Sales", extensions="1003")
    link = KioskLink(name="Hall", pbx=pbx, queues="6500, 6501")
    link.issue()
    link.save()
    link.groups.add(group)
    scope = scope_from_link(link)
    assert scope == Scope((pbx.pk,), frozenset({"6500", "6501"}), (group.pk,))
    assert scope.endpoint_pks(pbx.pk) == pks(pbx, "1001", "1002", "1003")
    pbx.enabled = False
    pbx.save()
    assert scope_from_link(link).pbx_ids == ()


def test_kiosk_link_without_pbx_shows_every_enabled_one(pbx):
    link = KioskLink(name="Hall")
    link.issue()
    link.save()
    assert scope_from_link(link) == Scope((pbx.pk,))


def test_extension_ranges_expand_and_odd_text_stays_literal():
    assert expand_extensions("1001, 1003-1005 0098-0100") == {
        "1001",
        "1003",
        "1004",
        "1005",
        "0098",
        "0099",
        "0100",
    }
    assert expand_extensions("1005-1001 a-b 1-99999") == {"1005-1001", "a-b", "1-99999"}
