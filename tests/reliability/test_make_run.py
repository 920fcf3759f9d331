"""`make run` with a PostgreSQL ``DATABASE_URL`` (issue 11, item 8): the static files storage
then names files from collectstatic's manifest, and with a fresh ``FCMDASH_VAR_DIR`` nothing was
collected: every page answered 500. ``manage.py serve`` (what `make run` starts) collects first.
"""

from __future__ import annotations

import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from tests.support import wait_for
from tests.support.processes import Process, free_port, fresh_database
from tests.test_serve import embedded_env, manage  # noqa: F401 (embedded_env: a fixture)


def fetch(opener: urllib.request.OpenerDirector, url: str, data: dict | None = None):  # noqa: ANN201
    """The response to a GET (or a form POST with ``data``); HTTP errors are returned too."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        return opener.open(urllib.request.Request(url, data=body), timeout=30)
    except urllib.error.HTTPError as exc:
        return exc


def test_serve_with_a_postgresql_database_url_and_a_fresh_var_dir_serves_pages(
    embedded_env,  # noqa: F811
    tmp_path,
    postgres_url,
    record,
):
    """What `make run` does with ``DATABASE_URL`` set (issue 11, item 8): the manifest static
    storage is in use and nothing was collected yet; every page used to answer 500."""
    with fresh_database(postgres_url, "fcmdash_serve") as db_url:
        env = {**embedded_env, "DATABASE_URL": db_url, "FCMDASH_DEMO_PASSWORD": "demo-pass-12345"}
        manage(env, "migrate", "--noinput")
        manage(env, "demo_users")
        assert not (tmp_path / "var" / "static").exists()
        port = free_port()
        argv = [sys.executable, "manage.py", "serve", "--port", str(port)]
        serve = Process("serve", argv, env, tmp_path)
        serve.start()
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        try:

            def login_page():  # noqa: ANN202
                assert serve.alive, serve.log()
                try:
                    return fetch(opener, f"{base}/accounts/login/")
                except OSError:
                    return None  # not listening yet

            page = wait_for(login_page, 60, "serve answering on its port")
            assert page.status == 200, page.read()[:2000]
            csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.read()).group(1)
            form = {"username": "supervisor", "password": "demo-pass-12345"}
            fetch(opener, f"{base}/accounts/login/", {**form, "csrfmiddlewaretoken": csrf})
            wallboard = fetch(opener, f"{base}/")
            html = wallboard.read().decode()
            assert wallboard.status == 200 and wallboard.url == f"{base}/", html[:2000]
            static = re.findall(r'(/static/[^"?]+\.(?:css|js))"', html)
            assert static, html[:2000]
            for path in static:
                # Hashed names from collectstatic's manifest: what WhiteNoise serves.
                assert re.search(r"\.[0-9a-f]{12}\.", path), path
                assert fetch(opener, base + path).status == 200, path
            record(
                "service fault",
                "make run with DATABASE_URL and nothing collected yet (login, wallboard, static)",
                "survived",
            )
        finally:
            assert serve.stop() == 0, serve.log()
