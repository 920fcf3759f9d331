"""The worker side of actions: ``execute`` against the PBX simulator over TCP, and the whole
trip web -> channel layer -> worker -> PBX -> reply channel.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from monitor import actions
from monitor.ami.client import AmiConnection
from monitor.ami.config import AmiConfig

server = pytest.importorskip("monitor.sim.server")
users = pytest.importorskip("monitor.sim.users")


class RecordingClient:
    """Stands in for AmiClient where nothing may reach a PBX."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    async def send(self, action, **kwargs):  # pragma: no cover - must not be called
        self.sent.append(action)
        raise AssertionError("nothing may be sent")


@pytest.fixture
async def sim():
    restricted = users.AmiUser.make("viewonly1", "viewonly9", "all", "call,agent,reporting")
    everyone = [*users.default_users().values(), restricted]
    async with server.PbxSimulator(auth_fail_delay=0.05, time_scale=0.01, users=everyone) as s:
        yield s


async def connect(sim, username="wallboard1", secret="wb1pass9") -> AmiConnection:
    config = AmiConfig(host="127.0.0.1", port=sim.port, username=username, secret=secret)
    return await AmiConnection.open(config.with_(events=False), keep_events=())


def message(kind: str, **params) -> dict:
    return {"type": "ami.action", "id": "x1", "pbx": 1, "kind": kind, "params": params}


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("hangup", {"channels": ["PJSIP/1001-1\r\nAction: Originate"]}),
        ("hangup", {"channels": ["PJSIP/1001-1", "/.*/"]}),  # Asterisk: every channel matching
        ("hangup", {"channels": "PJSIP/1001-1"}),  # one name, not a list of them
        ("hangup", {"channels": []}),
        ("hangup", {"channels": [f"PJSIP/1001-{i}" for i in range(actions.MAX_CHANNELS + 1)]}),
        ("hangup", {"channel": "PJSIP/1001-1"}),
        ("originate", {"extension": "1001\n", "number": "1002"}),
        ("originate", {"extension": "1001", "number": "1002:"}),
        ("originate", {"extension": "1001", "number": "12", "context": "x\x00y"}),
        ("pause", {"interface": "PJSIP/1001", "queue": "6500", "reason": "a\rb"}),
        ("pause", {"interface": "PJSIP/1001", "queue": "6500", "reason": "r" * 81}),
        ("unpause", {"interface": "PJSIP/1001\r\n", "queue": "6500"}),
        ("reboot", {}),
    ],
)
async def test_execute_refuses_bad_params_before_sending(kind, params):
    client = RecordingClient()
    reply = await actions.execute(client, message(kind, **params))
    assert reply["ok"] is False and reply["message"].startswith("refused: ")
    assert reply["sent"] is False and reply["id"] == "x1" and client.sent == []


async def test_pause_and_unpause_on_the_simulator(sim):
    conn = await connect(sim)
    try:
        paused = await actions.execute(
            conn, message("pause", interface="PJSIP/1001", queue="6500", reason="lunch")
        )
        assert paused["ok"] is True
        assert paused["message"] == "Interface paused successfully"
        unpaused = await actions.execute(
            conn, message("unpause", interface="PJSIP/1001", queue="6500")
        )
        assert unpaused["message"] == "Interface unpaused successfully"
        missing = await actions.execute(
            conn, message("pause", interface="PJSIP/1099", queue="6500")
        )
        assert missing["ok"] is False and missing["message"] == "Interface not found"
    finally:
        await conn.close()


async def test_hangup_of_a_missing_channel_shows_the_pbx_answer(sim):
    conn = await connect(sim)
    try:
        reply = await actions.execute(conn, message("hangup", channels=["PJSIP/1001-0000ffff"]))
        assert reply["ok"] is False and reply["message"] == "No such channel"
    finally:
        await conn.close()


async def test_originate_then_hang_up_the_call(sim):
    conn = await connect(sim)
    try:
        reply = await actions.execute(
            conn,
            message(
                "originate", extension="1001", number="1002", context="from-internal", timeout=30
            ),
        )
        assert reply == {
            "type": "ami.result",
            "id": "x1",
            "ok": True,
            "message": "Originate successfully queued",
            "hint": "",
            "sent": True,
        }
        names = await channels_of(sim, "PJSIP/1001-", "PJSIP/1002-")
        # Both parties named, as the calls page does: the first Hangup ends the call, so the
        # second may find its channel gone already; the call is hung up all the same.
        hung = await actions.execute(conn, message("hangup", channels=names))
        assert hung["ok"] is True and hung["message"] == "Channel Hungup"
        for _ in range(250):
            if not sim.snapshot()["channels"]:
                break
            await asyncio.sleep(0.02)
        assert not sim.snapshot()["channels"]
    finally:
        await conn.close()


async def channels_of(sim, *prefixes: str) -> list[str]:
    """The live channels starting with ``prefixes``, one each, once they all exist (5 s)."""
    for _ in range(250):
        names = [c["name"] for c in sim.snapshot()["channels"].values()]
        found = [next((n for n in names if n.startswith(p)), None) for p in prefixes]
        if all(found):
            return found  # type: ignore[return-value]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no channels {prefixes} on the simulator: {names}")


async def test_permission_denied_names_the_privilege_to_grant(sim):
    conn = await connect(sim, "viewonly1", "viewonly9")
    try:
        reply = await actions.execute(
            conn, message("originate", extension="1001", number="1002", timeout=30)
        )
        assert reply["ok"] is False
        assert reply["message"].lower().startswith("permission denied")
        assert "needs Originate on the FCM630A AMI user" in reply["hint"]
    finally:
        await conn.close()


async def worker_loop(layer, pbx_id: int, conn) -> None:
    """What the AMI worker does with its ``ami.<id>`` group: execute, reply."""
    channel = await layer.new_channel()
    await layer.group_add(f"ami.{pbx_id}", channel)
    while True:
        msg = await layer.receive(channel)
        await layer.send(msg["reply_to"], await actions.execute(conn, msg))


async def test_request_travels_through_the_worker_session(sim, settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    conn = await connect(sim)
    task = asyncio.create_task(worker_loop(layer, 7, conn))
    try:
        await asyncio.sleep(0)
        result = await actions.request(
            7, "pause", {"interface": "PJSIP/1002", "queue": "6500", "reason": ""}, user=None
        )
        assert result == actions.Result(True, "Interface paused successfully")
        logins = list(sim.authenticated_sessions)
        assert len(logins) == 1  # no fresh AMI login per click
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()
        channel_layers.backends.clear()
