"""Values an administrator could save that broke things later (issue 11, item 7): a PBX port
outside 1-65535 (70000 made the worker die with OverflowError at connect) and a click-to-call
context with a line break (every originate was then refused). The admin refuses them with a
clear message; a bad port already in the database leaves only its own PBX down.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async

from monitor.models import Pbx
from monitor.runner import WorkerPool
from monitor.web_models import OriginateSettings
from tests.web.test_admin import admin_client, pbx_form  # noqa: F401 (a fixture)

from .conftest import eventually, make_pbx, mirrored

pytestmark = pytest.mark.django_db(transaction=True)
BAD = "bad input"
PORT_MESSAGE = "A port is a number from 1 to 65535"
CONTEXT_MESSAGE = "A dialplan context is letters, digits"


def saved(response) -> bool:  # noqa: ANN001
    return response.status_code == 302


@pytest.mark.parametrize("port", ["0", "70000", "65536"])
def test_a_port_outside_1_to_65535_is_refused_with_a_clear_message(admin_client, port, record):  # noqa: F811
    response = admin_client.post("/admin/monitor/pbx/add/", pbx_form(port=port))
    assert not saved(response)
    assert PORT_MESSAGE in response.content.decode()
    assert not Pbx.objects.exists()
    record(BAD, "PBX port outside 1-65535 saved in the admin (0, 70000, 65536)", "refused")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ("from-office\r\nAction: Originate", CONTEXT_MESSAGE),
        ("from\noffice", CONTEXT_MESSAGE),
        ("from office", CONTEXT_MESSAGE),
        ("-x", CONTEXT_MESSAGE),
        ("from\x00office", "Null characters are not allowed"),
    ],
    ids=["CRLF and a header", "LF", "space", "leading dash", "NUL"],
)
def test_a_click_to_call_context_the_pbx_would_refuse_is_not_saved(
    admin_client,  # noqa: F811
    context,
    message,
    record,
):
    data = pbx_form(**{"originate-0-context": context})
    response = admin_client.post("/admin/monitor/pbx/add/", data)
    assert not saved(response)
    assert message in response.content.decode()
    assert not OriginateSettings.objects.exists()
    record(BAD, "click-to-call context with CR/LF, NUL or a space saved in the admin", "refused")


@pytest.mark.parametrize("port", ["1", "7777", "65535"])
def test_ports_and_contexts_the_pbx_takes_are_saved(admin_client, port):  # noqa: F811
    data = pbx_form(name=f"Lab {port}", port=port, **{"originate-0-context": "from-office_2.b"})
    assert saved(admin_client.post("/admin/monitor/pbx/add/", data))
    assert Pbx.objects.get(port=int(port)).originate.context == "from-office_2.b"


def last_error(pbx_id: int) -> str:
    return Pbx.objects.get(pk=pbx_id).last_error


@pytest.mark.parametrize("port", [0, 70000])
async def test_a_bad_port_already_in_the_database_stops_only_its_own_pbx(sim, port, record):
    """Saved before the admin checked (or written by hand): the pool marks the row unusable and
    goes on with the others, where it used to crash on connect."""
    good = await make_pbx(sim.port, name="good")
    bad = await make_pbx(port, name="bad")
    pool = WorkerPool(poll=0.2, flush_interval=0.05, publish=None)
    task = asyncio.create_task(pool.run())
    try:
        await eventually(
            lambda: "settings unusable: port must be 1-65535" in last_error(bad),
            what="the reason in the bad row",
        )
        await mirrored(sim, good)
        sim.pbx.calls.phone_call("1005", "1002")  # the good PBX is followed as ever
        await mirrored(sim, good)
        assert bad not in pool.running and not task.done()
        record(BAD, "Pbx row with port 0 or 70000 (one PBX down, the others run)", "refused")
    finally:
        pool.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    assert not await sync_to_async(Pbx.objects.filter(pk=bad, connected=True).exists)()
