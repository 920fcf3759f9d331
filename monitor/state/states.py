"""Vocabularies and small field parsers shared by the live-state engine.

One device-state vocabulary for everything the PBX reports in four spellings
(``AMI-REFERENCE.md`` §4): ``DeviceStateChange`` tokens (``NOT_INUSE``), ``PJSIPShowEndpoints``
text (``Not in use``), queue-member numbers (``1``) and ``ExtensionStatus`` bit sets (``0``).
Every parser here returns a default instead of raising: a field the PBX garbled must not stop
the event stream.
"""

from __future__ import annotations

NOT_INUSE = "not_inuse"
INUSE = "inuse"
BUSY = "busy"
RINGING = "ringing"
RINGINUSE = "ringinuse"
ONHOLD = "onhold"
UNAVAILABLE = "unavailable"
INVALID = "invalid"
UNKNOWN = "unknown"

DEVICE_STATES: tuple[str, ...] = (
    NOT_INUSE,
    INUSE,
    BUSY,
    RINGING,
    RINGINUSE,
    ONHOLD,
    UNAVAILABLE,
    INVALID,
    UNKNOWN,
)

# DeviceStateChange tokens and EndpointList text, lower-cased, in one table: they never collide.
_DEVICE_WORDS = {
    "unknown": UNKNOWN,
    "not_inuse": NOT_INUSE,
    "not in use": NOT_INUSE,
    "inuse": INUSE,
    "in use": INUSE,
    "busy": BUSY,
    "invalid": INVALID,
    "unavailable": UNAVAILABLE,
    "ringing": RINGING,
    "ringinuse": RINGINUSE,
    "ring+inuse": RINGINUSE,
    "onhold": ONHOLD,
    "on hold": ONHOLD,
}

# QueueMember* ``Status``: the ``enum ast_device_state`` number.
_DEVICE_NUMBERS = {
    "0": UNKNOWN,
    "1": NOT_INUSE,
    "2": INUSE,
    "3": BUSY,
    "4": INVALID,
    "5": UNAVAILABLE,
    "6": RINGING,
    "7": RINGINUSE,
    "8": ONHOLD,
}

# ExtensionStatus ``Status``: a bit set (1 inuse, 2 busy, 4 unavailable, 8 ringing, 16 hold).
_HINT_CODES = {
    0: NOT_INUSE,
    1: INUSE,
    2: BUSY,
    4: UNAVAILABLE,
    8: RINGING,
    9: RINGINUSE,
    16: ONHOLD,
    17: ONHOLD,
}
HINT_REMOVED = "removed"  # -1 hint deactivated, -2 extension removed


def device_state(text: str | None) -> str:
    """``NOT_INUSE`` / ``Not in use`` / ``Ring+Inuse`` ... -> the normalised state."""
    if not text:
        return UNKNOWN
    return _DEVICE_WORDS.get(text.strip().lower(), UNKNOWN)


def member_status(number: str | None) -> str:
    """Queue member ``Status`` (0-8) -> the normalised state."""
    if number is None:
        return UNKNOWN
    return _DEVICE_NUMBERS.get(number.strip(), UNKNOWN)


def hint_state(number: str | None) -> str:
    """ExtensionStatus ``Status`` -> the normalised state, or ``HINT_REMOVED`` for -1/-2."""
    code = to_int(number, None)
    if code is None:
        return UNKNOWN
    if code < 0:
        return HINT_REMOVED
    state = _HINT_CODES.get(code)
    if state is not None:
        return state
    # Other combinations: the most telling bit wins, as the wallboard shows one colour.
    if code & 8:
        return RINGINUSE if code & 1 else RINGING
    if code & 16:
        return ONHOLD
    if code & 1:
        return INUSE
    if code & 2:
        return BUSY
    if code & 4:
        return UNAVAILABLE
    return UNKNOWN


# -- field parsers ---------------------------------------------------------------------------
def to_int(value: str | None, default: int | None = 0) -> int | None:
    if value is None:
        return default
    try:
        return int(value.strip())
    except ValueError:
        try:
            return int(float(value))
        except (ValueError, OverflowError):
            return default


def to_float(value: str | None, default: float | None = 0.0) -> float | None:
    if value is None:
        return default
    try:
        return float(value.strip().rstrip("%"))
    except ValueError:
        return default


def to_bool(value: str | None, default: bool | None = False) -> bool | None:
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    return default


def epoch(value: str | None) -> float | None:
    """An epoch-seconds field where ``0`` means never (LastCall, LastPause, LoginTime)."""
    t = to_float(value, None)
    return t if t else None


def event_time(fields: dict[str, str], now: float) -> float:
    """The ``Timestamp: <unix>.<usec>`` header (``timestampevents = yes``), else ``now``."""
    stamp = fields.get("timestamp")
    if stamp is None:
        return now
    t = to_float(stamp, None)
    return now if t is None else t


def duration(value: str | None) -> int | None:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> seconds."""
    if not value:
        return None
    total = 0
    for part in value.strip().split(":"):
        if not part.isdigit():
            return None
        total = total * 60 + int(part)
    return total


def service_level(value: str | None) -> tuple[int | None, float | None]:
    """The FCM630A ``ServiceLevel: SL:92.5% within 20s`` -> (20, 92.5)."""
    if not value:
        return None, None
    text = value.strip()
    if text.upper().startswith("SL:"):
        text = text[3:]
    perf, _, rest = text.partition(" within ")
    seconds = rest.strip().rstrip("s")
    return to_int(seconds, None), to_float(perf, None)


_UNESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


def caller_text(value: str | None) -> str:
    """A caller-ID / connected-line field for display.

    ``<unknown>`` (channel snapshots) and ``unknown`` (QueueEntry) mean empty, and Asterisk
    C-escapes quotes, backslashes and control characters in snapshot names.
    """
    if not value or value == "<unknown>" or value == "unknown":
        return ""
    if "\\" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n:
            out.append(_UNESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# -- names -----------------------------------------------------------------------------------
ENDPOINT_TECH = "PJSIP"
_TECH_PREFIX = ENDPOINT_TECH + "/"


def device_resource(device: str | None) -> str | None:
    """``PJSIP/1001`` -> ``1001``; other devices (``Queue:...``, ``Custom:...``) -> None."""
    if not device or not device.startswith(_TECH_PREFIX):
        return None
    resource = device[len(_TECH_PREFIX) :]
    return resource or None


def channel_resource(channel: str | None) -> str | None:
    """``PJSIP/1001-00000004`` -> ``1001``; ``Local/...`` and other technologies -> None."""
    if not channel or not channel.startswith(_TECH_PREFIX):
        return None
    base, sep, _ = channel[len(_TECH_PREFIX) :].rpartition("-")
    return base if sep and base else None


def hint_resource(hint: str | None) -> str | None:
    """The endpoint of a hint that names exactly one PJSIP device, else None.

    ``PJSIP/1001`` -> ``1001``; ``PJSIP/1001&PJSIP/1001b`` combines devices and says nothing
    about either; ``PJSIP/1001,CustomPresence:1001`` carries presence after the comma.
    """
    if not hint:
        return None
    devices = hint.partition(",")[0]
    if "&" in devices:
        return None
    return device_resource(devices.strip())


def local_partner(channel: str) -> str | None:
    """``Local/x@ctx-0000000c;1`` <-> ``...;2``: the other half of a Local channel pair."""
    if channel.startswith("Local/") and len(channel) > 2 and channel[-2] == ";":
        last = channel[-1]
        if last == "1":
            return channel[:-1] + "2"
        if last == "2":
            return channel[:-1] + "1"
    return None


def contact_uris(values: list[str]) -> list[str]:
    """EndpointList ``Contacts`` lines (``1001/sip:1001@host:5060,``, key may repeat) -> URIs."""
    uris: list[str] = []
    for value in values:
        for entry in value.split(","):
            entry = entry.strip()
            if not entry:
                continue
            aor, sep, uri = entry.partition("/")
            uris.append(uri if sep and ":" not in aor else entry)
    return uris
