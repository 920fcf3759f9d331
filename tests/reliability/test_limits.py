"""Attacks that cost the server memory or guesses: oversized request bodies, declared or
streamed, sent to the real ASGI application (``fcmdash.asgi.application``, what Daphne serves),
and password guessing on both login pages.

The body limit is ``FCMDASH_MAX_BODY_BYTES`` (1 MiB by default); the witness that the body was
not read is how many of the body's chunks the application asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import AsyncClient, Client

from fcmdash.asgi import application
from tests.support import wait_for
from tests.support.processes import Process, free_port, memory
from tests.test_serve import NOT_EMBEDDED

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"
CHUNK = 64 * 1024


class Upload:
    """An ASGI ``receive`` that hands out a body chunk by chunk and counts what was taken."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.taken = 0
        self.bytes_taken = 0
        self.finished = False

    async def __call__(self) -> dict:
        if self.finished:
            # After the body, a real server waits until the client goes away.
            await asyncio.Event().wait()
        chunk = next(self.chunks, None)
        if chunk is None:
            self.finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        self.taken += 1
        self.bytes_taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}


def endless(size: int = CHUNK) -> Iterator[bytes]:
    """A body that never ends: only the limit can stop its reader."""
    while True:
        yield b"a" * size


async def post(path: str, upload: Upload, *, length: int | None) -> tuple[int, bytes]:
    """POST through the ASGI application; the response's status and body."""
    headers = [(b"host", b"localhost"), (b"content-type", b"application/x-www-form-urlencoded")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await asyncio.wait_for(application(scope, upload, send), timeout=60)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


async def test_a_declared_body_over_the_limit_is_refused_unread(record):
    limit = settings.FCMDASH_MAX_BODY_BYTES
    assert limit == 1024 * 1024
    for path in ("/accounts/login/", "/admin/login/", "/api/v1/state", "/no-such-page/"):
        upload = Upload(endless())
        status, body = await post(path, upload, length=1024 * 1024 * 1024)
        assert (status, upload.taken) == (413, 0), path
        assert b"too large" in body
        record(SECURITY, "anonymous 1 GB POST, declared in Content-Length", "refused")


async def test_a_streamed_body_is_refused_once_it_passes_the_limit(record):
    limit = settings.FCMDASH_MAX_BODY_BYTES
    upload = Upload(endless())
    status, _ = await post("/accounts/login/", upload, length=None)
    assert status == 413
    # Read up to the limit and the chunk that passed it, not one chunk more.
    assert upload.bytes_taken == (limit // CHUNK + 1) * CHUNK
    record(SECURITY, "anonymous endless POST without Content-Length (chunked)", "refused")

    # A body that lies about its length is counted all the same.
    upload = Upload(endless())
    status, _ = await post("/accounts/login/", upload, length=10)
    assert status == 413
    assert upload.bytes_taken <= limit + CHUNK
    record(SECURITY, "POST longer than its Content-Length says", "refused")


async def test_a_body_within_the_limit_reaches_django():
    limit = settings.FCMDASH_MAX_BODY_BYTES
    body = b"username=nobody&password=" + b"x" * (limit - 25)
    upload = Upload(iter([body[:CHUNK], body[CHUNK:]]))
    status, _ = await post("/accounts/login/", upload, length=len(body))
    # Django's CSRF check answers: the request got through whole.
    assert status == 403
    assert upload.finished


# -- guessing passwords ---------------------------------------------------------------------------
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")
LOCKED = b"Too many failed logins"
PASSWORD = "right-horse-battery-9"


def try_login(path: str, username: str, password: str, address: str = "127.0.0.1") -> HttpResponse:
    """A login as a browser sends it, from ``address``, through the whole middleware stack."""
    return Client(REMOTE_ADDR=address).post(
        path, {"username": username, "password": password, "next": "/"}
    )


def logged_in(response: HttpResponse) -> bool:
    return response.status_code == 302


@pytest.mark.parametrize("path", LOGIN_PAGES)
def test_fifty_wrong_passwords_lock_that_user_out_from_that_address(path, record, caplog):
    User.objects.create_superuser("boss", password=PASSWORD)
    User.objects.create_superuser("other", password=PASSWORD)
    caplog.set_level(logging.WARNING, logger="fcmdash.security")
    answers = [try_login(path, "boss", f"guess-{n}").status_code for n in range(50)]
    # The first four are ordinary failures; the fifth locks; the rest are refused unchecked.
    assert answers[:4] == [200] * 4
    assert set(answers[4:]) == {429}
    record(SECURITY, f"50 wrong passwords in a row on {path}", "refused", times=50)

    refused = try_login(path, "boss", PASSWORD)
    assert refused.status_code == 429 and LOCKED in refused.content
    assert b'name="password"' in refused.content  # the page itself, ready for later
    record(SECURITY, f"the right password during a lockout on {path}", "refused")
    lockouts = [r for r in caplog.records if r.name == "fcmdash.security"]
    assert len(lockouts) == 1 and "'boss'" in lockouts[0].getMessage()

    # Neither another user from that address nor that user from another address is locked.
    assert logged_in(try_login(path, "other", PASSWORD))
    assert logged_in(try_login(path, "boss", PASSWORD, address="10.0.0.2"))


def test_an_admin_unlocks_a_locked_out_user(record):
    User.objects.create_user("clerk", password=PASSWORD)
    root = User.objects.create_superuser("root", password=PASSWORD)
    for n in range(5):
        try_login("/accounts/login/", "clerk", f"guess-{n}")
    assert try_login("/accounts/login/", "clerk", PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get(username="clerk")

    admin = Client()
    admin.force_login(root)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and b"clerk" in listing.content
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert logged_in(try_login("/accounts/login/", "clerk", PASSWORD))
    record(SECURITY, "a locked-out user unlocked by an admin", "survived")


async def test_a_lockout_through_the_asgi_application_shows_the_login_page():
    await sync_to_async(User.objects.create_user)("asgi", password=PASSWORD)
    client = AsyncClient()
    for n in range(5):
        await client.post("/accounts/login/", {"username": "asgi", "password": f"guess-{n}"})
    refused = await client.post("/accounts/login/", {"username": "asgi", "password": PASSWORD})
    assert refused.status_code == 429 and LOCKED in refused.content


# -- the same against a real Daphne ---------------------------------------------------------------
FIFTY_MB = 50 * 1024 * 1024


def memory_mb(pid: int) -> tuple[int, int]:
    """A process's resident memory now and at its peak, in MB."""
    now, peak = memory(pid)
    return now // 2**20, peak // 2**20


def send_fifty_mb(port: int, *, chunked: bool) -> bytes:
    """POST 50 MB to /accounts/login/, whole, then read the status line."""
    head = "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "Content-Type: application/x-www-form-urlencoded\r\n"
    head += (
        "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {FIFTY_MB}\r\n\r\n"
    )
    piece = b"a" * CHUNK
    frame = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(head.encode())
        for _ in range(FIFTY_MB // CHUNK):
            s.sendall(frame)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer:
            data = s.recv(4096)
            if not data:
                break
            answer += data
    return answer.split(b"\r\n", 1)[0]


def test_daphne_refuses_fifty_mb_without_keeping_them(tmp_path, record):
    env = {k: v for k, v in os.environ.items() if k not in NOT_EMBEDDED}
    env["FCMDASH_VAR_DIR"] = str(tmp_path / "var")
    port = free_port()
    daphne = Process(
        "daphne",
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "fcmdash.asgi:application",
        ],
        env,
        tmp_path,
    ).start()
    try:
        wait_for(lambda: listening(port), 60, "Daphne listening")
        before = memory_mb(daphne.pid)
        for chunked in (False, True):
            assert send_fifty_mb(port, chunked=chunked).startswith(b"HTTP/1.1 413")
            record(SECURITY, "anonymous 50 MB POST to a real Daphne", "refused")
        after = memory_mb(daphne.pid)
        # The peak too: Daphne stored none of the 100 MB received.
        assert after[1] - before[1] < 10, (before, after)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        daphne.stop()


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False
