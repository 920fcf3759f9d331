"""What one socket has yet to send: bounded whatever its reader does (sans-IO, no clock).

Daphne writes whatever a consumer sends into the connection's buffer at once, read or not: a
browser that stops reading (a TV that sleeps, a tab in the background, a client that sends a
frame now and then to keep Daphne's ping happy) made the web process grow by megabytes a
minute, for good. So a socket sends only while its page keeps up, which the page says by
acknowledging each message (``static/js/fcmdash.js``):

- every message starts with ``<!--<seq> <nonce>-->``; the page answers ``<seq> <nonce>`` when it
  has applied it. The nonce is random, so only a reader that got the message can acknowledge it;
- at most :data:`WINDOW_CHARS` of unacknowledged messages are in flight (always one, however
  big: a message is at most :data:`MAX_MESSAGE_CHARS`);
- meanwhile tiles wait in ``pending``, newest version per id (a wallboard only needs the
  present), so a page that falls behind gets each tile it missed once, as it is now;
- past :data:`PENDING_LIMIT` characters waiting, they are dropped for one ``refresh`` message:
  the page fetches its content again (one request instead of megabytes kept here);
- a socket may have a budget (wallboards: ``FCMDASH_BOARD_RATE``, by default 40,000
  characters a second, a quarter second's worth at once): within it, each change goes at once;
  past it, the changes wait and go together, each tile once, as it is then. A quiet PBX's
  wallboard is as quick as before, and a busy one's costs each socket its budget and no more:
  a TV does not show ten states of a queue card a second. A resync's full update is not held
  back;
- a message unacknowledged for :data:`STALL_SECONDS` means the reader is gone or stuck:
  :meth:`Outbox.stalled` says so, and the consumer closes the socket with
  :data:`CLOSE_STALLED`, which the page answers by reloading.

So a socket holds at most about WINDOW_CHARS + MAX_MESSAGE_CHARS in flight and PENDING_LIMIT
waiting, characters of pure-ASCII HTML, one byte each.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from . import broadcast

# Characters per WebSocket message: at most 4 UTF-8 bytes each, so well under Daphne's 1 MiB.
MAX_MESSAGE_CHARS = 200_000
WINDOW_CHARS = 256_000
PENDING_LIMIT = 2_000_000
STALL_SECONDS = 30.0
CLOSE_STALLED = 4408
BURST_SECONDS = 0.25
REFRESH = '<template id="refresh" data-refresh></template>'


class Outbox:
    """One socket's unsent tiles and unacknowledged messages."""

    def __init__(self, rate: float = 0.0) -> None:
        # Characters a second this socket may send on average (0: no limit), BURST_SECONDS'
        # worth at once.
        self.rate = rate
        self.burst = rate * BURST_SECONDS
        self.credit = self.burst
        self.counted_at = 0.0
        self.pending: dict[str, str] = {}
        self.pending_chars = 0
        self.refresh = False
        self.full: dict[int, str] = {}  # PBX -> token of the full update still being sent
        self.parts = 0  # messages of the current full update(s) sent so far
        self.inflight: dict[int, tuple[str, int, float]] = {}  # seq -> nonce, chars, sent at
        self.inflight_chars = 0
        self.seq = 0

    # -- in --------------------------------------------------------------------------------
    def add(self, items: Iterable[Sequence], *, full: str | None = None) -> None:
        """Queue ``items`` (``[id, tags, html]``). ``full``: they are every tile of a PBX after
        a resync (token ``<pbx id>-<hex>``), which supersedes whatever of that PBX waits.

        While a refresh waits to go out, nothing is kept: the page fetches its content after
        the refresh arrives, which is after these changes were written."""
        if self.refresh:
            return
        if full is not None:
            pbx = int(full.partition("-")[0])
            stale = [k for k, html in self.pending.items() if f'data-pbx="{pbx}"' in html]
            for key in stale:
                self._drop(key)
            self.full[pbx] = full
        for tile_id, _, html in items:
            self._drop(tile_id)
            self.pending[tile_id] = html
            self.pending_chars += len(html)
        if self.pending_chars > PENDING_LIMIT:
            self.pending.clear()
            self.pending_chars = 0
            self.full.clear()
            self.refresh = True

    def ack(self, text: str) -> bool:
        """Take the page's ``<seq> <nonce>``; whether it acknowledged a message in flight (and
        every earlier one: the page applies messages in order)."""
        seq_text, _, nonce = text.strip().partition(" ")
        if not seq_text.isdigit() or len(seq_text) > 12:
            return False
        seq = int(seq_text)
        sent = self.inflight.get(seq)
        if sent is None or not secrets.compare_digest(sent[0], nonce):
            return False
        for done in [s for s in self.inflight if s <= seq]:
            self.inflight_chars -= self.inflight.pop(done)[1]
        return True

    # -- out -------------------------------------------------------------------------------
    def take(self, now: float) -> list[str]:
        """The messages to send now, each already counted as in flight."""
        out: list[str] = []
        full = bool(self.full)  # a resync's tiles go at once, and cost no budget
        if not full and self.wait(now) > 0:
            return out
        # All that waits goes in one batch, even past what is left of the budget: the socket
        # then waits the longer before the next one. Cut to the budget instead, a busy PBX's
        # tiles trickled out one a message, the newest behind all the others.
        while self.inflight_chars < WINDOW_CHARS and (self.pending or self.refresh):
            out.append(self._next(now))
        if out and self.rate and not full:
            self.credit -= sum(map(len, out))
        return out

    def wait(self, now: float) -> float:
        """Seconds until what is pending may go: 0 unless the socket spent its budget."""
        if not self.rate:
            return 0.0
        self.credit = min(self.burst, self.credit + (now - self.counted_at) * self.rate)
        self.counted_at = now
        return 0.0 if self.credit > -1 else -self.credit / self.rate  # -1: rounding

    def stalled(self, now: float) -> bool:
        """Whether the oldest message in flight waits for its acknowledgement too long."""
        oldest = self.oldest_sent()
        return oldest is not None and now - oldest > STALL_SECONDS

    def oldest_sent(self) -> float | None:
        """When the oldest message still in flight was sent; None when none is."""
        return next(iter(self.inflight.values()))[2] if self.inflight else None

    def _next(self, now: float) -> str:
        if self.refresh:
            self.refresh = False
            parts = [REFRESH]
        else:
            parts = self._take_parts()
        self.seq += 1
        nonce = secrets.token_hex(4)
        message = f"<!--{self.seq} {nonce}-->\n" + "\n".join(parts)
        self.inflight[self.seq] = (nonce, len(message), now)
        self.inflight_chars += len(message)
        return message

    def _take_parts(self) -> list[str]:
        """The oldest pending tiles, under MAX_MESSAGE_CHARS characters (one at least)."""
        parts: list[str] = []
        size = 0
        while self.pending:
            tile_id, html = next(iter(self.pending.items()))
            if parts and size + len(html) > MAX_MESSAGE_CHARS:
                break
            self._drop(tile_id)
            parts.append(html)
            size += len(html) + 1
        if self.full:
            if self.pending:  # more of it to come: the page collects this part's ids
                parts.extend(broadcast.part_marker(t, self.parts) for t in self.full.values())
                self.parts += 1
            else:
                parts.extend(broadcast.full_marker(p, t) for p, t in self.full.items())
                self.full.clear()
                self.parts = 0
        return parts

    def _drop(self, tile_id: str) -> None:
        html = self.pending.pop(tile_id, None)
        if html is not None:
            self.pending_chars -= len(html)
