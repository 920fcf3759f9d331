"""``deploy/nginx.conf`` in front of two Daphne processes: TLS, WebSockets, the login's CSRF
check, and ``/metrics`` refused without a token. The example file is used as shipped, with only
its ports and certificate paths changed."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from monitor.sim.tls import self_signed
from tests.conftest import REPO_DIR
from tests.production.conftest import PASSWORD, Deployment, Process, free_port, wait_for
from tests.production.test_browser import LIVE, tile
from tests.production.test_deployment import hang_up_everything
from tests.support import unavailable
from tests.support.chromium import chromium

pytestmark = [pytest.mark.production, pytest.mark.browser, pytest.mark.slow]


def site_config(ports: list[int], http: int, https: int, cert: str, key: str) -> str:
    text = (REPO_DIR / "deploy" / "nginx.conf").read_text()
    replacements = {
        "127.0.0.1:8001": f"127.0.0.1:{ports[0]}",
        "127.0.0.1:8002": f"127.0.0.1:{ports[1]}",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/ssl/certs/wallboard.example.com.pem": str(cert),
        "/etc/ssl/private/wallboard.example.com.key": str(key),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def proxy(healthy: Deployment, tmp_path: Path):
    """nginx on a free port in front of two Daphnes set up for HTTPS behind a proxy."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        unavailable("nginx is not installed (apt install nginx-light)")
    webs = [healthy.start_web(f"daphne-https-{n}", FCMDASH_HTTPS="true") for n in (1, 2)]
    http, https = free_port(), free_port()
    cert, key = self_signed(str(tmp_path))  # the simulator's: for 127.0.0.1 among others
    (tmp_path / "site.conf").write_text(site_config([w.port for w in webs], http, https, cert, key))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        "daemon off;\n"
        "events {}\n"
        "http {\n"
        f"  access_log {tmp_path}/access.log;\n"
        f"  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/site.conf;\n"
        "}\n"
    )
    argv = [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log")]
    server = Process("nginx", [*argv, "-c", str(tmp_path / "nginx.conf")], healthy.env, tmp_path)
    healthy.processes.append(server)
    server.start()
    base = f"https://127.0.0.1:{https}"
    context = ssl._create_unverified_context()

    def get(path: str, **headers: str) -> int:
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    wait_for(lambda: get("/healthz") == 200, 20, "nginx to pass /healthz through")
    yield SimpleNamespace(base=base, get=get, access_log=tmp_path / "access.log")
    server.stop()
    for web in webs:
        web.stop()


def test_the_nginx_example_proxies_pages_websockets_and_guards_metrics(proxy, healthy):
    assert proxy.get("/metrics") == 401  # forwarded by nginx: looks local, needs the token
    assert proxy.get("/metrics", Authorization=f"Bearer {healthy.token}") == 200
    assert proxy.get("/kiosk/not-a-token/") == 404
    from playwright.sync_api import expect

    with chromium() as browser:
        pages = []
        for _ in range(2):
            page = browser.new_context(ignore_https_errors=True).new_page()
            page.goto(proxy.base + "/")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")  # the CSRF origin check passes through nginx
            page.wait_for_selector(LIVE)
            pages.append(page)
        sim = healthy.sim
        sim.call(sim.sim.pbx.calls.phone_call, "1005", "1002")
        try:
            for page in pages:
                expect(tile(page, healthy.pbx_id, "1002")).to_contain_text("Ringing", timeout=10000)
        finally:
            hang_up_everything(sim)
    log = proxy.access_log.read_text()
    assert len(re.findall(r'"GET /ws/live/\S* HTTP/1.1" 101 ', log)) == 2
    assert "/kiosk/" not in log  # the token in a kiosk link's path stays out of the log
