"""A PBX pointed at a service that is not AMI (an SSH server): what it greeted with appears on
no page, and the anonymous /healthz, the status tile never show the AMI user or host:port."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from monitor.models import Pbx
from monitor.web_models import KioskLink

from .conftest import CANARY_USER, eventually, make_pbx, worker_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_LOOKING = "k3y-9f8e7d6c5b4a"
GREETING = f"SSH-2.0-OpenSSH_9.2p1 Debian-2 {SECRET_LOOKING}\r\n".encode()


@contextlib.asynccontextmanager
async def ssh_like_server():
    """A TCP server on 127.0.0.1 that greets as an SSH server does, then waits."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        with contextlib.suppress(Exception):
            await writer.drain()
            await reader.read()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def error_of(pbx_id: int) -> str:
    return Pbx.objects.get(pk=pbx_id).last_error


def pages(pbx_id: int) -> dict[str, str]:
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("ops", "o@example.invalid", "p"))
    link = KioskLink(name="Hall TV")
    token = link.issue()
    link.save()
    return {
        "healthz": Client().get("/healthz").content.decode(),
        "kiosk": Client().get(f"/kiosk/{token}/").content.decode(),
        "wallboard": staff.get("/").content.decode(),
        "admin": staff.get(f"/admin/monitor/pbx/{pbx_id}/change/").content.decode(),
        "admin list": staff.get("/admin/monitor/pbx/").content.decode(),
    }


async def test_a_service_that_is_not_ami_is_named_so_and_never_echoed(record):
    async with ssh_like_server() as port:
        pbx_id = await make_pbx(port, name="Lab")
        async with worker_for(pbx_id):
            last_error = await eventually(lambda: error_of(pbx_id), 10, "last_error")
            seen = await sync_to_async(pages)(pbx_id)
    assert "not an AMI server" in last_error
    seen["last_error"] = last_error
    for where, text in seen.items():
        assert SECRET_LOOKING not in text and "OpenSSH" not in text, where
    assert "not an AMI server" in seen["wallboard"] and "not an AMI server" in seen["kiosk"]
    for where in ("healthz", "wallboard", "kiosk"):
        assert CANARY_USER not in seen[where], where
        assert f"127.0.0.1:{port}" not in seen[where], where
    record("security", "PBX address answered by an SSH server", "refused")
