"""``Outbox``: what one socket holds is bounded whatever its reader does (pure, no socket)."""

from __future__ import annotations

from monitor import outbox
from monitor.outbox import Outbox
from tests.support.websocket import ack_of, body


def tile(n: int, text: str = "x", pbx: int = 1) -> list:
    return [f"endpoint-{n}", None, f'<article id="endpoint-{n}" data-pbx="{pbx}">{text}</article>']


def test_messages_carry_a_sequence_number_and_a_nonce_the_page_echoes():
    box = Outbox()
    box.add([tile(1), tile(2)])
    (message,) = box.take(now=0.0)
    assert body(message) == "\n".join(t[2] for t in (tile(1), tile(2)))
    assert box.inflight and not box.ack("1 00000000") and not box.ack("junk")
    assert box.ack(ack_of(message)) and not box.inflight and box.inflight_chars == 0


def test_a_page_that_does_not_acknowledge_gets_the_newest_version_of_each_tile_once():
    box = Outbox()
    box.add([[f"endpoint-{n}", None, "y" * 150_000] for n in range(3)])
    first = box.take(now=0.0)
    assert len(first) == 2  # the window is full: the rest waits
    for version in range(50):
        box.add([tile(7, f"v{version}"), tile(8, f"w{version}")])
    assert box.take(now=1.0) == []
    assert len(box.pending) == 3  # one of each id, not 100 versions
    box.ack(ack_of(first[-1]))  # acknowledges the earlier one too
    (caught_up,) = box.take(now=2.0)
    assert "v49" in caught_up and "w49" in caught_up and "v48" not in caught_up


def test_a_reader_that_stops_is_stalled_after_the_limit_and_never_holds_more_than_the_bound():
    box = Outbox()
    peak = 0
    for n in range(2_000):
        box.add([[f"endpoint-{n}", None, "z" * 5_000]])
        box.take(now=float(n) / 100)
        peak = max(peak, box.pending_chars + box.inflight_chars)
    bound = outbox.PENDING_LIMIT + outbox.WINDOW_CHARS + outbox.MAX_MESSAGE_CHARS
    assert peak <= bound
    # Past the limit it gave up keeping tiles: one refresh instead.
    assert box.refresh and not box.pending
    assert not box.stalled(now=outbox.STALL_SECONDS - 1)
    assert box.stalled(now=outbox.STALL_SECONDS + 1)


def test_refresh_goes_out_alone_when_the_window_opens():
    box = Outbox()
    box.add([[f"endpoint-{n}", None, "y" * 150_000] for n in range(2)])
    sent = box.take(now=0.0)
    box.refresh = True
    box.add([tile(9)])
    box.ack(ack_of(sent[-1]))
    messages = [body(m) for m in box.take(now=1.0)]
    assert messages[0] == outbox.REFRESH


def test_a_full_update_is_split_under_the_limit_with_part_markers_and_ends_with_its_marker():
    box = Outbox()
    box.add([tile(1, "old"), tile(2, "gone")])  # waiting, superseded by the full update
    parts = [
        [f"endpoint-{i}", None, f'<div id="endpoint-{i}" data-pbx="1">{"x" * 900}</div>']
        for i in range(1000)
    ]
    box.add(parts, full="1-abc")
    messages = []
    while box.pending or box.full:
        taken = box.take(now=0.0)
        messages += taken
        for m in taken:
            box.ack(ack_of(m))
    assert len(messages) >= 5
    assert all(len(m) <= outbox.MAX_MESSAGE_CHARS + 200 for m in messages)
    text = "".join(messages)
    assert text.count('<div id="endpoint-') == 1000 and "gone" not in text and "old" not in text
    assert messages[-1].endswith(
        '<template id="full-pbx-1" data-full-pbx="1" data-full-token="1-abc"></template>'
    )
    for m in messages[:-1]:
        assert 'data-full-part="1-abc"' in m and "data-full-pbx" not in m


def test_an_ordinary_update_is_split_too_without_markers():
    box = Outbox()
    box.add([[f"endpoint-{i}", None, "x" * 900] for i in range(1000)])
    messages = []
    while box.pending:
        taken = box.take(now=0.0)
        messages += taken
        for m in taken:
            box.ack(ack_of(m))
    assert len(messages) >= 5 and not any("data-full" in m for m in messages)


def test_a_budget_sends_the_first_change_at_once_and_batches_past_it():
    box = Outbox(rate=40_000)  # 10,000 characters at once
    box.add([tile(1, "a" * 6_000)])
    assert len(box.take(now=100.0)) == 1  # within the budget: at once
    sent = 1
    for version in range(20):  # a burst: 20 versions of two tiles at once
        box.add([tile(1, f"v{version}" + "a" * 6_000), tile(2, f"w{version}")])
        for message in box.take(now=100.0):
            sent += 1
            box.ack(ack_of(message))
    assert sent == 2  # a quarter second's worth (10,000 characters) went, the rest waits
    now = 100.0
    assert 0 < box.wait(now) <= 0.5
    later = []
    while box.pending:
        now += box.wait(now)
        for message in box.take(now):
            later.append(message)
            box.ack(ack_of(message))
    text = "".join(later)
    assert len(later) == 1 and text.count('id="endpoint-1"') == 1  # one batch: all that waited
    assert "v19" in text and "w19" in text and "v18" not in text  # each tile once, newest


def test_a_full_update_is_not_held_back_by_the_budget():
    box = Outbox(rate=4_000)
    box.add([tile(n, "x" * 900) for n in range(100)], full="1-abc")
    sent = box.take(now=0.0)
    assert sent and box.credit == 1_000  # cost nothing
