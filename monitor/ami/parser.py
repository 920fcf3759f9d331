"""Sans-IO AMI framing: bytes in, banner and packets out.

Rules (from the Asterisk source and the lab transcripts, see ``AMI-REFERENCE.md`` §1):

- A client-side stream starts with one banner line that is not a packet.
- A packet is ``Key: Value`` lines ended by an empty line. Asterisk writes CRLF, but a lone LF
  occurs (``Message: Unable to retrieve endpoint 9999\\n\\r\\n\\r\\n``), so the end of a packet
  is ``\\n\\r?\\n``, as h11 frames HTTP heads. Empty lines between packets are skipped.
- Split a line at its first colon; the value starts after the blanks that follow it (Asterisk's
  ``astman_get_header`` does the same, so ``action:PJSIPShowEndpoints`` is fine).
- ``Response: Follows`` (Asterisk <= 13 ``Command``) carries raw text, blank lines included, up to
  ``--END COMMAND--``; its text lines become repeated ``Output`` values.
- The peer's bytes never raise out of the parser. A packet larger than ``max_packet`` is
  dropped (logged once per packet) and parsing resumes at the next packet boundary.
- Bytes are framed before decoding: a multibyte character may straddle two reads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container

from .packet import Banner, Packet, decode

log = logging.getLogger(__name__)

MAX_PACKET = 1 << 20  # 1 MiB: Asterisk's biggest real packets (PJSIPShowEndpoint) are ~10 KiB.

_END = re.compile(rb"\n\r?\n")
_FOLLOWS = re.compile(rb"(?i)response:[ \t]*follows\r?\n")
_END_COMMAND = b"--END COMMAND--"
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message"})


class Parser:
    """Incremental AMI framer.

    ``feed()`` takes any split of the stream, even a byte at a time; ``packets()`` yields the
    complete items and keeps the incomplete tail buffered.

    ``keep_events``: if given, a set of lower-cased event names; other events without an
    ``ActionID`` are skipped before any decoding (counted in ``skipped``). Events that carry an
    ActionID belong to a list reply and are always kept.
    """

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        max_packet: int = MAX_PACKET,
        keep_events: Container[str] | None = None,
        keep_key_case: bool = False,
    ) -> None:
        self._buf = bytearray()
        self._scan_from = 0  # where the terminator search resumes: never rescan old bytes
        self._want_banner = expect_banner
        self._discarding = False
        self._max = max_packet
        self._keep = keep_events
        self._keep_key_case = keep_key_case
        self._seq = 0
        self.skipped = 0
        self.dropped = 0
        self.bytes_in = 0

    # -- input --------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    # -- output -------------------------------------------------------------------------
    def packets(self) -> list[Banner | Packet]:
        """Every complete banner/packet now in the buffer, in order. Never raises on peer input."""
        out: list[Banner | Packet] = []
        if self._want_banner:
            banner = self._take_banner()
            if banner is None:
                return out
            out.append(banner)
        self._frame(out)
        return out

    def _frame(self, out: list[Banner | Packet]) -> None:
        buf = self._buf
        pos = 0
        end_re = _END
        keep = self._keep
        try:
            while True:
                if self._discarding:
                    pos = self._discard(pos)
                    if self._discarding:
                        return
                # Skip blank lines between packets (a stray CRLF after a bare-LF packet end).
                while pos < len(buf) and buf[pos] in (13, 10):
                    pos += 1
                if pos >= len(buf):
                    return
                if buf[pos] in (82, 114) and _FOLLOWS.match(buf, pos):  # 'R'/'r'
                    found = self._follows_end(pos)
                    if found is None:
                        self._check_size(pos)
                        return
                    block_end, next_pos = found
                    if block_end - pos > self._max:
                        self._drop(block_end - pos)
                    else:
                        self._seq += 1
                        out.append(self._parse_follows(bytes(buf[pos:block_end])))
                    pos = next_pos
                    continue
                m = end_re.search(buf, max(pos, self._scan_from - 2))
                if m is None:
                    self._scan_from = len(buf)
                    self._check_size(pos)
                    return
                start, end = pos, m.start()
                pos = m.end()
                self._scan_from = pos
                if end - start > self._max:
                    self._drop(end - start)
                    continue
                if keep is not None and buf.startswith(b"Event: ", start):
                    eol = buf.find(b"\n", start, end)
                    name_end = eol if eol != -1 else end
                    name = buf[start + 7 : name_end].rstrip(b"\r").decode("latin-1").lower()
                    if name not in keep and buf.find(b"ActionID:", start, end) == -1:
                        self.skipped += 1
                        continue
                self._seq += 1
                out.append(self._parse_block(bytes(buf[start:end])))
        finally:
            if pos:
                del buf[:pos]
                self._scan_from = max(0, self._scan_from - pos)

    def pending_size(self) -> int:
        """Bytes of an unfinished packet held in the buffer."""
        return len(self._buf)

    # -- internals ----------------------------------------------------------------------
    def _take_banner(self) -> Banner | None:
        buf = self._buf
        eol = buf.find(b"\n")
        if eol == -1:
            if len(buf) > 4096:
                # Not an AMI server (or a garbage greeting): hand it out as the banner so the
                # client can refuse it with a clear message instead of buffering forever.
                text = decode(bytes(buf[:200]))
                del buf[:]
                self._want_banner = False
                return Banner(text)
            return None
        text = decode(bytes(buf[:eol])).rstrip("\r")
        del buf[: eol + 1]
        self._want_banner = False
        self._scan_from = 0
        return Banner(text)

    def _check_size(self, pos: int) -> None:
        if len(self._buf) - pos > self._max:
            # Keep the last bytes: a terminator may straddle this read and the next one.
            self._drop(len(self._buf) - pos, partial=True)
            self._discarding = True

    def _discard(self, pos: int) -> int:
        m = _END.search(self._buf, pos)
        if m is None:
            keep_from = max(pos, len(self._buf) - 2)
            del self._buf[:keep_from]
            self._scan_from = 0
            return 0
        self._discarding = False
        return m.end()

    def _drop(self, size: int, *, partial: bool = False) -> None:
        self.dropped += 1
        what = "an unfinished packet" if partial else "a packet"
        log.warning(
            "AMI: dropped %s of %d+ bytes (limit %d); resuming at the next packet",
            what,
            size,
            self._max,
        )

    def _follows_end(self, pos: int) -> tuple[int, int] | None:
        buf = self._buf
        marker = buf.find(_END_COMMAND, pos)
        if marker == -1:
            return None
        m = _END.search(buf, marker)
        if m is None:
            return None
        return marker + len(_END_COMMAND), m.end()

    def _parse_block(self, block: bytes) -> Packet:
        text = decode(block)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        fields: dict[str, str] = {}
        repeats: dict[str, list[str]] | None = None
        keys: list[str] | None = [] if self._keep_key_case else None
        for line in text.split("\n"):
            key, sep, value = line.partition(":")
            if not sep:
                # A line without a colon carries no header. Asterisk ignores it too.
                continue
            if value[:1] == " ":
                value = value[1:]
                if value[:1] in (" ", "\t"):
                    value = value.lstrip(" \t")
            if value[-1:] == "\r":
                value = value.rstrip("\r")
            if keys is not None:
                keys.append(key)
            low = key.lower()
            if low in fields:
                if repeats is None:
                    repeats = {}
                rep = repeats.get(low)
                if rep is None:
                    repeats[low] = [fields[low], value]
                else:
                    rep.append(value)
            else:
                fields[low] = value
        return Packet(fields, repeats, self._seq, tuple(keys) if keys is not None else ())

    def _parse_follows(self, block: bytes) -> Packet:
        text = decode(block).replace("\r\n", "\n")
        pairs: list[tuple[str, str]] = []
        output: list[str] = []
        in_headers = True
        for line in text.split("\n"):
            if line == _END_COMMAND.decode():
                break
            key, sep, value = line.partition(":")
            if in_headers and sep and key.lower() in _FOLLOWS_HEADERS:
                pairs.append((key, value.lstrip(" \t")))
                continue
            in_headers = False
            output.append(line)
        pairs.extend(("Output", line) for line in output)
        return Packet.from_pairs(pairs, seq=self._seq)


def parse_all(data: bytes, *, expect_banner: bool = False, **kwargs: object) -> list[Banner | Packet]:
    """Parse a complete byte string (tests, fixtures)."""
    parser = Parser(expect_banner=expect_banner, **kwargs)  # type: ignore[arg-type]
    parser.feed(data)
    return list(parser.packets())
