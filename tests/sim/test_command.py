"""The simulator as a program: ``python -m monitor.sim`` (no Django) and ``manage.py pbxsim``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.support.processes import free_port

from .amitest import RawClient

ROOT = Path(__file__).resolve().parents[2]


async def start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    return proc, line


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 10)


async def test_python_m_monitor_sim_serves_the_fcm630a_dialect_without_django():
    port = free_port()
    proc, first = await start(
        "-m", "monitor.sim", "--dialect", "fcm630a", "--port", str(port), "--no-scenario"
    )
    try:
        assert f"port {port}" in first and "5.0.0" in first
        c = await RawClient.connect(port)
        assert (await c.login()).get("Message") == "Authentication accepted"
        assert c.banner is not None and c.banner.text == "Asterisk Call Manager/5.0.0"
        await c.close()
    finally:
        await stop(proc)


async def test_python_m_monitor_sim_runs_the_call_centre_and_tls():
    port, tls_port = free_port(), free_port()
    proc, first = await start(
        "-m", "monitor.sim", "--port", str(port), "--tls-port", str(tls_port), "--extensions", "40",
        "--queues", "3", "--members-per-queue", "5", "--call-rate", "20", "--time-scale", "0.01",
    )  # fmt: skip
    try:
        assert f"TLS port {tls_port}" in first
        c = await RawClient.connect(tls_port, tls=True)
        await c.login()
        assert await c.wait_event("Newchannel", timeout=10)
        await c.close()
    finally:
        await stop(proc)


async def test_manage_py_pbxsim_is_a_thin_wrapper():
    port = free_port()
    proc, first = await start("manage.py", "pbxsim", "--port", str(port), "--no-scenario")
    try:
        assert f"port {port}" in first, first
        c = await RawClient.connect(port)
        assert (await c.login("wallboard1", "wb1pass9")).get("Message") == "Authentication accepted"
        await c.close()
    finally:
        await stop(proc)


async def test_replay_option_serves_a_transcript():
    port = free_port()
    proc, first = await start(
        "-m",
        "monitor.sim",
        "--port",
        str(port),
        "--replay",
        "c4-endpoint-unregister",
        "--speed",
        "1000",
    )
    try:
        c = await RawClient.connect(port)
        await c.login()
        # the replay already started when the program printed its first line
        await asyncio.sleep(0.2)
        got = await c.action("PJSIPShowContacts")
        assert any(p.get("Uri") == "sip:1004-0x55a1fed29580@127.0.0.1:5140" for p in got)
        await c.close()
    finally:
        await stop(proc)
