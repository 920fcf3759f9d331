"""Sockets that never read cost the web server nothing that grows (``monitor/outbox.py``).

A busy simulated call centre (1,000 phones, 20 queues, calls all the time) mirrored by the
deployment's amiworker; a Daphne of its own; five kiosk sockets that complete the handshake and
then never read a byte, one of them sending a ping every 5 s as a client that keeps Daphne's own
check happy would; one kiosk socket that reads and acknowledges as a page does. For
``FCMDASH_TEST_SLOW_READER_SECONDS`` (120): the Daphne's memory stays within
:data:`GROWTH_BOUND` of what it was once the sockets were open, the reading socket keeps getting
updates, and the server closes the silent ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import threading
import time

import pytest

from tests.production.conftest import Deployment, Web, wait_for
from tests.support.processes import memory
from tests.support.simthread import SimThread

pytestmark = [pytest.mark.production, pytest.mark.slow]
SECONDS = float(os.environ.get("FCMDASH_TEST_SLOW_READER_SECONDS") or 120)
SILENT = 5
# Growth of the Daphne's resident memory allowed over the run. Three such sockets grew it by
# 53 MB in 90 s before the outbox (and without its window and stall limit five grew it by
# 19 MB in 60 s); with them it stayed within 0.3 MB in 60 s.
GROWTH_BOUND = 12 * 1024 * 1024
HEADER = re.compile(rb"<!--(\d+) ([0-9a-f]+)-->")


def rss(pid: int) -> int:
    return memory(pid)[0]


def silent_socket(web: Web, path: str) -> socket.socket:
    """A WebSocket handshake, then nothing read: a reader that stopped."""
    s = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {web.url}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)  # byte by byte: nothing past the handshake is read
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def ping_frame() -> bytes:
    mask = os.urandom(4)
    payload = b"hi"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x89, 0x80 | len(payload)) + mask + masked


def closed_by_server(s: socket.socket, timeout: float = 30.0) -> bool:
    """Reads what the server had sent until the connection ends; whether it ended."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


class Reader(threading.Thread):
    """A kiosk socket that reads and acknowledges every message, as the page does."""

    def __init__(self, url: str, origin: str) -> None:
        super().__init__(daemon=True)
        self.url, self.origin = url, origin
        self.times: list[float] = []
        self.stop = threading.Event()
        self.error = ""

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from websockets.asyncio.client import connect

        try:
            async with connect(self.url, origin=self.origin, max_size=None) as ws:
                while not self.stop.is_set():
                    try:
                        data = await asyncio.wait_for(ws.recv(decode=False), 0.5)
                    except TimeoutError:
                        continue
                    head = HEADER.match(data)
                    if head:
                        await ws.send(b"%s %s" % head.groups(), text=True)
                    self.times.append(time.monotonic())
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"


def kiosk_token(d: Deployment, pbx_id: int) -> str:
    return d.django(
        "from monitor.web_models import KioskLink\n"
        f"link = KioskLink(name='Slow TV', pbx_id={pbx_id})\n"
        "token = link.issue()\n"
        "link.save()\n"
        "print(token)\n"
    ).split()[-1]


def test_sockets_that_never_read_keep_the_web_servers_memory_flat(healthy: Deployment):
    d = healthy
    with SimThread(
        extensions=1000, queues=20, members_per_queue=10, seed=11, time_scale=0.05
    ) as sim:
        pbx_id = d.add_pbx("Busy floor", sim.port)
        web = d.start_web("daphne-slow")
        try:
            run_silent_sockets(d, sim, web, pbx_id)
        finally:
            d.django(f"from monitor.models import Pbx\nPbx.objects.filter(pk={pbx_id}).delete()")
            web.stop()
    d.wait_healthy(60)


def run_silent_sockets(d: Deployment, sim: SimThread, web: Web, pbx_id: int) -> None:
    from monitor.sim.scenario import Scenario, ScenarioConfig

    def mirrored() -> bool:
        return any(p["name"] == "Busy floor" and p["ok"] for p in web.health()[1]["pbxes"])

    wait_for(mirrored, 60, "the busy PBX to be mirrored")
    token = kiosk_token(d, pbx_id)
    path = f"/ws/kiosk/{token}/"
    config = ScenarioConfig(call_rate=25 * 0.05, pause_rate=0.5)
    scenario = sim.call(lambda: Scenario(sim.sim.pbx, seed=3, config=config))
    sim.call(scenario.start)
    reader = Reader(f"ws://127.0.0.1:{web.port}{path}", web.url)
    reader.start()
    silent = [silent_socket(web, path) for _ in range(SILENT)]
    try:
        time.sleep(10)  # the sockets' first full buffers
        start, baseline, peak = time.monotonic(), rss(web.pid), 0
        last_ping, pinger_closed = 0.0, False
        while time.monotonic() - start < SECONDS:
            if not pinger_closed and time.monotonic() - last_ping > 5:
                try:
                    silent[0].sendall(ping_frame())  # "still here", while reading nothing
                except ConnectionError:
                    pinger_closed = True  # the server gave up on it: what it should do
                last_ping = time.monotonic()
            peak = max(peak, rss(web.pid))
            time.sleep(1)
        growth = peak - baseline
        mb = 2**20
        print(f"\ndaphne RSS {baseline / mb:.1f} MB, peak {peak / mb:.1f} MB in {SECONDS:g} s")
        assert growth <= GROWTH_BOUND, f"grew by {growth / 2**20:.1f} MB"
        assert not reader.error, reader.error
        recent = [t for t in reader.times if t > time.monotonic() - 20]
        assert len(recent) >= 10, "the reading socket stopped getting updates"
    finally:
        sim.call(scenario.stop)
        reader.stop.set()
        reader.join(10)
    # The silent ones were given up on (closed: a page would reload).
    assert pinger_closed or closed_by_server(silent[0])
    assert all(closed_by_server(s) for s in silent[1:])
    for s in silent:
        s.close()
