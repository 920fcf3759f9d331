"""Session behaviour on real sockets: logins, permissions, event masks, framing limits,
timeouts (authtimeout, write timeout) and TLS."""

from __future__ import annotations

import asyncio
import hashlib
import socket

from monitor.sim.server import PbxSimulator

from .amitest import RawClient


async def test_banner_then_plain_login_with_fullybooted(sim):
    c = await RawClient.connect(sim.port)
    reply = await c.login()
    assert c.banner is not None and c.banner.text == "Asterisk Call Manager/11.0.0"
    assert (reply.get("Response"), reply.get("Message")) == ("Success", "Authentication accepted")
    booted = await c.wait_event("FullyBooted")
    assert booted[0].get("Status") == "Fully Booted"
    await c.close()


async def test_login_with_events_off_gets_no_fullybooted_and_no_events(sim):
    c = await RawClient.connect(sim.port)
    await c.login(events="off")
    sim.pbx.reload("app_queue")
    await c.action("Ping")
    assert c.events() == []
    await c.close()


async def test_wrong_secret_and_unknown_user_fail_after_the_delay_and_close(sim):
    for user, secret in (("admin123", "nope"), ("nosuchuser", "whatever")):
        c = await RawClient.connect(sim.port)
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = await c.login(user, secret)
        assert (reply.get("Response"), reply.get("Message")) == ("Error", "Authentication failed")
        assert loop.time() - start >= sim.auth_fail_delay
        assert await c.closed()


async def test_md5_challenge_login(sim):
    c = await RawClient.connect(sim.port)
    ch = (await c.action("Challenge", ("AuthType", "MD5")))[0].get("Challenge")
    assert ch and ch.isdigit()
    key = hashlib.md5((ch + "wb1pass9").encode()).hexdigest()
    reply = await c.action("Login", ("AuthType", "MD5"), ("Username", "wallboard1"), ("Key", key))
    assert reply[0].get("Message") == "Authentication accepted"
    await c.close()


async def test_actions_before_login_are_denied_but_missing_action_is_reported(sim):
    c = await RawClient.connect(sim.port)
    assert (await c.action("CoreStatus"))[0].get("Message") == "Permission denied"
    assert (await c.action("NoSuchThing"))[0].get("Message") == "Permission denied"
    await c.send("ActionID: x1\r\nFoo: bar\r\n\r\n")
    await c.wait_for(lambda: any(p.get("ActionID") == "x1" for p in c.packets))
    assert [p.get("Message") for p in c.packets if p.get("ActionID") == "x1"] == [
        "Missing action in request"
    ]
    await c.close()


async def test_write_classes_gate_actions_and_read_classes_gate_events(sim):
    wb = await RawClient.connect(sim.port)
    await wb.login("wallboard1", "wb1pass9")
    admin = await RawClient.connect(sim.port)
    await admin.login()
    assert (await wb.action("PJSIPShowEndpoints"))[0].get("Message") == "Permission denied"
    assert (await wb.action("Reload"))[0].get("Message") == "Permission denied"
    assert (await wb.action("DeviceStateList"))[-1].get("EventList") == "Complete"
    await wb.action("Setvar", ("Variable", "X"), ("Value", "1"))
    await admin.wait_event("VarSet")  # dialplan class: admin reads it...
    await wb.action("Ping")
    assert wb.events("VarSet") == []  # ...wallboard1 does not
    await wb.close()
    await admin.close()


async def test_events_action_masks_and_unmasks(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    assert (await c.action("Events", ("EventMask", "off")))[0].get("Events") == "Off"
    sim.pbx.reload()
    await c.action("Ping")
    assert c.events("Reload") == []
    assert (await c.action("Events", ("EventMask", "system")))[0].get("Events") == "On"
    sim.pbx.reload()
    assert await c.wait_event("Reload")
    bad = await c.action("Events", ("EventMask", ""))
    assert bad[0].get("Message") == "Invalid event mask"
    await c.close()


async def test_line_over_1024_bytes_is_refused_and_the_session_goes_on(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    await c.send("Action: Ping\r\nActionID: big\r\nX-Long: " + "y" * 1100 + "\r\n\r\n")
    await c.wait_for(lambda: any(p.get("ActionID") == "big" for p in c.packets))
    assert [p.get("Message") for p in c.packets if p.get("ActionID") == "big"] == [
        "Failed to parse message: line too long"
    ]
    # exactly 1024 bytes with the CRLF still fits
    line = "X-Fill: " + "z" * (1024 - len("X-Fill: ") - 2)
    got = await c.action("Ping", (line.split(": ")[0], line.split(": ")[1]), action_id="fits")
    assert got[0].get("Ping") == "Pong"
    await c.close()


async def test_more_than_128_lines_is_an_error(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    headers = "".join(f"H{i}: v\r\n" for i in range(130))
    await c.send("Action: Ping\r\nActionID: many\r\n" + headers + "\r\n")
    await c.wait_for(lambda: any(p.get("ActionID") == "many" for p in c.packets))
    msgs = [p.get("Message") for p in c.packets if p.get("ActionID") == "many"]
    assert msgs == ["Too many lines in message or allocation failure"]
    await c.close()


async def test_authtimeout_closes_a_silent_connection():
    async with PbxSimulator(authtimeout=0.1) as sim:
        c = await RawClient.connect(sim.port)
        assert await c.closed(timeout=2.0)
        assert c.banner is not None and c.packets == []


async def test_login_from_an_address_the_user_does_not_permit_fails(sim):
    sim.add_user("remote01", "secret99", permit=["192.0.2.0/24"])
    c = await RawClient.connect(sim.port)
    reply = await c.login("remote01", "secret99")
    assert reply.get("Message") == "Authentication failed"
    assert await c.closed()


async def test_ipv6_loopback_is_permitted_by_default():
    async with PbxSimulator(host=["127.0.0.1", "::1"]) as sim:
        c = await RawClient.connect(sim.port, host="::1")
        assert (await c.login()).get("Message") == "Authentication accepted"
        await c.close()


async def test_client_that_stops_reading_is_dropped_after_the_write_timeout():
    async with PbxSimulator(write_timeout=0.1, write_buffer_high=16 * 1024) as sim:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", sim.port))
        await loop.sock_sendall(
            sock, b"Action: Login\r\nUsername: admin123\r\nSecret: admin123\r\n\r\n"
        )
        await sim.wait_sessions(1)
        session = sim.authenticated_sessions[0]
        # The client reads nothing from now on; the PBX keeps producing events until the
        # kernel's buffers and the transport's high-water mark are full.
        event = [("Event", "Flood"), ("Privilege", "system,all"), ("Data", "x" * 1000)]
        for i in range(50_000):
            sim.faults.send_event(event)
            if i % 100 == 0:
                await asyncio.sleep(0)
            if session.closed:
                break
        for _ in range(100):
            if session.closed:
                break
            await asyncio.sleep(0.01)
        assert session.closed
        assert session.disconnect_reason.startswith("write timeout")
        sock.close()


async def test_reader_that_keeps_up_is_not_dropped():
    async with PbxSimulator(write_timeout=0.1, write_buffer_high=16 * 1024) as sim:
        c = await RawClient.connect(sim.port)
        await c.login()
        for _ in range(400):
            sim.faults.send_event(
                [("Event", "Flood"), ("Privilege", "system,all"), ("Data", "x" * 1000)]
            )
            await asyncio.sleep(0)
        await c.wait_event("Flood", count=400, timeout=5)
        assert not c.eof
        await c.close()


async def test_tls_with_a_generated_certificate():
    async with PbxSimulator(tls_port=0) as sim:
        assert sim.tls_port and sim.tls_port != sim.port
        c = await RawClient.connect(sim.tls_port, tls=True)
        assert (await c.login()).get("Message") == "Authentication accepted"
        ok = await c.action("Ping")
        assert ok[0].get("Ping") == "Pong"
        peer = c.writer.get_extra_info("ssl_object")
        assert peer is not None and peer.version().startswith("TLS")
        await c.close()


async def test_logoff_says_goodbye_and_closes(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    bye = await c.action("Logoff")
    assert (bye[0].get("Response"), bye[0].get("Message")) == (
        "Goodbye",
        "Thanks for all the fish.",
    )
    assert await c.closed()


async def test_second_login_on_a_session_is_acknowledged(sim):
    c = await RawClient.connect(sim.port)
    await c.login()
    again = await c.login()
    assert (again.get("Response"), again.get("Message")) == ("Success", "Already authenticated")
    await c.close()
