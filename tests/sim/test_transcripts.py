"""The simulator against the lab's real Asterisk: replay each transcript's client side and
compare every server packet (names, keys and their order, values except volatile ones)."""

from __future__ import annotations

from monitor.sim.replay import Replay
from monitor.sim.replay import load as load_transcript
from monitor.sim.server import PbxSimulator

from .amitest import diff, drive, expected_packets, md5_rewriter


def ringing(sim, endpoint: str) -> str:
    """Name of the channel of ``endpoint`` that is ringing now."""
    ep = sim.pbx.endpoints[endpoint]
    names = [ch.name for ch in ep.channels.values() if ch.state == 5]
    assert names, f"{endpoint} is not ringing"
    return names[-1]


async def test_a1_login_events_idle_logoff(sim):
    r = await drive(sim.port, "a1-login-events-idle")
    assert r.banner == "Asterisk Call Manager/11.0.0"
    assert r.got == r.expected, diff(r.expected, r.got)
    assert r.closed


async def test_a2_permission_denied_then_failed_logins_close(sim):
    for conn in (1, 2):
        r = await drive(sim.port, "a2-login-failed", conn=conn)
        assert r.got == r.expected, diff(r.expected, r.got)
        assert r.closed, "the server closes the session after Authentication failed"


async def test_a2_failed_login_waits_before_answering():
    async with PbxSimulator(auth_fail_delay=0.3) as sim:
        loop = __import__("asyncio").get_running_loop()
        start = loop.time()
        r = await drive(sim.port, "a2-login-failed", conn=2)
        assert r.got == r.expected, diff(r.expected, r.got)
        assert loop.time() - start >= 0.3


async def test_a3_restricted_user_gets_no_dialplan_cdr_or_security_events(sim):
    r = await drive(
        sim.port,
        "a3-login-restricted-wallboard1",
        hooks={
            "CLI: channel originate": lambda text: sim.pbx.calls.originate(
                "PJSIP/1001", context="from-internal", exten="2002"
            )
        },
        # The device-state trio is published from three threads; its order varies run to run.
        ignore_events=("DeviceStateChange", "ExtensionStatus", "QueueMemberStatus"),
    )
    assert r.got == r.expected, diff(r.expected, r.got)
    names = {dict(p).get("Event") for p in r.got}
    assert not names & {"Newexten", "VarSet", "Cdr", "SuccessfulAuth"}


async def test_a4_md5_challenge_login_and_wrong_key(sim):
    rewrite = md5_rewriter({"admin123": "admin123", "wallboard1": "wb1pass9"})
    r1 = await drive(sim.port, "a4-login-md5-challenge", conn=1, rewrite=rewrite)
    assert r1.got == r1.expected, diff(r1.expected, r1.got)
    r2 = await drive(sim.port, "a4-login-md5-challenge", conn=2, rewrite=rewrite)
    assert r2.got == r2.expected, diff(r2.expected, r2.got)
    assert r2.closed


async def test_a5_tls_login_ping_corestatus():
    async with PbxSimulator(tls_port=0) as sim:
        sim.pbx.processed_calls = 1  # the lab's calls before this scenario
        r = await drive(sim.tls_port, "a5-tls-login", tls=True)
        assert r.banner == "Asterisk Call Manager/11.0.0"
        assert r.got == r.expected, diff(r.expected, r.got)


async def test_a6_timestampevents_on_events_not_on_responses():
    async with PbxSimulator(timestampevents=True, time_scale=0.01) as sim:
        r = await drive(
            sim.port,
            "a6-timestampevents-yes",
            hooks={
                "CLI: channel originate": lambda t: sim.pbx.calls.originate(
                    "PJSIP/1001", context="from-internal", exten="2002"
                )
            },
            ignore_events=(
                "DeviceStateChange",
                "ExtensionStatus",
                "QueueMemberStatus",
                "VarSet",
                "Newexten",
            ),
        )
        assert r.got == r.expected, diff(r.expected, r.got)


async def test_b1_pjsip_listings(sim):
    r = await drive(sim.port, "b1-pjsip-show")
    assert r.got == r.expected, diff(r.expected, r.got)
    # The unknown endpoint's error keeps Asterisk's stray LF, byte for byte.
    assert b"Message: Unable to retrieve endpoint 9999\n\r\n\r\n" in r.client.raw


async def test_b2_state_lists_channels_and_status(sim):
    r = await drive(
        sim.port,
        "b2-state-lists-and-channels",
        hooks={
            "CLI: channel originate": lambda t: sim.pbx.calls.originate(
                "PJSIP/1001", context="from-internal", exten="2001"
            )
        },
        ignore_events=("DeviceStateChange", "ExtensionStatus", "QueueMemberStatus"),
    )
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_b3_queue_queries(sim):
    r = await drive(sim.port, "b3-queue-queries")
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_b4_core_actions(sim):
    sim.pbx.processed_calls = 3
    r = await drive(sim.port, "b4-core-actions")
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_c1_originate_answer_bridge_ami_hangup(sim):
    # c1 ran after c3, which had paused and unpaused 1002 in 6500.
    sim.pbx.queues["6500"].members["PJSIP/1002"].last_pause = 1795746357
    r = await drive(
        sim.port,
        "c1-call-1001-to-1002-ami-hangup",
        hooks={"1002 is ringing": lambda t: sim.pbx.calls.answer(ringing(sim, "1002"))},
    )
    assert r.got == r.expected, diff(r.expected, r.got)
    assert sim.snapshot()["channels"] == {}


async def test_c3_queue_pause_add_remove(sim):
    r = await drive(sim.port, "c3-queue-pause-add-remove")
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_c4_unregister_register_unreachable_reachable(sim):
    pbx = sim.pbx
    # c4 ran after c3 and b5: 1004 is no longer in 6501 and has taken one queue call.
    pbx.queues["6500"].members["PJSIP/1004"].calls_taken = 1
    pbx.queues["6500"].members["PJSIP/1004"].last_call = 1795746431
    r = await drive(
        sim.port,
        "c4-endpoint-unregister",
        hooks={
            "baresip 1004: quit": lambda t: pbx.unregister("1004", sip_auth=1),
            "restart baresip 1004": lambda t: pbx.register(
                "1004", "sip:1004-0x55a1fed29580@127.0.0.1:5140", sip_auth=1
            ),
            "SIGSTOP": lambda t: pbx.unreachable("1004"),
            "SIGCONT": lambda t: (
                [pbx.reregister(n) for n in ("1005", "1001", "1002", "1003")]
                and pbx.reachable("1004")
            ),
        },
    )
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_d1_restricted_user_denials(sim):
    sim.pbx.processed_calls = 3
    r = await drive(sim.port, "d1-restricted-user-denials")
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_d2_errors(sim):
    sim.pbx.processed_calls = 4
    r = await drive(
        sim.port,
        "d2-errors",
        # The trunk's qualify timed out during the lab run; the simulator's trunk is not qualified.
        ignore_events=("ContactStatus",),
    )
    assert r.got == r.expected, diff(r.expected, r.got)


async def test_b5_pipelined_sync_lists_mid_queue_call(sim):
    """b5's four pipelined list actions, against the state of that moment: the lab's own
    list replies were applied by the replay, the simulator orders and formats them itself
    (device-state and member hash order, QueueEntry, CoreShowChannel fields)."""
    name = "b5-wallboard1-initial-sync-during-calls"
    replay = Replay(sim, load_transcript(name), speed=10_000)
    await replay.run(until=2.6)
    expected = expected_packets(name)
    limit = next(i for i, p in enumerate(expected) if p.name == "CoreShowChannelsComplete") + 1
    r = await drive(sim.port, name, limit=limit)
    assert len(r.expected) == limit > 60
    assert r.got == r.expected, diff(r.expected, r.got)
