"""The whole chain in one process: PBX simulator -> AMI worker -> mirror -> ``publish`` ->
WebSocket; and a supervisor action back through the worker's own session."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from fcmdash.asgi import application
from monitor import actions, broadcast
from monitor.models import Endpoint, Pbx, QueueMember

server = pytest.importorskip("monitor.sim.server")
worker_module = pytest.importorskip("monitor.worker")

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_until(communicator, needle: str, timeout: float = 10.0) -> str:
    async def loop() -> str:
        while True:
            text = await communicator.receive_from(timeout=timeout)
            if needle in text:
                return text

    return await asyncio.wait_for(loop(), timeout)


async def test_worker_mirrors_publishes_and_runs_actions(alice):
    from tests.web.test_consumers import session_headers

    async with server.PbxSimulator(auth_fail_delay=0.05, time_scale=0.01) as sim:
        pbx = Pbx(name="Sim", host="127.0.0.1", port=sim.port, username="wallboard1")
        pbx.set_secret("wb1pass9")
        await pbx.asave()
        config = await sync_to_async(pbx.ami_config)()
        worker = worker_module.PbxWorker(
            pbx.pk, config, flush_interval=0.05, publish=broadcast.publish
        )
        headers = await sync_to_async(session_headers)(alice)
        communicator = WebsocketCommunicator(
            application, f"/ws/live/?pbx={pbx.pk}", headers=headers
        )
        assert (await communicator.connect())[0]
        task = asyncio.create_task(worker.run())
        try:
            # The first flush after the resync is a full one: every tile of the PBX.
            html = await receive_until(communicator, f'data-full-pbx="{pbx.pk}"')
            endpoint = await Endpoint.objects.aget(pbx=pbx, resource="1001")
            assert f'id="endpoint-{endpoint.pk}"' in html and "Call&#8230;" in html
            result = await actions.request(
                pbx.pk,
                "pause",
                {"interface": "PJSIP/1003", "queue": "6500", "reason": "coffee"},
                user=alice,
            )
            assert result == actions.Result(True, "Interface paused successfully")
            member = await QueueMember.objects.aget(
                pbx=pbx, queue__name="6500", interface="PJSIP/1003"
            )
            html = await receive_until(communicator, f'id="member-{member.pk}"')
            assert "Paused: coffee" in html
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await communicator.disconnect()
