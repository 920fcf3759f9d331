"""TLS to the PBX, through the Pbx row and the worker (not only the client): a certificate that
does not verify is refused, with a reason in the row, the admin and the banner, and no Login is
ever sent; the admin's choice to pin the certificate or to allow an unverified one is honoured;
a pin without a usable fingerprint is refused by the form, and a row holding one anyway stops
only its own PBX."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from pathlib import Path

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from monitor.admin import PbxForm
from monitor.models import Pbx
from monitor.runner import WorkerPool
from monitor.sim.tls import self_signed

from .conftest import (
    CANARY_SECRET,
    CANARY_USER,
    eventually,
    make_pbx,
    mirrored,
    new_sim,
    worker_for,
)
from .test_pbx_faults import pages_for

pytestmark = pytest.mark.django_db(transaction=True)
SECURITY = "security"


@pytest_asyncio.fixture
async def tls_sim():
    async with new_sim(tls_port=0) as s:
        yield s


def certificate() -> tuple[str, str]:
    """The simulator's certificate as PEM, and its SHA-256 fingerprint with colons."""
    pem = Path(self_signed()[0]).read_text()
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
    return pem, ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def reason(pbx_id: int) -> str:
    return Pbx.objects.get(pk=pbx_id).last_error


async def test_a_certificate_that_does_not_verify_is_refused_with_a_reason(tls_sim, spy, record):
    pem, _ = certificate()
    cases = {
        "PBX certificate not signed by a trusted CA (verify)": ({}, "does not verify"),
        "PBX certificate for another name (verify, CA given)": (
            {"tls_ca": pem, "tls_server_name": "pbx.example.com"},
            "does not verify",
        ),
        "PBX certificate other than the pinned one": (
            {"tls": "pin", "tls_fingerprint": "ab" * 32},
            "not the pinned one",
        ),
    }
    for what, (fields, words) in cases.items():
        fields = {"tls": "verify", **fields}
        pbx_id = await make_pbx(tls_sim.tls_port, **fields)
        async with worker_for(pbx_id):
            await eventually(lambda p=pbx_id, w=words: w in reason(p), what=what)
            admin_page, wallboard = await asyncio.to_thread(pages_for, pbx_id)
            text = await asyncio.to_thread(reason, pbx_id)
        assert "pin its fingerprint, or allow" in text or "pinned" in text, text
        assert words in admin_page and words in wallboard
        assert CANARY_SECRET not in admin_page + wallboard + text
        assert spy.logins() == [], what  # the secret never went to that peer
        record(SECURITY, what, "refused")


async def test_the_admins_choice_to_pin_or_to_allow_is_honoured(tls_sim, spy):
    pem, fingerprint = certificate()
    for fields in (
        {"tls": "verify", "tls_ca": pem},
        {"tls": "pin", "tls_fingerprint": fingerprint},
        {"tls": "pin", "tls_fingerprint": "sha256:" + fingerprint.replace(":", "").upper()},
        {"tls": "insecure"},
    ):
        pbx_id = await make_pbx(tls_sim.tls_port, **fields)
        async with worker_for(pbx_id):
            await mirrored(tls_sim, pbx_id)
            assert (await asyncio.to_thread(Pbx.objects.get, pk=pbx_id)).connected, fields


def form(**fields: object) -> PbxForm:
    data = {
        "name": "x",
        "host": "127.0.0.1",
        "port": 5039,
        "tls": "pin",
        "username": CANARY_USER,
        "secret": "s",
        "auth": "plain",
        "keepalive": 20,
        "enabled": True,
        **fields,
    }
    return PbxForm(data)


@pytest.mark.parametrize("fingerprint", ["", "xyz", "abc", "ab" * 20, "ab" * 33])
def test_pinning_without_a_usable_fingerprint_is_refused_by_the_form(fingerprint, record, db):
    f = form(tls_fingerprint=fingerprint)
    assert not f.is_valid()
    assert "tls_fingerprint" in f.errors or "SHA-256" in str(f.errors), f.errors
    record(SECURITY, "pinning without a usable SHA-256 fingerprint (admin form)", "refused")


def test_a_right_fingerprint_passes_the_form(db):
    assert form(tls_fingerprint=certificate()[1]).is_valid()


async def test_a_row_with_an_unusable_pin_stops_only_its_own_pbx(sim, spy, record, caplog):
    good = await make_pbx(sim.port, name="good")
    bad = await make_pbx(sim.port, name="bad", tls="pin", tls_fingerprint="not hex at all!")
    pool = WorkerPool(poll=0.2, flush_interval=0.05, publish=None)
    task = asyncio.create_task(pool.run())
    try:
        await eventually(lambda: "fingerprint" in reason(bad), what="the reason in the bad row")
        await mirrored(sim, good)
        sim.pbx.calls.phone_call("1005", "1002")  # the good PBX is followed as ever
        await mirrored(sim, good)
        assert bad not in pool.running
        await asyncio.sleep(1.0)  # five more polls: still one line about it
        lines = [r for r in caplog.records if "settings unusable" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert [r.packet.get("Username") for r in spy.logins()] == [CANARY_USER]
        record(SECURITY, "Pbx row with an unusable pin (one PBX down, the others run)", "refused")
    finally:
        pool.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    assert await sync_to_async(Pbx.objects.filter(pk=good, connected=False).exists)()
