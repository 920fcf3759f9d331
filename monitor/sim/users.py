"""AMI accounts of the simulated PBX: secrets, read/write classes, permitted addresses.

Class bits and the text forms are Asterisk's (``manager.c`` ``perms[]``): an account's ``read``
classes decide which events it gets, its ``write`` classes which actions it may run, and
``Events:`` / ``EventMask:`` narrow the events of one session further.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

CLASSES: dict[str, int] = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
ALL = sum(CLASSES.values())

_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}


def class_mask(text: str) -> int:
    """``"call,agent"`` -> bit mask; ``all`` and ``none`` as in manager.conf."""
    mask = 0
    for word in text.lower().replace(" ", "").split(","):
        if word == "all":
            mask |= ALL
        elif word in CLASSES:
            mask |= CLASSES[word]
    return mask


def class_names(mask: int) -> str:
    """Bit mask -> ``"system,call"`` in Asterisk's order; ``<none>`` when empty."""
    names = [name for name, bit in CLASSES.items() if mask & bit]
    return ",".join(names) if names else "<none>"


def event_mask(text: str) -> int | None:
    """The value of ``Events:`` / ``EventMask:`` as Asterisk's ``strings_to_mask`` reads it.

    Returns None for an empty value (Asterisk answers ``Invalid event mask``). A number is
    taken as a raw mask, so ``EventMask: 1`` means the system class only, as in Asterisk.
    """
    value = text.strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    low = value.lower()
    if low in _FALSE:
        return 0
    if low in _TRUE:
        return ALL
    return class_mask(value)


@dataclass(frozen=True)
class AmiUser:
    """One ``[user]`` section of manager.conf (an FCM630A "AMI user")."""

    username: str
    secret: str
    read: int = ALL
    write: int = ALL
    # The FCM630A's "Permitted IP(s)": an empty list denies every address.
    permit: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default_factory=lambda: networks(["127.0.0.1/32", "::1/128"])
    )
    write_timeout: float = 0.1  # seconds; manager.conf writetimeout is 100 ms by default

    @classmethod
    def make(
        cls,
        username: str,
        secret: str,
        read: str = "all",
        write: str = "all",
        permit: Iterable[str] = ("127.0.0.1/32", "::1/128"),
        write_timeout: float = 0.1,
    ) -> AmiUser:
        return cls(
            username, secret, class_mask(read), class_mask(write), networks(permit), write_timeout
        )

    def permits(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.permit if net.version == ip.version)


def networks(texts: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in texts)


def default_users() -> dict[str, AmiUser]:
    """The lab's two accounts (``tests/fixtures/ami-transcripts/README.md``)."""
    users = [
        AmiUser.make("admin123", "admin123", "all", "all"),
        AmiUser.make(
            "wallboard1",
            "wb1pass9",
            "call,agent,reporting,system",
            "call,agent,reporting,originate,command",
        ),
    ]
    return {u.username.lower(): u for u in users}
