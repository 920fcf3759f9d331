"""The mirror's side of conversations: the lab's b5 queue call and c1 call, flushed after every
packet as a busy worker would, into the test database.

The rows must carry what the call rows show (queue, answer time, wait), and each flush's
summary must name the conversations it changed and, once their last channel is gone, ended.
"""

from __future__ import annotations

import pytest

from monitor import mirror, tiles
from monitor.ami.packet import Packet
from monitor.models import Call, Pbx
from monitor.state import PbxState
from tests.state.replay import replay

from ..state.test_conversations import conversations

pytestmark = pytest.mark.django_db

QUEUE_CALL = "1795746426.48"  # b5: 1005 into 6500, answered by 1004


def flushed(name: str, pbx: Pbx):
    """Transcript ``name`` through state and mirror, a flush per packet: (packet, summary,
    state) after each flush that wrote something."""
    state = PbxState()
    for item, _ in replay(name, state):
        changes = state.take_changes()
        if not changes:
            continue
        batch = mirror.Batch.build(pbx_id=pbx.pk, changes=changes, state=state)
        yield item, mirror.flush(batch), state


@pytest.fixture
def pbx() -> Pbx:
    return Pbx.objects.create(name="lab", host="127.0.0.1", username="wallboard1")


def test_b5_rows_carry_the_queue_the_answer_and_the_wait(pbx):
    state = next(
        state
        for item, _, state in flushed("b5-wallboard1-initial-sync-during-calls", pbx)
        if getattr(item, "fields", {}).get("event") == "AgentConnect"
    )
    caller = Call.objects.get(pbx=pbx, uniqueid=QUEUE_CALL)
    assert (caller.queue, caller.waited) == ("6500", 2)
    assert caller.answered_at is not None
    rows = tiles.conversation_rows(pbx, [QUEUE_CALL])
    (from_rows,) = tiles.load_conversations(rows)
    (from_state,) = [c for c in conversations(state) if c.key == QUEUE_CALL]
    for conv in (from_rows, from_state):
        assert (conv.caller.resource, conv.callee.resource) == ("1005", "1004")
        assert (conv.queue, conv.direction, conv.waited) == ("6500", "internal", 2)
    assert from_rows.dom_id == f"call-{pbx.pk}-1795746426_48"


def test_b5_summary_names_changed_conversations_then_the_ended_one(pbx):
    changed, ended = [], []
    for _, summary, state in flushed("b5-wallboard1-initial-sync-during-calls", pbx):
        alive = {c.key for c in conversations(state)}
        assert set(summary["conversations"]) <= alive
        assert not set(summary["conversations_removed"]) & alive
        changed += summary["conversations"]
        ended += summary["conversations_removed"]
        assert "calls" in summary and "calls_removed" in summary  # as before, by pk
    assert QUEUE_CALL in changed
    # The queue hung up the agents that did not answer: the call went on, only its last
    # channel's Hangup ended it, once.
    assert ended.count(QUEUE_CALL) == 1
    assert not Call.objects.filter(pbx=pbx, linkedid=QUEUE_CALL).exists()


def test_c1_summary_ends_the_call_when_its_last_channel_hangs_up(pbx):
    ends = []
    for _, summary, _ in flushed("c1-call-1001-to-1002-ami-hangup", pbx):
        ends.append(
            (summary["conversations_removed"], Call.objects.filter(pbx=pbx).count(), summary)
        )
    removed_at = [i for i, (gone, _, _) in enumerate(ends) if gone]
    assert len(removed_at) == 1
    gone, left, summary = ends[removed_at[0]]
    assert gone == ["1795746362.7"] and left == 0
    assert summary["calls_removed"]  # the channel rows went in the same flush


def test_a_garbled_hold_time_is_bounded_to_what_the_column_holds(pbx):
    state = PbxState()
    caller = {"Channel": "PJSIP/trunk_1-00000001", "Uniqueid": "9.1", "Linkedid": "9.1"}
    agent = {"DestChannel": "PJSIP/1001-00000002", "DestUniqueid": "9.2", "DestLinkedid": "9.1"}
    for seq, (name, fields) in enumerate(
        [
            ("Newchannel", caller),
            ("QueueCallerJoin", {**caller, "Queue": "6500", "Position": "1", "Count": "1"}),
            (
                "AgentConnect",
                {**caller, **agent, "Queue": "6500", "Interface": "PJSIP/1001"}
                | {"HoldTime": "99999999999"},
            ),
        ],
        1,
    ):
        state.apply(Packet.from_pairs([("Event", name), *fields.items()], seq=seq), 1e9 + seq)
    mirror.flush(mirror.Batch.build(pbx_id=pbx.pk, changes=state.take_changes(), state=state))
    row = Call.objects.get(pbx=pbx, uniqueid="9.1")
    assert (row.queue, row.waited) == ("6500", mirror.MAX_SECONDS)
    assert Call.objects.get(pbx=pbx, uniqueid="9.2").queue == "6500"  # the agent's leg too
