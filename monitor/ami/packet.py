"""What the AMI parser hands out: the banner line and packets.

Keys are stored lower-cased because Asterisk matches header names case-insensitively
(``astman_get_header`` uses ``strncasecmp``); values are kept exactly as received, decoded
with :func:`decode` so that no byte is ever lost or raises.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

DECODE_ERRORS = "ami-latin1"  # the codec error handler that decode() uses


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    # Caller-ID names arrive as Latin-1/CP1252 or as UTF-8 cut in the middle of a sequence.
    # Each undecodable byte becomes the Latin-1 character of the same value: nothing is dropped,
    # valid UTF-8 around it still decodes, and the text stays encodable for HTML, JSON and SQL
    # (``surrogateescape`` would leave lone surrogates that PostgreSQL and templates refuse).
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bytes(bad).decode("latin-1"), exc.end


codecs.register_error(DECODE_ERRORS, _latin1_fallback)


def decode(raw: bytes) -> str:
    """Decode AMI bytes: UTF-8 where valid, Latin-1 byte by byte where not. Never raises."""
    return raw.decode("utf-8", DECODE_ERRORS)


@dataclass(frozen=True, slots=True)
class Banner:
    """The first line a server sends, e.g. ``Asterisk Call Manager/11.0.0``."""

    text: str

    @property
    def is_ami(self) -> bool:
        return self.text.startswith("Asterisk Call Manager/")

    @property
    def version(self) -> str:
        return self.text.rpartition("/")[2] if self.is_ami else ""


class Packet:
    """One AMI packet: a Response, an Event or (on the server side) an Action.

    ``fields`` maps lower-cased keys to the first value seen; repeated keys (``Output``,
    ``Variable``, ``Contacts``, ``ChanVariable``) keep every value, in order, in ``get_all``.
    ``seq`` is the packet's position in its connection's stream, so that a consumer can tell
    whether an event is older or newer than a list snapshot.
    """

    __slots__ = ("fields", "_repeats", "seq", "keys")

    def __init__(
        self,
        fields: dict[str, str],
        repeats: dict[str, list[str]] | None = None,
        seq: int = 0,
        keys: tuple[str, ...] = (),
    ) -> None:
        self.fields = fields
        self._repeats = repeats
        self.seq = seq
        # The keys as the peer spelled them, in order; only kept where a reader asks for it.
        self.keys = keys

    @classmethod
    def from_pairs(
        cls, pairs: list[tuple[str, str]] | tuple[tuple[str, str], ...], seq: int = 0
    ) -> Packet:
        fields: dict[str, str] = {}
        repeats: dict[str, list[str]] | None = None
        for key, value in pairs:
            low = key.lower()
            if low in fields:
                if repeats is None:
                    repeats = {}
                repeats.setdefault(low, [fields[low]]).append(value)
            else:
                fields[low] = value
        return cls(fields, repeats, seq, tuple(k for k, _ in pairs))

    # -- kind ---------------------------------------------------------------------------
    @property
    def is_response(self) -> bool:
        return "response" in self.fields

    @property
    def is_event(self) -> bool:
        return "event" in self.fields

    @property
    def is_action(self) -> bool:
        return "action" in self.fields

    @property
    def name(self) -> str:
        """Event name, Response status or Action name, whichever this packet is."""
        f = self.fields
        return f.get("event") or f.get("response") or f.get("action") or ""

    @property
    def action_id(self) -> str | None:
        return self.fields.get("actionid")

    @property
    def message(self) -> str:
        return self.fields.get("message", "").strip()

    # -- access -------------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return self.fields[key.lower()]

    def __contains__(self, key: str) -> bool:
        return key.lower() in self.fields

    def get_all(self, key: str) -> list[str]:
        low = key.lower()
        if self._repeats and low in self._repeats:
            return list(self._repeats[low])
        return [self.fields[low]] if low in self.fields else []

    def items(self) -> list[tuple[str, str]]:
        """Every (lower-cased key, value) pair, repeated keys included."""
        out: list[tuple[str, str]] = []
        for key, value in self.fields.items():
            if self._repeats and key in self._repeats:
                out.extend((key, v) for v in self._repeats[key])
            else:
                out.append((key, value))
        return out

    def __repr__(self) -> str:
        return f"<Packet #{self.seq} {self.name!r} {dict(self.fields)!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return self.items() == other.items()

    __hash__ = None  # type: ignore[assignment]
