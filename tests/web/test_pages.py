"""Pages: owner (supervisor) / viewer / stranger for each, and what they show."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from monitor import tiles
from monitor.models import Endpoint, Queue, QueueMember

pytestmark = pytest.mark.django_db


def page_urls(pbx) -> list[str]:
    queue = Queue.objects.get(pbx=pbx, name="6500")
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1001")
    return [
        reverse("monitor:wallboard"),
        reverse("monitor:queue", args=[queue.pk]),
        reverse("monitor:extension", args=[endpoint.pk]),
        reverse("monitor:calls"),
        reverse("monitor:originate"),
        reverse("monitor:kiosk"),
    ]


def test_owner_sees_every_page(owner, pbx):
    for url in page_urls(pbx):
        assert owner.get(url).status_code == 200, url


def test_viewer_sees_every_page_but_the_click_to_call_form(viewer, pbx):
    originate = reverse("monitor:originate")
    for url in page_urls(pbx):
        if url != originate:
            assert viewer.get(url).status_code == 200, url
    assert viewer.get(originate).status_code == 403


def test_only_supervisors_are_offered_click_to_call_and_hang_up(owner, viewer, pbx):
    """The nav and the calls page say what each may do: the viewer's lack both controls."""
    supervisor, looker = (
        owner.get("/calls/").content.decode(),
        viewer.get("/calls/").content.decode(),
    )
    assert 'href="/originate/"' in supervisor and "can-originate" in supervisor
    assert "can-hangup" in supervisor
    assert 'href="/originate/"' not in looker and "can-" not in looker
    assert "/ws/live/?pbx=" in looker and "readonly" not in looker


def test_stranger_gets_403_on_every_page(stranger, pbx):
    for url in page_urls(pbx):
        assert stranger.get(url).status_code == 403, url


def test_anonymous_is_sent_to_login(pbx):
    for url in page_urls(pbx):
        response = Client().get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/")


def test_login_page_renders():
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_wallboard_shows_state_as_colour_word_and_symbol(viewer, pbx):
    html = viewer.get("/").content.decode()
    assert 'class="tile tile--oncall"' in html
    assert "On a call" in html and "&#9742;" in html  # ☎, written as a character reference
    assert 'class="tile tile--free"' in html and "Free" in html
    assert "Not registered" in html
    # The other party of 1001's call is the peer channel's caller ID.
    assert "Customer (0309876543)" in html
    assert 'class="legend"' in html


def test_wallboard_queue_card_counts(viewer, pbx):
    html = viewer.get("/").content.decode()
    queue = tiles.load_queues(Queue.objects.filter(pbx=pbx))[0]
    assert queue.stats.busy == 1 and queue.stats.paused == 1
    assert tiles.render("queue", queue, controls=False) in html
    assert "0301234567" in html  # the waiting caller


def test_wallboard_includes_the_same_tile_html_as_the_live_update(owner, viewer, pbx):
    endpoint = tiles.load_endpoints(Endpoint.objects.filter(pbx=pbx, resource="1001"))[0]
    assert tiles.render("endpoint", endpoint, controls=True) in owner.get("/").content.decode()
    assert tiles.render("endpoint", endpoint, controls=False) in viewer.get("/").content.decode()


def test_viewer_sees_no_action_buttons(viewer, pbx):
    for url in page_urls(pbx):
        html = viewer.get(url).content.decode()
        assert "Hang up" not in html and ">Pause<" not in html and "Call&#8230;" not in html, url
        assert "can-hangup" not in html


def test_owner_sees_action_buttons(owner, pbx):
    urls = page_urls(pbx)
    assert "Call&#8230;" in owner.get(urls[0]).content.decode()
    queue_html = owner.get(urls[1]).content.decode()
    assert ">Unpause</button>" in queue_html and ">Pause</button>" in queue_html
    assert ">Hang up</button>" in owner.get(urls[3]).content.decode()
    assert 'class="can-hangup can-originate can-pause"' in owner.get(urls[0]).content.decode()


def test_disabled_button_names_the_missing_privilege(owner, pbx):
    pbx.actions = {"Hangup": False}
    pbx.save()
    html = owner.get(reverse("monitor:calls")).content.decode()
    assert "disabled" in html
    assert "needs Special Command or Call on the FCM630A AMI user" in html


def test_wallboard_filters_by_queue(viewer, pbx):
    other = Queue.objects.create(pbx=pbx, name="6501")
    QueueMember.objects.create(pbx=pbx, queue=other, interface="PJSIP/1003")
    html = viewer.get("/?queue=6501").content.decode()
    assert f'id="queue-{other.pk}"' in html
    assert 'id="queue-' + str(Queue.objects.get(name="6500").pk) + '"' not in html
    assert ">1003<" in html and ">1001<" not in html


def test_wallboard_filters_by_pbx(viewer, pbx):
    from tests.web.conftest import build_pbx

    other = build_pbx("Branch")
    html = viewer.get(f"/?pbx={other.pk}").content.decode()
    assert f'id="pbx-{other.pk}"' in html and f'id="pbx-{pbx.pk}"' not in html
    assert f"/ws/live/?pbx={other.pk}" in html


def test_stale_pbx_shows_unreachable_banner(viewer, pbx):
    from django.utils import timezone

    pbx.connected = False
    pbx.stale_since = timezone.now()
    pbx.last_error = "connection refused"
    pbx.save()
    html = viewer.get("/").content.decode()
    assert "PBX Main unreachable since" in html
    assert "data-stale" in html and "data as of" in html


def test_live_pbx_says_live(viewer, pbx):
    assert "● live" in viewer.get("/").content.decode().replace(
        '<span aria-hidden="true">&#9679;</span> ', "● "
    )


def test_extension_page_lists_its_calls_and_queues(owner, pbx):
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1001")
    html = owner.get(reverse("monitor:extension", args=[endpoint.pk])).content.decode()
    # The conversation 1001 is in, as one row: its id is the PBX's and the linkedid's.
    assert html.count('class="row row--call ') == 1
    assert f'id="call-{pbx.pk}-1700000000_2"' in html
    assert f'id="endpoint-{endpoint.pk}-members"' in html and "6500" in html
    assert 'name="number"' in html


def test_originate_form_is_prefilled_from_the_tile(owner, pbx):
    endpoint = Endpoint.objects.get(pbx=pbx, resource="1002")
    html = owner.get(reverse("monitor:originate") + f"?endpoint={endpoint.pk}").content.decode()
    assert 'name="extension" value="1002"' in html


def test_kiosk_is_read_only_without_navigation(owner, pbx):
    html = owner.get(reverse("monitor:kiosk")).content.decode()
    assert 'class="kiosk"' in html and "topbar" not in html
    assert "Call&#8230;" not in html and "readonly=1" in html


def test_unknown_detail_pages_are_404(viewer, db):
    assert viewer.get(reverse("monitor:queue", args=[999])).status_code == 404
    assert viewer.get(reverse("monitor:extension", args=[999])).status_code == 404


def test_wallboard_filters_by_group_and_its_socket_says_so(viewer, pbx):
    from monitor.web_models import ExtensionGroup

    sales = ExtensionGroup.objects.create(pbx=pbx, name="Sales", extensions="1002 1003")
    html = viewer.get(f"/?group={sales.pk}").content.decode()
    assert ">1002<" in html and ">1003<" in html and ">1001<" not in html
    assert f'id="queue-{Queue.objects.get(name="6500").pk}"' in html  # every queue still
    assert f"/ws/live/?pbx={pbx.pk}&amp;board=1&amp;group={sales.pk}" in html
    assert f'<option value="{sales.pk}" selected>Sales</option>' in html
    assert '<option value="queue:6500">members of 6500</option>' in html


def test_wallboard_queue_filter_is_in_its_socket_url(viewer, pbx):
    html = viewer.get("/?queue=6500").content.decode()
    assert f"/ws/live/?pbx={pbx.pk}&amp;board=1&amp;queue=6500" in html


def test_switched_off_pbx_disappears_from_every_page(viewer, owner, pbx):
    from tests.web.conftest import build_pbx

    off = build_pbx("Simulator")
    off.enabled = False
    off.save()
    for url in ("/", "/kiosk/", "/calls/", "/originate/", f"/?pbx={off.pk}"):
        html = (owner if url == "/originate/" else viewer).get(url).content.decode()
        assert f'id="pbx-status-{off.pk}"' not in html and "Simulator" not in html, url
        assert f'id="pbx-status-{pbx.pk}"' in html or url == "/originate/", url
    queue = Queue.objects.get(pbx=off)
    endpoint = Endpoint.objects.get(pbx=off, resource="1001")
    assert viewer.get(f"/queues/{queue.pk}/").status_code == 404
    assert viewer.get(f"/extensions/{endpoint.pk}/").status_code == 404
    assert "Simulator" not in owner.get(f"/originate/?endpoint={endpoint.pk}").content.decode()


def test_status_tile_names_the_kind_of_failure_never_the_user_or_address(viewer, pbx):
    from django.utils import timezone

    pbx.connected = False
    pbx.stale_since = timezone.now()
    pbx.last_error = "AMI login as 'admin123' at 127.0.0.1:44799 failed (Authentication failed)"
    pbx.save()
    html = viewer.get("/").content.decode()
    assert "AMI login failed" in html
    assert "admin123" not in html and "44799" not in html
