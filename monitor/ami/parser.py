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
  dropped (the first one logged, all counted in ``dropped``) and parsing resumes at the next
  packet boundary; the buffer never holds much more than ``max_packet`` plus one read.
- Bytes are framed before decoding: a multibyte character may straddle two reads.

Speed (``bench/ami_parse.py``): a busy PBX sends thousands of events a second, most of them
events no tile shows, and the FCM630A drops a client that stops reading for 100 ms. So a packet
is judged by its first line alone (the verdict is remembered per distinct line) before anything
is decoded, and a packet in the form Asterisk writes is cut by C string methods, not by a Python
loop per line, mostly along the layout its event type had last time. Anything unusual takes the
line-by-line path, which defines the result; the tests hold every path to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Container
from itertools import repeat

from .packet import DECODE_ERRORS, Banner, Packet, decode

log = logging.getLogger(__name__)

MAX_PACKET = 1 << 20  # 1 MiB: Asterisk's biggest real packets (PJSIPShowEndpoint) are ~10 KiB.

_END = re.compile(rb"\n\r?\n")
_FOLLOWS = re.compile(rb"(?i)response:[ \t]*follows\r?\n")
_BLANK_VALUE = re.compile(": [ \t]")
_END_COMMAND = "--END COMMAND--"
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message"})

# What a packet's first line says about it (Parser._verdicts caches it per distinct line).
_KEEP = 1  # parse it
_SKIP = 0  # an event not in keep_events: skip it unless it carries an ActionID
_NEEDLE = 3  # an event in keep_if: skip it unless it holds its needle (or an ActionID)
_ODD = 2  # blank lines before it, or Response: Follows: look closer
# Verdicts, layouts and key names come from the peer: bound how many, and how big, we keep.
_MAX_VERDICTS = 1024  # a PBX has a few hundred event names
_MAX_LAYOUTS = 1024
_MAX_HEAD = 256  # bytes of a first line worth remembering
_MAX_LAYOUT_KEYS = 2048  # characters of header names (and ": " and CRLFs) in one layout


class _KeyNames(dict[str, "str | None"]):
    """Header name as sent -> lower-cased name, learnt once: a PBX uses a few hundred names.

    A name holding a colon maps to None: that line's first colon is not followed by a space,
    so splitting at ``": "`` was wrong; None sends the packet to the line-by-line path.
    """

    def __missing__(self, key: str) -> str | None:
        low = None if ":" in key else key.lower()
        if len(self) < 4096 and len(key) <= 64:
            self[key] = low
        return low


_lower_key = _KeyNames().__getitem__


class _Layout:
    """The header names of a packet in order, to cut the next one of its kind."""

    __slots__ = ("keys", "names", "prefixes", "size", "overhead")

    def __init__(self, keys: tuple[str, ...], names: tuple[str, ...]) -> None:
        self.keys = keys  # as sent
        self.names = names  # lower-cased: the Packet.fields keys
        self.prefixes = tuple(key + ": " for key in keys)
        self.size = len(keys)
        # The characters that are no value: the prefixes and the CRLFs between the lines.
        self.overhead = sum(map(len, self.prefixes)) + 2 * (len(keys) - 1)


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
        keep_if: dict[str, bytes] | None = None,
    ) -> None:
        self._buf = bytearray()
        self._scan_from = 0  # no packet end starts before this offset: never rescan old bytes
        self._want_banner = expect_banner
        self._discarding = False
        self._max = max_packet
        self._keep = keep_events
        # Event (lower-cased) -> bytes it must hold to be kept: one VarSet of hundreds matters.
        self._keep_if = keep_if or {}
        self._needles: dict[bytes, bytes] = {}
        self._keep_key_case = keep_key_case
        self._verdicts: dict[bytes, int] = {}  # a packet's first line -> _KEEP, _SKIP or _ODD
        self._layouts: dict[str, _Layout] = {}  # a packet's first line -> its last layout
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

    def pending_size(self) -> int:
        """Bytes of an unfinished packet held in the buffer."""
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
        if self._discarding and not self._discard():
            return out
        buf = self._buf
        if _END.search(buf, self._scan_from) is None:
            # Nothing complete yet (a packet spread over reads, or fed a byte at a time):
            # leave without copying or rescanning the buffer.
            self._scan_from = max(0, len(buf) - 2)
            self._check_size()
            return out
        # One copy per read, not per packet: slices of bytes are hashable (for the verdicts)
        # and the buffer is trimmed once, after the loop.
        consumed, self._scan_from = self._frame(bytes(buf), out)
        del buf[:consumed]
        self._check_size()
        return out

    def _frame(self, data: bytes, out: list[Banner | Packet]) -> tuple[int, int]:
        """Append the complete packets of ``data`` to ``out``. Returns how many bytes were used
        and where, in what is left, the search for a packet end may resume."""
        search = _END.search
        verdicts = self._verdicts
        limit = self._max
        parse = self._parse_block
        append = out.append
        seq = self._seq
        skipped = 0
        pos = 0
        try:
            while (m := search(data, pos)) is not None:
                start = pos
                end, pos = m.span()
                eol = data.find(b"\n", start, end + 1)  # data[end] is a LF: always found
                head = data[start:eol]
                kind = verdicts.get(head)
                if kind is None:
                    kind = self._judge(head)
                if kind == _SKIP:
                    if data.find(b"ActionID:", start, end) < 0:
                        skipped += 1
                        continue
                elif kind == _NEEDLE:
                    if (
                        data.find(self._needles[head], start, end) < 0
                        and data.find(b"ActionID:", start, end) < 0
                    ):
                        skipped += 1
                        continue
                elif kind == _ODD:
                    # Blank lines before the packet, or Response: Follows.
                    start = end - len(data[start:end].lstrip(b"\r\n"))
                    if start == end:
                        continue  # blank lines only
                    if _FOLLOWS.match(data, start):
                        # Its text may hold blank lines: it ends at --END COMMAND--.
                        found = self._follows_end(data, start)
                        if found is None:
                            return start, 0
                        end, pos = found
                        self._seq = seq
                        self._take_follows(data[start:end], out)
                        seq = self._seq
                        continue
                    if self._unwanted(data, start, end):
                        skipped += 1
                        continue
                if data[end - 1] == 13:
                    end -= 1  # the CR of the last line's CRLF: \n\r?\n matched from its LF
                if end - start > limit:
                    self._drop(end - start)
                    continue
                seq += 1
                append(parse(data[start:end], seq))
        finally:
            self._seq = seq
            self.skipped += skipped
        return pos, max(0, len(data) - pos - 2)

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

    def _judge(self, head: bytes) -> int:
        """What to do with a packet whose first line is ``head`` (see _KEEP, _SKIP, _ODD)."""
        if not head or head[0] in b"\r\n" or _FOLLOWS.match(head + b"\n"):
            kind = _ODD
        else:
            key, sep, name = head.decode("latin-1").partition(":")
            unwanted = (
                self._keep is not None
                and sep
                and key.strip().lower() == "event"
                and name.strip().lower() not in self._keep
            )
            kind = _SKIP if unwanted else _KEEP
            needle = self._keep_if.get(name.strip().lower()) if unwanted else None
            if needle is not None:
                kind = _NEEDLE
                self._needles[head] = needle
        if len(self._verdicts) < _MAX_VERDICTS and len(head) <= _MAX_HEAD:
            self._verdicts[head] = kind
        return kind

    def _unwanted(self, data: bytes, start: int, end: int) -> bool:
        head = data[start : data.find(b"\n", start, end + 1)]
        kind = self._verdicts.get(head)
        if kind is None:
            kind = self._judge(head)
        return kind == _SKIP and data.find(b"ActionID:", start, end) < 0

    def _check_size(self) -> None:
        buf = self._buf
        if len(buf) > self._max:
            self._drop(len(buf), partial=True)
            # Keep the last bytes: a packet end may straddle this read and the next one.
            del buf[:-2]
            self._scan_from = 0
            self._discarding = True

    def _discard(self) -> bool:
        """Drop the rest of an oversized packet; True once its end has been seen."""
        buf = self._buf
        m = _END.search(buf)
        if m is None:
            del buf[:-2]
            return False
        del buf[: m.end()]
        self._discarding = False
        self._scan_from = 0
        return True

    def _drop(self, size: int, *, partial: bool = False) -> None:
        self.dropped += 1
        if self.dropped > 1:
            return  # one line per stream: a peer that floods must not flood the log
        what = "an unfinished packet" if partial else "a packet"
        log.warning(
            "AMI: dropped %s of %d+ bytes (limit %d); resuming at the next packet "
            "(more on this connection are counted, not logged)",
            what,
            size,
            self._max,
        )

    # -- packets ------------------------------------------------------------------------
    def _parse_block(self, block: bytes, seq: int) -> Packet:
        """One packet, without its blank line.

        The form Asterisk writes (``Key: Value`` lines ended by CRLF, no key twice, no blank
        after ": ") is cut by C string methods, not by a Python loop per line: by the layout
        seen last after the same first line (an event type keeps its headers and their order),
        else by splitting every line at ": ". The checks send anything else to
        :meth:`_parse_lines`, which gives the same result line by line.
        """
        text = block.decode("utf-8", DECODE_ERRORS)  # decode(), without a call per packet
        lines = text.split("\r\n")
        n = len(lines)
        if text.count("\n") != n - 1 or text.count("\r") != n - 1 or _BLANK_VALUE.search(text):
            # A lone CR or LF (lines do not all end in CRLF), or blanks to strip from a value:
            # "Value:   minrxlost=..." (Asterisk's RTPAUDIOQOS VarSet).
            return self._parse_lines(text, seq)
        layout = self._layouts.get(lines[0])
        if layout is not None and layout.size == n:
            values = list(map(str.removeprefix, lines, layout.prefixes))
            # Each prefix that did not come off leaves its line longer: none did if the values
            # add up to the text less the prefixes and CRLFs.
            if sum(map(len, values)) == len(text) - layout.overhead:
                keys = layout.keys if self._keep_key_case else ()
                return Packet(dict(zip(layout.names, values)), None, seq, keys)  # noqa: B905
        # zip() without strict=: every partition() gives three items.
        keys, seps, values = zip(*map(str.partition, lines, repeat(": ")))  # noqa: B905
        fields = dict(zip(map(_lower_key, keys), values))  # noqa: B905 (same lengths)
        if len(fields) != n or None in fields or "" in seps:
            # A repeated key (Output, ChanVariable), a line without ": " (``Key:value``,
            # ``CallerChannel:``) or a colon before the first ": ".
            return self._parse_lines(text, seq)
        layouts = self._layouts
        if (lines[0] in layouts or len(layouts) < _MAX_LAYOUTS) and (
            len(text) - sum(map(len, values)) <= _MAX_LAYOUT_KEYS
        ):
            layouts[lines[0]] = _Layout(keys, tuple(fields))
        return Packet(fields, None, seq, keys if self._keep_key_case else ())

    def _parse_lines(self, text: str, seq: int) -> Packet:
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
        return Packet(fields, repeats, seq, tuple(keys) if keys is not None else ())

    @staticmethod
    def _follows_end(data: bytes, start: int) -> tuple[int, int] | None:
        marker = data.find(b"--END COMMAND--", start)
        if marker == -1:
            return None
        m = _END.search(data, marker)
        if m is None:
            return None
        return marker + len(_END_COMMAND), m.end()

    def _take_follows(self, block: bytes, out: list[Banner | Packet]) -> None:
        if len(block) > self._max:
            self._drop(len(block))
            return
        self._seq += 1
        text = decode(block).replace("\r\n", "\n")
        pairs: list[tuple[str, str]] = []
        output: list[str] = []
        in_headers = True
        for line in text.split("\n"):
            if line.endswith(_END_COMMAND):
                # Asterisk appends the marker right after the CLI text, so output that does not
                # end in a newline shares its last line with the marker.
                if len(line) > len(_END_COMMAND):
                    output.append(line[: -len(_END_COMMAND)])
                break
            key, sep, value = line.partition(":")
            if in_headers and sep and key.lower() in _FOLLOWS_HEADERS:
                pairs.append((key, value.lstrip(" \t")))
                continue
            in_headers = False
            output.append(line)
        pairs.extend(("Output", line) for line in output)
        out.append(Packet.from_pairs(pairs, seq=self._seq))


def parse_all(
    data: bytes, *, expect_banner: bool = False, **kwargs: object
) -> list[Banner | Packet]:
    """Parse a complete byte string (tests, fixtures)."""
    parser = Parser(expect_banner=expect_banner, **kwargs)  # type: ignore[arg-type]
    parser.feed(data)
    return list(parser.packets())
