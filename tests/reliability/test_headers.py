"""What a response tells the browser to keep to: the Content-Security-Policy, the Referrer-Policy
that keeps a kiosk token inside its page, HSTS over HTTPS; and kiosk links that expire.

The browser's side (no page of any kind breaks the policy) is tests/browser/test_csp.py.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from django.utils import timezone

from fcmdash.asgi import application
from monitor.web_models import KioskLink
from tests.support.processes import ROOT

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"
ORIGIN = (b"origin", b"http://127.0.0.1")


def make_link(**kwargs) -> tuple[KioskLink, str]:
    link = KioskLink(name="Hall TV", **kwargs)
    token = link.issue()
    link.save()
    return link, token


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def test_every_page_kind_has_a_same_origin_policy_and_no_inline_code(record):
    _, token = make_link()
    for path in ("/accounts/login/", "/admin/login/", f"/kiosk/{token}/", "/static/js/kiosk.js"):
        response = Client().get(path)
        assert response.status_code == 200, path
        policy = directives(response["Content-Security-Policy"])
        assert policy["script-src"] == policy["style-src"] == "'self'", path
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        record(SECURITY, "inline script or style injected into a page (CSP)", "refused")


def test_a_kiosk_page_sends_no_referer_and_the_others_only_to_our_site(record):
    _, token = make_link()
    assert Client().get(f"/kiosk/{token}/")["Referrer-Policy"] == "no-referrer"
    assert Client().get("/accounts/login/")["Referrer-Policy"] == "same-origin"
    record(SECURITY, "kiosk token sent in a Referer (static files, favicon)", "refused")


async def kiosk_socket(token: str) -> bool:
    communicator = WebsocketCommunicator(application, f"/ws/kiosk/{token}/", headers=[ORIGIN])
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


async def test_an_expired_kiosk_link_is_a_404_and_its_socket_is_refused(record):
    now = timezone.now()
    _, expired = await sync_to_async(make_link)(expires_at=now - datetime.timedelta(seconds=1))
    _, current = await sync_to_async(make_link)(expires_at=now + datetime.timedelta(hours=1))
    client = AsyncClient()
    assert (await client.get(f"/kiosk/{expired}/")).status_code == 404
    assert not await kiosk_socket(expired)
    record(SECURITY, "kiosk link used after it expired", "refused", times=2)
    assert (await client.get(f"/kiosk/{current}/")).status_code == 200
    assert await kiosk_socket(current)


@pytest.mark.parametrize(("https", "expected"), [("1", "max-age=31536000"), ("0", None)])
def test_hsts_is_sent_over_https_when_fcmdash_https_is_on(https, expected, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCMDASH_")}
    env |= {"FCMDASH_HTTPS": https, "FCMDASH_VAR_DIR": str(tmp_path), "FCMDASH_DEBUG": "0"}
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fcmdash.settings');"
        "django.setup(); from django.test import Client;"
        "r = Client(HTTP_HOST='127.0.0.1')"
        ".get('/accounts/login/', headers={'X-Forwarded-Proto': 'https'});"
        "print(r.status_code, r.headers.get('Strict-Transport-Security'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    # The last line: the log goes to stdout too.
    assert done.stdout.splitlines()[-1].split() == ["200", str(expected)], done.stdout[-2000:]
