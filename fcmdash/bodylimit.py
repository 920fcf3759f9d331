"""An ASGI middleware that refuses an HTTP request body over a set size with 413.

Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is checked only once the body has been read, and
Daphne (or any ASGI server) reads the whole body before Django sees the request: a 1 GB POST
then costs 1 GB of memory. This middleware sits in front of Django, so the limit holds whatever
serves the app: a declared ``Content-Length`` over the limit is answered at once without reading
anything, and a body without one (chunked) is counted as its chunks arrive and answered as soon
as the count passes the limit. Whatever the server buffered so far is then dropped.

Daphne buffers a body before any ASGI application can see it, so under Daphne
:func:`limit_daphne` also limits what Daphne keeps.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOO_LARGE = b"Request body too large.\n"


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when the body passed the limit: ends the inner app's request."""


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` as an int, None when absent or not a number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def refuse(send: Send) -> None:
    """Answer 413 and tell the client the connection is done with (it may still be sending)."""
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(TOO_LARGE)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})


class BodyLimitMiddleware:
    """Wraps an ASGI app; HTTP requests whose body exceeds ``max_bytes`` get 413 instead.

    ``max_bytes`` 0 means no limit. The inner app never sees more than ``max_bytes`` of body:
    once the count passes it, the next ``receive`` raises :class:`BodyTooLarge` and the 413 goes
    out (unless the inner app had already started its own response, which it cannot have done
    for a body it had not finished reading in any app this project serves).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.max_bytes:
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.max_bytes:
            await refuse(send)
            return
        await self.counted(scope, receive, send)

    async def counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the inner app with a ``receive`` that counts body bytes and stops at the limit."""
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await refuse(send)


def limit_daphne(max_bytes: int) -> None:
    """Make Daphne itself keep at most ``max_bytes`` of a request body, and answer 413.

    Daphne (through Twisted) receives a whole body before the ASGI application runs, and then
    copies it into the application's queue at once: a 50 MB POST raised its peak memory by
    50 MB even though the middleware above refused it unread. Its request class is replaced by
    one that drops the body as soon as it is known to be too large (declared or counted) and
    answers 413 itself; the client's further bytes are read and discarded, never kept.
    Installed by fcmdash/asgi.py when Daphne is the server; ``max_bytes`` 0 does nothing.
    """
    if not max_bytes:
        return
    from daphne import http_protocol

    base = http_protocol.WebRequest
    if getattr(base, "max_body_bytes", None) is not None:
        return

    class LimitedWebRequest(base):
        max_body_bytes = max_bytes
        too_large = False
        received = 0

        def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
            # Declared too large: nothing is stored, whatever the client sends.
            self.too_large = length is not None and length > self.max_body_bytes
            super().gotLength(None if self.too_large else length)

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
            if self.too_large:
                return
            self.received += len(data)
            if self.received > self.max_body_bytes:
                self.too_large = True
                self.content.seek(0)
                self.content.truncate()
                return
            super().handleContentChunk(data)

        def process(self) -> Any:
            if not self.too_large:
                return super().process()
            self.request_start = time.time()
            self.basic_error(413, b"Request Entity Too Large", "Request body too large.")
            return None

    http_protocol.WebRequest = LimitedWebRequest
