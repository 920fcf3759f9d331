"""Log output: one line per record on stdout, passwords masked.

The AMI layer never logs secrets. The masking is a second line of defence for a URL or a packet
that ends up in an exception message: ``ami://user:***@host``, ``Secret: ***``.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_SECRET_FIELD = re.compile(
    r"(?P<head>(?:secret|password)\b['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+", re.IGNORECASE
)


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and ``secret``/``password`` values replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _SECRET_FIELD.sub(r"\g<head>***", text)


class LineFormatter(logging.Formatter):
    """Formats a record, traceback included, as one line with secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        text = mask_secrets(super().format(record))
        return text.replace("\r", "\\r").replace("\n", "\\n")


class StdoutHandler(logging.StreamHandler):
    """Writes to ``sys.stdout`` as it is at each record, not as it was at start-up.

    pytest's capture swaps ``sys.stdout`` per test and closes its own at the end; a handler that
    kept the object it was given would write to a closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ and setStream assign it; sys.stdout always wins.
