"""The live update's message header (``monitor/outbox.py``), as the page reads and answers it."""

from __future__ import annotations

import re

HEADER = re.compile(r"<!--(\d+) ([0-9a-f]+)-->\n")


def body(message: str) -> str:
    """A message without its header; fails when it has none."""
    assert HEADER.match(message), message[:80]
    return HEADER.sub("", message, count=1)


def ack_of(message: str) -> str:
    """What the page answers once it applied ``message``."""
    return " ".join(HEADER.match(message).groups())
