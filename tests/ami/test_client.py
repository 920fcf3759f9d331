"""The asyncio AMI client against the simulator over real TCP and TLS sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from pathlib import Path

import pytest
import pytest_asyncio

from monitor.ami.client import (
    AmiClient,
    AmiConnection,
    Backoff,
    Connected,
    Disconnected,
    EventQueue,
    Overflow,
)
from monitor.ami.config import AmiConfig, parse_ami_url
from monitor.ami.errors import (
    ActionRejected,
    ActionTimeout,
    AmiConnectionError,
    AuthenticationFailed,
    ConnectionLost,
    NotAmiServer,
    PermissionDenied,
    TlsError,
    UnknownAction,
)
from monitor.ami.packet import Packet
from monitor.ami.protocol import Action
from monitor.sim.server import PbxSimulator
from monitor.sim.tls import self_signed


@pytest_asyncio.fixture
async def sim():
    async with PbxSimulator(auth_fail_delay=0.05, time_scale=0.01, tls_port=0) as s:
        yield s


def config(sim: PbxSimulator, user: str = "admin123", secret: str = "admin123", **kw) -> AmiConfig:
    kw.setdefault("action_timeout", 5.0)
    kw.setdefault("list_quiet_gap", 0.3)
    kw.setdefault("port", sim.port)
    return AmiConfig(host="127.0.0.1", username=user, secret=secret, **kw)


def tls_config(sim: PbxSimulator, **kw) -> AmiConfig:
    return config(sim, port=sim.tls_port, **kw)


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# -- login ------------------------------------------------------------------------------
async def test_login_reads_banner_version(sim):
    conn = await AmiConnection.open(config(sim))
    try:
        assert conn.banner.text == "Asterisk Call Manager/11.0.0"
        assert conn.banner.version == "11.0.0"
        pong = await conn.send(Action("Ping"))
        assert pong.response.get("Ping") == "Pong"
    finally:
        await conn.close()


async def test_fcm630a_banner_is_accepted():
    async with PbxSimulator(dialect="fcm630a", auth_fail_delay=0.05) as sim:
        conn = await AmiConnection.open(config(sim))
        assert conn.banner.version == "5.0.0"
        await conn.close()


async def test_bad_secret_is_a_clear_authentication_error_without_the_secret(sim):
    with pytest.raises(AuthenticationFailed) as info:
        await AmiConnection.open(config(sim, secret="wrong-Secret-42"))
    text = str(info.value)
    assert "Authentication failed" in text
    assert "Permitted IP" in text
    assert "wrong-Secret-42" not in text


async def test_md5_challenge_login(sim):
    conn = await AmiConnection.open(config(sim, user="wallboard1", secret="wb1pass9", auth="md5"))
    try:
        assert (await conn.send(Action("Ping"))).ok
    finally:
        await conn.close()


async def test_md5_challenge_with_wrong_secret_fails(sim):
    with pytest.raises(AuthenticationFailed):
        await AmiConnection.open(config(sim, user="wallboard1", secret="nope", auth="md5"))


async def test_not_an_ami_server_is_refused_by_its_banner():
    async def greet(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = AmiConfig(host="127.0.0.1", port=port, username="u", secret="s")
        with pytest.raises(NotAmiServer, match="not an AMI server") as refused:
            await AmiConnection.open(cfg)
        assert "SSH" not in str(refused.value)  # what the address sent is never echoed
    finally:
        server.close()


async def test_refused_connection_names_the_address():
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    cfg = AmiConfig(host="127.0.0.1", port=port, username="u", secret="s")
    with pytest.raises(AmiConnectionError, match=f"127.0.0.1:{port} refused"):
        await AmiConnection.open(cfg)


# -- errors are distinct -------------------------------------------------------------------
async def test_permission_denied_says_which_privilege_to_grant(sim):
    conn = await AmiConnection.open(config(sim, user="wallboard1", secret="wb1pass9"))
    try:
        with pytest.raises(PermissionDenied) as info:
            await conn.send(Action("PJSIPShowEndpoints"))
        assert "Special Command" in str(info.value)
        # The same user may list device states: the fallback the worker uses.
        devices = await conn.send(Action("DeviceStateList"))
        assert any(i.get("Device") == "PJSIP/1001" for i in devices.items)
    finally:
        await conn.close()


async def test_unknown_action_is_its_own_error(sim):
    conn = await AmiConnection.open(config(sim))
    try:
        with pytest.raises(UnknownAction, match="does not know"):
            await conn.send(Action("NoSuchAction"))
    finally:
        await conn.close()


async def test_silent_pbx_gives_an_action_timeout(sim):
    conn = await AmiConnection.open(config(sim, keepalive=60))
    try:
        sim.faults.stall(True)
        with pytest.raises(ActionTimeout, match="within 0.3 s"):
            await conn.send(Action("Ping"), timeout=0.3)
    finally:
        sim.faults.stall(False)
        conn.abort(ConnectionLost("test over"))


async def test_header_injection_is_refused_and_the_session_goes_on(sim):
    conn = await AmiConnection.open(config(sim))
    try:
        await conn.send(Action("Ping"))  # everything the login caused has arrived
        before = conn.stats["bytes_in"]
        with pytest.raises(ActionRejected, match="carriage return"):
            await conn.send(Action("Hangup", Channel="PJSIP/1001\r\nAction: Originate"))
        with pytest.raises(ActionRejected, match="not a valid header name"):
            await conn.send(Action("QueuePause", {"Interface: PJSIP/1001\nPaused": "true"}))
        # Nothing reached the PBX: no reply came back for either.
        await asyncio.sleep(0.05)
        assert conn.stats["bytes_in"] == before
        assert (await conn.send(Action("Ping"))).ok
    finally:
        await conn.close()


# -- lists -----------------------------------------------------------------------------------
async def test_list_is_collected_while_an_event_flood_flows(sim):
    events: list[Packet] = []
    conn = await AmiConnection.open(config(sim), on_event=events.append, keep_events=None)
    flood_pairs = [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "flood")]
    try:

        async def flood() -> None:
            for _ in range(40):
                sim.faults.send_event(flood_pairs, category="user", repeat=200)
                await asyncio.sleep(0)

        flooding = asyncio.create_task(flood())
        replies = await asyncio.gather(*(conn.send(Action("QueueStatus")) for _ in range(5)))
        eps = await conn.send(Action("PJSIPShowEndpoints"))
        await flooding
        truth = sim.snapshot()
        members = sum(len(q["members"]) for q in truth["queues"].values())
        for reply in replies:
            names = [i.get("Event") for i in reply.items]
            assert names.count("QueueParams") == len(truth["queues"])
            assert names.count("QueueMember") == members
            assert reply.complete is not None
            assert reply.complete.get("ListItems") == str(len(reply.items))
        assert {i.get("ObjectName") for i in eps.items} == set(truth["endpoints"])
        await until(lambda: sum(e.get("UserEvent") == "flood" for e in events) == 8000)
        assert not any(e.action_id for e in events if e.get("UserEvent") == "flood")
    finally:
        await conn.close()


async def test_fcm630a_queues_list_without_end_marker_does_not_hang():
    async with PbxSimulator(dialect="fcm630a", auth_fail_delay=0.05) as sim:
        conn = await AmiConnection.open(config(sim, list_quiet_gap=0.2))
        try:
            started = time.monotonic()
            reply = await conn.send(Action("Queues"), timeout=5)
            assert time.monotonic() - started < 2
            assert reply.truncated
            kinds = {i.get("Event") for i in reply.items}
            assert kinds == {"QueueStatus", "QueueMemberStatus"}
            # Pipelined with a Ping, the Pong closes the list at once.
            started = time.monotonic()
            queues, pong = await asyncio.gather(
                conn.send(Action("Queues")), conn.send(Action("Ping"))
            )
            assert time.monotonic() - started < 0.2
            assert pong.ok and len(queues.items) == len(reply.items)
        finally:
            await conn.close()


async def test_list_missing_its_complete_event_ends_after_a_quiet_gap(sim):
    conn = await AmiConnection.open(config(sim, list_quiet_gap=0.2))
    try:
        sim.faults.truncate_next_list("DeviceStateList")
        reply = await conn.send(Action("DeviceStateList"), timeout=5)
        assert reply.truncated and reply.items
        assert (await conn.send(Action("DeviceStateList"))).complete is not None
    finally:
        await conn.close()


# -- keepalive and dead peers ------------------------------------------------------------------
async def test_half_open_peer_is_noticed_within_two_keepalive_periods(sim):
    conn = await AmiConnection.open(config(sim, keepalive=0.3))
    sim.faults.stall(True)
    started = time.monotonic()
    error = await asyncio.wait_for(conn.wait_closed(), 2.0)
    elapsed = time.monotonic() - started
    sim.faults.stall(False)
    assert isinstance(error, ConnectionLost)
    assert "no Pong" in str(error)
    assert elapsed <= 2 * 0.3 + 0.3


async def test_close_logs_off(sim):
    conn = await AmiConnection.open(config(sim))
    await until(lambda: len(list(sim.authenticated_sessions)) == 1)
    await conn.close()
    await until(lambda: not sim.sessions)
    assert not conn.is_open


# -- the reconnecting client ---------------------------------------------------------------
async def next_of(client: AmiClient, kind: type, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        item = await asyncio.wait_for(client.events.get(), deadline - time.monotonic())
        if isinstance(item, kind):
            return item


async def test_client_reconnects_after_a_drop(sim):
    client = AmiClient(config(sim), backoff=Backoff(base=0.05, cap=0.2))
    runner = asyncio.create_task(client.run())
    try:
        await next_of(client, Connected)
        sim.faults.drop_all(rst=True)
        down = await next_of(client, Disconnected)
        assert "lost" in down.reason or "closed" in down.reason
        await next_of(client, Connected)
        assert (await client.send(Action("Ping"))).ok
        assert client.reconnects == 1
    finally:
        await client.stop()
        await runner


async def test_client_reconnects_after_a_pbx_restart(sim):
    client = AmiClient(config(sim), backoff=Backoff(base=0.05, cap=0.2))
    runner = asyncio.create_task(client.run())
    try:
        await next_of(client, Connected)
        restarting = asyncio.create_task(sim.faults.restart(down_for=0.3))
        shutdown = await next_of(client, Packet)
        while shutdown.name != "Shutdown":
            shutdown = await next_of(client, Packet)
        await next_of(client, Disconnected)
        await restarting
        await next_of(client, Connected)
        booted = await next_of(client, Packet)
        assert booted.name == "FullyBooted"
    finally:
        await client.stop()
        await runner


async def test_events_during_login_follow_the_connected_marker(sim):
    client = AmiClient(config(sim), backoff=Backoff(base=0.05, cap=0.2))
    runner = asyncio.create_task(client.run())
    try:
        first = await asyncio.wait_for(client.events.get(), 5)
        second = await asyncio.wait_for(client.events.get(), 5)
        assert isinstance(first, Connected)
        assert isinstance(second, Packet) and second.name == "FullyBooted"
    finally:
        await client.stop()
        await runner


def test_backoff_never_hammers_after_repeated_login_failures():
    backoff = Backoff(base=0.5, cap=30.0, auth_floor=30.0)
    fail = AuthenticationFailed("x")
    delays = [backoff.next_delay(fail) for _ in range(6)]
    assert 5.0 <= delays[0] < 30.0
    assert all(d >= 30.0 for d in delays[1:])
    backoff.reset()
    network = [backoff.next_delay(ConnectionLost("x")) for _ in range(10)]
    assert network[0] < 1.0
    assert max(network) <= 30.0 * 1.25
    assert network[-1] >= 30.0 * 0.75


async def test_failing_logins_are_retried_slowly(sim):
    sim.faults.fail_logins(True)
    client = AmiClient(config(sim), backoff=Backoff(base=0.05, cap=0.2, auth_floor=30.0))
    runner = asyncio.create_task(client.run())
    try:
        down = await next_of(client, Disconnected)
        assert isinstance(down.error, AuthenticationFailed)
        await asyncio.sleep(0.5)
        assert client.backoff.auth_failures == 1  # the next attempt waits at least 5 s
    finally:
        await client.stop()
        await runner


# -- a slow consumer never stalls the reader -------------------------------------------------
async def test_overflow_is_reported_and_the_reader_keeps_reading(sim):
    client = AmiClient(config(sim), queue_size=500, keep_events=None)
    runner = asyncio.create_task(client.run())
    try:
        conn = await client.wait_connected(5)
        pairs = [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "flood")]
        sim.faults.send_event(pairs, category="user", repeat=3000)
        # Nobody consumes the queue, yet the Pong comes back at once.
        started = time.monotonic()
        assert (await conn.send(Action("Ping"))).ok
        assert time.monotonic() - started < 1.0
        await until(lambda: client.events.overflows >= 1)
        items = client.events.drain()
        assert len(items) <= 500
        assert any(isinstance(i, Overflow) for i in items)
        assert client.events.dropped >= 2500
    finally:
        await client.stop()
        await runner


def test_event_queue_overflow_keeps_session_markers():
    q = EventQueue(maxsize=3)
    q.put_nowait(Connected("b", "1"))
    for i in range(5):
        q.put_nowait(Packet({"event": "X", "n": str(i)}))
    items = q.drain()
    assert isinstance(items[0], Connected)
    assert any(isinstance(i, Overflow) for i in items)
    assert len(items) <= 3


# -- TLS ---------------------------------------------------------------------------------------
async def test_tls_with_verified_certificate(sim):
    certfile, _ = self_signed()
    conn = await AmiConnection.open(tls_config(sim, tls="verify", ca_file=certfile))
    try:
        assert conn.banner.is_ami
    finally:
        await conn.close()


async def test_tls_unverifiable_certificate_is_refused_with_a_reason(sim):
    with pytest.raises(TlsError, match="does not verify"):
        await AmiConnection.open(tls_config(sim, tls="verify"))


async def test_tls_pinned_fingerprint(sim):
    certfile, _ = self_signed()
    pem = Path(certfile).read_text()
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    conn = await AmiConnection.open(tls_config(sim, tls="pin", fingerprint=digest))
    await conn.close()
    with pytest.raises(TlsError, match="not the pinned one"):
        await AmiConnection.open(tls_config(sim, tls="pin", fingerprint="00" * 32))


async def test_tls_insecure_mode_connects_to_a_self_signed_pbx(sim):
    conn = await AmiConnection.open(tls_config(sim, tls="insecure"))
    await conn.close()


def test_ami_urls():
    cfg = parse_ami_url("amis://wallboard1:wb1%40pass@127.0.0.1?fingerprint=ab:cd")
    assert (cfg.port, cfg.tls, cfg.secret) == (5039, "pin", "wb1@pass")
    assert "wb1@pass" not in repr(cfg)
    assert parse_ami_url("ami://u:s@127.0.0.1").port == 7777
    with pytest.raises(ValueError):
        parse_ami_url("http://u:s@127.0.0.1")
    with pytest.raises(ValueError):
        parse_ami_url("ami://127.0.0.1:7777")
