"""AMI header injection through everything a person can type, end to end: the page's form ->
the view -> the channel layer -> the worker's AMI session -> the simulator. A CR, LF, NUL or a
``:`` trick must be refused with a clear message and nothing may reach the PBX; the same
request without the trick must reach it (so "nothing sent" is not an accident).

``tests/web/test_actions.py`` checks the views against a stand-in for the worker, and
``tests/web/test_execute.py`` the worker's checks alone; here the whole way is real.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import AsyncClient

from monitor import actions
from monitor.models import Call, Pbx, QueueMember
from monitor.web_models import AuditEntry
from tests.web.conftest import make_user

from .conftest import CANARY_USER, eventually, make_pbx, mirrored, worker_for

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"
HTMX = {"HX-Request": "true"}
TRICKS = {
    "CR": "\r",
    "LF": "\n",
    "NUL": "\x00",
    "CRLF + header": "\r\nAction: Hangup\r\nChannel: PJSIP/1001-00000001",
    "LF + header": "\nAction: Originate",
    "colon": ": Action: Hangup",
}
LINE_TRICKS = "CR, LF, NUL, a header after CRLF or LF"
TRICK_LIST = f"{LINE_TRICKS}, ':'"


@contextlib.asynccontextmanager
async def live_pbx(sim):  # noqa: ANN001
    """A worker for the simulator, serving the pages' actions; a call up and mirrored."""
    pbx_id = await make_pbx(sim.port)
    async with worker_for(pbx_id) as worker:
        answered_call(sim)
        await mirrored(sim, pbx_id)
        await eventually(lambda: Pbx.objects.get(pk=pbx_id).connected)
        yield pbx_id, worker


def answered_call(sim) -> None:  # noqa: ANN001
    """1005 calls 1002, who answers: a call that stays up until someone hangs up."""
    sim.pbx.calls.phone_call("1005", "1002")
    callee = next(c for c in sim.pbx.channels.values() if c.name.startswith("PJSIP/1002-"))
    sim.pbx.calls.answer(callee.name)


async def supervisor() -> AsyncClient:
    user = await sync_to_async(make_user)("alice", "Supervisors")
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def sent_since(spy, mark: int) -> list[str]:  # noqa: ANN001
    """Actions the PBX received since ``mark``, keepalive Pings aside."""
    return [a for a in spy.since(mark) if a != "ping"]


async def attempt(spy, client, path: str, data: dict) -> tuple[int, str, list[str]]:  # noqa: ANN001
    # Refused requests count against the rate limit (10 a minute): start from none.
    await sync_to_async(AuditEntry.objects.all().delete)()
    mark = len(spy.received)
    response = await client.post(path, data, headers=HTMX)
    await asyncio.sleep(0.05)  # anything on its way to the PBX would be there by now
    return response.status_code, response.content.decode(), sent_since(spy, mark)


def clear(text: str) -> bool:
    """The answer says it was refused, and why, in words."""
    words = (
        "line break",
        "NUL",
        "Null characters",
        "not valid",
        "printable",
        "digits",
        "whole number",
        "valid choice",
    )
    return "refused" in text and any(w in text for w in words)


async def test_typed_fields_with_cr_lf_nul_or_colon_tricks_never_reach_the_pbx(sim, spy, record):
    async with live_pbx(sim) as (pbx_id, _):
        client = await supervisor()
        member = await QueueMember.objects.aget(
            pbx_id=pbx_id, queue__name="6500", interface="PJSIP/1001"
        )

        async def call_id() -> str:
            if not any(c.name.startswith("PJSIP/1005-") for c in sim.pbx.channels.values()):
                answered_call(sim)  # a hang-up ended it: another one
            await mirrored(sim, pbx_id)
            return str((await Call.objects.filter(pbx_id=pbx_id).afirst()).pk)

        originate = {"extension": "1001", "number": "1004"}
        # field -> (path, the request without a trick, the field, typed text or a row's id)
        forms = {
            "originate extension": ("/actions/originate/", originate, "extension", True),
            "originate number": ("/actions/originate/", originate, "number", True),
            "pause reason": (
                "/actions/pause/",
                {"member": member.pk, "paused": "1", "reason": "lunch"},
                "reason",
                True,
            ),
            "originate PBX choice": (
                "/actions/originate/",
                {**originate, "pbx_choice": pbx_id},
                "pbx_choice",
                False,
            ),
            "pause member id": (
                "/actions/pause/",
                {"member": member.pk, "paused": "1"},
                "member",
                False,
            ),
            "hang-up call id": ("/actions/hangup/", None, "call", False),
        }
        for field_name, (path, good, key, typed) in forms.items():
            for trick_name, trick in TRICKS.items():
                if field_name == "pause reason" and trick_name == "colon":
                    continue  # free text: a colon is text there (checked below)
                good = good if path != "/actions/hangup/" else {"call": await call_id()}
                data = {**good, key: f"{good[key]}{trick}"}
                mark = len(spy.received)
                status, text, sent = await attempt(spy, client, path, data)
                if typed:
                    assert status == 400, (field_name, trick_name, status, text)
                    assert clear(text), (field_name, trick_name, text)
                    assert sent == [], (field_name, trick_name, sent)
                else:
                    # An id selects a row ("5\r" is 5 to int()); the row's own values go out,
                    # never the typed text: refused, or exactly the clean action.
                    assert status in (200, 400), (field_name, trick_name, status, text)
                    assert status == 200 or clear(text), (field_name, trick_name, text)
                    await asyncio.sleep(0.2)
                    for r in spy.received[mark:]:
                        assert r.packet.get_all("Action") == [r.packet.get("Action")]
                        assert not any(
                            trick.strip() and trick.strip() in v for _, v in r.packet.items()
                        ), r.packet
                record(
                    SECURITY,
                    f"AMI header injection in the {field_name} field "
                    f"({LINE_TRICKS if field_name == 'pause reason' else TRICK_LIST})",
                    "refused",
                )
            # Without the trick the same request reaches the PBX: the path is live.
            good = good if path != "/actions/hangup/" else {"call": await call_id()}
            mark = len(spy.received)
            status, text, _ = await attempt(spy, client, path, good)
            await eventually(lambda m=mark: bool(sent_since(spy, m)), what=f"{field_name} sent")
            assert status == 200, (field_name, text)

        # A colon in a reason stays inside the one Reason header: no header is injected.
        mark = len(spy.received)
        data = {"member": member.pk, "paused": "1", "reason": "lunch: Action: Hangup"}
        status, _, _ = await attempt(spy, client, "/actions/pause/", data)
        await eventually(lambda: bool(sent_since(spy, mark)), what="the pause")
        [pause] = [r.packet for r in spy.received[mark:] if r.action == "queuepause"]
        assert status == 200 and pause.get("Reason") == "lunch: Action: Hangup"
        assert pause.get_all("Action") == ["QueuePause"] and "hangup" not in sent_since(spy, mark)
        record(
            SECURITY,
            "AMI header injection: ': Action: Hangup' in a pause reason (stays "
            "text in its one header)",
            "refused",
        )


async def test_the_worker_refuses_injection_that_comes_over_the_channel_layer(sim, spy, record):
    """The channel layer is not a trust boundary we hold alone: a message put straight on
    ``ami.<pbx>`` (the pages' API to the worker) is checked again before anything is sent."""
    async with live_pbx(sim) as (pbx_id, _):
        layer = get_channel_layer()
        bad = [
            ("hangup", {"channels": ["PJSIP/1002-00000002\r\nAction: Originate"]}),
            ("hangup", {"channels": ["PJSIP/1002-00000002", "/.*/"]}),
            ("originate", {"extension": "1001\n", "number": "1004"}),
            ("originate", {"extension": "1001", "number": "1004", "context": "x\x00y"}),
            ("originate", {"extension": "1001", "number": "1004:Action"}),
            ("pause", {"interface": "PJSIP/1001", "queue": "6500", "reason": "a\r\nb"}),
            ("unpause", {"interface": "PJSIP/1001\r\nAction: Hangup", "queue": "6500"}),
        ]
        for kind, params in bad:
            mark = len(spy.received)
            reply_to = await layer.new_channel()
            await layer.group_send(
                f"ami.{pbx_id}",
                {
                    "type": "ami.action",
                    "id": "x",
                    "pbx": pbx_id,
                    "kind": kind,
                    "params": params,
                    "reply_to": reply_to,
                    "user": "mallory",
                },
            )
            reply = await asyncio.wait_for(layer.receive(reply_to), 5)
            assert reply["ok"] is False and reply["message"].startswith("refused: "), reply
            assert reply["sent"] is False and sent_since(spy, mark) == []
            record(
                SECURITY,
                "AMI header injection in a message put straight on the channel layer (the "
                "worker checks again)",
                "refused",
            )
        result = await actions.request(
            pbx_id, "pause", {"interface": "PJSIP/1003", "queue": "6500"}, user=None
        )
        assert result.ok  # the worker still serves real ones


async def test_the_api_takes_nothing_to_the_pbx(sim, spy, record):
    async with live_pbx(sim) as (pbx_id, _):
        token_client = AsyncClient()
        mark = len(spy.received)
        for trick in TRICKS.values():
            headers = {"Authorization": f"Bearer x{trick}"}
            response = await token_client.get(
                f"/api/v1/state?pbx=1{trick}&queue={trick}", headers=headers
            )
            assert response.status_code == 401
            for method in ("post", "put", "delete"):
                response = await getattr(token_client, method)("/api/v1/state", headers=headers)
                assert response.status_code in (401, 403, 405)
            record(
                SECURITY, f"AMI header injection through the state API ({TRICK_LIST})", "refused"
            )
        assert sent_since(spy, mark) == []


async def test_an_ami_user_or_secret_with_a_line_break_is_refused_and_never_sent(sim, spy, record):
    """Typed into the admin: the form refuses it; a row that holds it anyway (an import, an old
    version) makes the worker say why, and no Login reaches the PBX."""
    from monitor.admin import PbxForm

    for trick_name, trick in TRICKS.items():
        if trick_name == "colon":
            continue  # a colon is a legal character of a user name and of a secret
        for field_name in ("username", "secret", "host"):
            data = {
                "name": "x",
                "host": "127.0.0.1",
                "port": sim.port,
                "tls": "off",
                "username": CANARY_USER,
                "secret": "s",
                "auth": "plain",
                "keepalive": 20,
                "enabled": True,
            }
            data[field_name] += trick
            form = PbxForm(data)
            if await sync_to_async(form.is_valid)():
                # Only a trailing CR or LF, which the form strips: what is kept is clean.
                assert form.cleaned_data[field_name].isprintable(), (field_name, trick_name)
                assert trick.strip() == "", (field_name, trick_name)
            else:
                errors = str(form.errors[field_name])
                assert "line break" in errors or "Null characters" in errors, errors
            record(
                SECURITY,
                f"AMI header injection in the admin's AMI user, secret and address ({LINE_TRICKS})",
                "refused",
            )
    mark = len(spy.received)
    pbx_id = await make_pbx(sim.port, username=f"{CANARY_USER}\r\nAction: Originate")
    async with worker_for(pbx_id):
        await eventually(
            lambda: "not attempted" in Pbx.objects.get(pk=pbx_id).last_error,
            what="the reason in the row",
        )
        await asyncio.sleep(0.3)
    assert spy.since(mark) == []  # not even a Login
    record(SECURITY, "AMI user with a line break stored anyway: worker sends nothing", "refused")
