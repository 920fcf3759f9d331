"""The client side of an AMI session, without I/O: actions to bytes, bytes to replies and events.

Rules it enforces (``AMI-REFERENCE.md`` §1, §2, §6):

- Every action carries a unique ``ActionID``; replies are matched by it, never by position.
- Nothing that could smuggle a header reaches the wire: a CR, LF or NUL in a key or value, a
  colon in a key, a line over 1024 bytes (Asterisk answers ``line too long`` and may lose the
  ActionID) or more than 128 headers make ``encode_action`` raise before any byte is produced.
- ``Originate`` always goes out with ``Async: true``: a synchronous one blocks the session's
  action processing until the call is answered.
- A list reply (``EventList: start`` ... ``EventList: Complete``) is collected into one
  :class:`Reply`. A list whose end never comes (the FCM630A ``Queues`` form) is closed when a
  reply to a later action arrives (Asterisk runs one session's actions in order) or when the
  connection calls :meth:`ClientProtocol.end_list` after a quiet gap.
- A response without ActionID answers the oldest action still waiting for its response: we always
  send one, so only an action whose line Asterisk could not parse is answered without it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import ActionRejected, error_for
from .events import WANTED_IF
from .packet import Banner, Packet
from .parser import MAX_PACKET, Parser

MAX_LINE = 1024  # bytes per line, CRLF included, that Asterisk's manager accepts
MAX_HEADERS = 128

Value = str | int | float | bool | None
Headers = Mapping[str, Value | Iterable[Value]] | Iterable[tuple[str, Value]]

_FORBIDDEN = ("\r", "\n", "\x00")


class Action:
    """An AMI action: a name and ordered headers (a key may repeat, e.g. ``Variable``).

    ``Action("QueuePause", Interface="PJSIP/1001", Paused=True, Queue="6500")``
    ``Action("Originate", {"Channel": "PJSIP/1001", "Variable": ["A=1", "B=2"]})``
    """

    __slots__ = ("name", "headers")

    def __init__(
        self, name: str, headers: Headers | None = None, /, **kw: Value | Iterable[Value]
    ) -> None:
        self.name = name
        pairs: list[tuple[str, str]] = []
        items: Iterable[tuple[str, object]]
        if headers is None:
            items = ()
        elif isinstance(headers, Mapping):
            items = headers.items()
        else:
            items = headers
        for key, value in itertools.chain(items, kw.items()):
            if isinstance(value, (list, tuple)):
                pairs.extend((key, _text(v)) for v in value)
            elif value is not None:
                pairs.append((key, _text(value)))
        self.headers = pairs

    def get(self, key: str) -> str | None:
        low = key.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def __repr__(self) -> str:
        shown = [(k, "***" if k.lower() in ("secret", "key") else v) for k, v in self.headers]
        return f"Action({self.name!r}, {shown!r})"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_packet(pairs: Iterable[tuple[str, str]]) -> bytes:
    """Bytes of a packet, CRLF after each line and a blank line at the end. No checks: for the
    simulator, which writes what a PBX writes (long lines included)."""
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode("utf-8") + b"\r\n"


def encode_action(action: Action, action_id: str) -> bytes:
    """Bytes for ``action`` with ``ActionID: action_id``.

    Raises :class:`ActionRejected` (and produces nothing) when a key or value could inject a
    header, a line would be longer than Asterisk accepts, or there are too many headers.
    """
    pairs = [("Action", action.name), ("ActionID", action_id)]
    for key, value in action.headers:
        low = key.lower()
        if low in ("action", "actionid"):
            raise ActionRejected(f"{action.name}: the {key!r} header is set by the client")
        if low == "async" and action.name.lower() == "originate":
            continue
        pairs.append((key, value))
    if action.name.lower() == "originate":
        pairs.append(("Async", "true"))
    if len(pairs) > MAX_HEADERS:
        raise ActionRejected(
            f"{action.name}: {len(pairs)} headers, Asterisk keeps only {MAX_HEADERS}"
        )
    lines = []
    for key, value in pairs:
        _check(action.name, key, value)
        line = f"{key}: {value}\r\n".encode()
        if len(line) > MAX_LINE:
            raise ActionRejected(
                f"{action.name}: the {key} line is {len(line)} bytes, over the {MAX_LINE} "
                "bytes Asterisk accepts"
            )
        lines.append(line)
    return b"".join(lines) + b"\r\n"


def _check(action: str, key: str, value: str) -> None:
    if not key or not key.isascii() or not key.replace("-", "").replace("_", "").isalnum():
        raise ActionRejected(f"{action}: {key!r} is not a valid header name")
    for ch in _FORBIDDEN:
        if ch in value:
            what = {"\r": "a carriage return", "\n": "a line feed", "\x00": "a NUL byte"}[ch]
            raise ActionRejected(
                f"{action}: the {key} value contains {what}, which AMI cannot carry"
            )


@dataclass
class Reply:
    """What one action got back: its response and, for a list action, the items."""

    action: str
    action_id: str
    response: Packet
    items: list[Packet] = field(default_factory=list)
    complete: Packet | None = None
    truncated: bool = False  # a list that ended without its Complete event (FCM630A Queues)

    @property
    def ok(self) -> bool:
        return self.response.fields.get("response", "").lower() in ("success", "follows", "goodbye")

    @property
    def message(self) -> str:
        return self.response.message

    @property
    def is_list(self) -> bool:
        return self.response.fields.get("eventlist", "").lower() == "start"

    def raise_for_error(self) -> Reply:
        if not self.ok:
            raise error_for(self.action, self.message, self)
        return self


@dataclass(frozen=True)
class Garbled:
    """Bytes from the PBX that came out as no packet: a block with neither ``Response`` nor
    ``Event`` (``kind="junk"``), or a packet over the size limit (``kind="oversized"``).
    Whatever event they held is lost, so a consumer of the stream resynchronises."""

    kind: str
    sample: str = ""


@dataclass
class _Pending:
    name: str
    action_id: str
    response: Packet | None = None
    items: list[Packet] = field(default_factory=list)


class ClientProtocol:
    """State of one client session: pending actions, open lists, the parser.

    ``receive_data(bytes)`` returns, in stream order, :class:`Banner`, :class:`Reply` (an
    action finished), :class:`Packet` (an event that belongs to no list) and :class:`Garbled`
    (bytes that were no packet; never taken for anyone's reply).
    """

    def __init__(
        self,
        *,
        id_prefix: str | None = None,
        keep_events: Iterable[str] | None = None,
        max_packet: int = MAX_PACKET,
    ) -> None:
        keep = None if keep_events is None else frozenset(e.lower() for e in keep_events)
        self.parser = Parser(
            expect_banner=True,
            max_packet=max_packet,
            keep_events=keep,
            keep_if=None if keep is None else WANTED_IF,
        )
        self._prefix = id_prefix or f"fcm-{os.getpid()}-{os.urandom(3).hex()}"
        self._counter = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self.banner: Banner | None = None

    # -- sending --------------------------------------------------------------------------
    def send(self, action: Action) -> tuple[str, bytes]:
        """Register ``action`` and return its ActionID and bytes. Raises ActionRejected first."""
        action_id = f"{self._prefix}-{next(self._counter)}"
        data = encode_action(action, action_id)
        self._pending[action_id] = _Pending(action.name, action_id)
        return action_id, data

    def forget(self, action_id: str) -> None:
        """Stop waiting for ``action_id`` (its caller gave up); late replies become no-ops."""
        self._pending.pop(action_id, None)

    @property
    def pending(self) -> list[str]:
        return list(self._pending)

    def open_list(self, action_id: str) -> bool:
        p = self._pending.get(action_id)
        return p is not None and p.response is not None

    def list_size(self, action_id: str) -> int | None:
        """Items collected so far for an open list, None if ``action_id`` is no open list."""
        p = self._pending.get(action_id)
        return None if p is None or p.response is None else len(p.items)

    def end_list(self, action_id: str) -> Reply | None:
        """Close a list whose end marker did not come; returns its (truncated) reply."""
        p = self._pending.get(action_id)
        if p is None or p.response is None:
            return None
        del self._pending[action_id]
        return Reply(p.name, action_id, p.response, p.items, None, truncated=True)

    # -- receiving ------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Banner | Reply | Packet | Garbled]:
        parser = self.parser
        dropped = parser.dropped
        parser.feed(data)
        out: list[Banner | Reply | Packet | Garbled] = []
        for item in parser.packets():
            if isinstance(item, Banner):
                self.banner = item
                out.append(item)
            elif "event" in item.fields:
                # Before "response": OriginateResponse is an event with a Response header.
                self._on_event(item, out)
            elif "response" in item.fields:
                self._on_response(item, out)
            else:
                # Garbage between packets: it must not answer the oldest waiting action.
                out.append(Garbled("junk", repr(dict(item.fields))[:80]))
        if parser.dropped != dropped:
            out.append(Garbled("oversized"))
        return out

    def _on_response(self, packet: Packet, out: list[Banner | Reply | Packet]) -> None:
        action_id = packet.fields.get("actionid")
        p = self._pending.get(action_id) if action_id is not None else None
        if p is None and action_id is None:
            p = next((q for q in self._pending.values() if q.response is None), None)
        if p is None or p.response is not None:
            return  # a reply to an action we gave up on
        # Asterisk runs a session's actions one at a time, so a reply to this action means any
        # list sent before it is finished even if its end marker never came (FCM630A Queues).
        for earlier in list(self._pending.values()):
            if earlier is p:
                break
            if earlier.response is not None:
                out.append(self.end_list(earlier.action_id))  # type: ignore[arg-type]
        if packet.fields.get("eventlist", "").lower() == "start":
            p.response = packet
            return
        del self._pending[p.action_id]
        out.append(Reply(p.name, p.action_id, packet))

    def _on_event(self, packet: Packet, out: list[Banner | Reply | Packet]) -> None:
        action_id = packet.fields.get("actionid")
        if action_id is not None:
            p = self._pending.get(action_id)
            if p is not None and p.response is not None:
                if packet.fields.get("eventlist", "").lower() == "complete":
                    del self._pending[action_id]
                    out.append(Reply(p.name, action_id, p.response, p.items, packet))
                else:
                    p.items.append(packet)
                return
        out.append(packet)
