"""One AMI session of the simulator: line framing, authentication state, replies and events.

Rules (Asterisk 22 ``manager.c``, checked against the lab transcripts):

- Input is read as Asterisk's ``get_input`` reads it: a line ends at LF (a CR before it is
  dropped) and must end within 1024 bytes; otherwise the first 1023 bytes are thrown away, the
  rest is read on, and the message is answered ``Failed to parse message: line too long``
  (with the ActionID only if it came on an earlier line). An empty line ends a message, even an
  empty one (``Missing action in request``). More than 128 lines: ``Too many lines ...``.
- A session handles its actions one at a time. While an action waits (a synchronous
  Originate, the 1 s delay of a failed login), later input and events wait; events are held
  and written after the reply, as Asterisk's session thread does.
- Replies are written in one piece, so no event ever lands inside a list reply.
- Write timeout: the transport's write buffer has a high-water mark; when it is reached (the
  kernel's socket buffer is full too, i.e. the peer stopped reading) a timer of the account's
  ``writetimeout`` starts, and the connection is dropped if the buffer has not drained by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.ami.packet import Packet
from monitor.ami.parser import Parser
from monitor.ami.protocol import encode_packet

from .users import ALL, CLASSES, AmiUser

if TYPE_CHECKING:
    from .server import PbxSimulator

log = logging.getLogger(__name__)

MAX_LINE = 1024
MAX_HEADERS = 128
SYSTEM = CLASSES["system"]
SECURITY = CLASSES["security"]


class LineReader:
    """Asterisk's ``get_input``: bytes in, lines out; flags a line that did not fit."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.too_long = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        lines: list[bytes] = []
        buf = self.buf
        while buf:
            end = buf.find(b"\n", 0, MAX_LINE)
            if end == -1:
                if len(buf) < MAX_LINE:
                    break
                # Keep the last byte: it may be the CR of a CRLF that straddles the cut.
                del buf[: MAX_LINE - 1]
                self.too_long = True
                continue
            line = bytes(buf[:end])
            del buf[: end + 1]
            lines.append(line[:-1] if line.endswith(b"\r") else line)
        return lines


def _iso(ts: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}+0000"
    )


class Session(asyncio.Protocol):
    def __init__(self, server: PbxSimulator, *, tls: bool = False) -> None:
        self.server = server
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.reader = LineReader()
        self.parser = Parser(expect_banner=False, keep_key_case=True)
        self.lines: list[bytes] = []
        self.hdr_loss = False
        self.pending: deque[Packet | tuple[str, Packet]] = deque()
        self.out: list[bytes] = []
        self.afters: list[Callable[[], None]] = []
        self.held: list[bytes] = []
        self.busy = False
        self.closed = False
        self.stalled = False
        self.authenticated = False
        self.user: AmiUser | None = None
        self.username = ""
        self.readperm = 0
        self.writeperm = 0
        self.send_events = ALL
        self.write_timeout = server.default_write_timeout
        self.challenge = ""
        self.peer = ("", 0)
        self.local = ("", 0)
        self.started = time.time()
        self.session_id = f"0x{server.rng.getrandbits(40) | (0x7F << 40):x}"
        self._auth_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self.events_sent = 0
        self.disconnect_reason = ""

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.peer, self.local = (peer[0], peer[1]), (local[0], local[1])
        transport.set_write_buffer_limits(high=self.server.write_buffer_high)
        self.server.sessions.add(self)
        if self.server.faults.stall_new:
            # A hung PBX: the kernel accepts the connection, nothing ever answers.
            self.stall(True)
            return
        loop = asyncio.get_running_loop()
        self._auth_timer = loop.call_later(self.server.authtimeout, self._auth_expired)
        self._write(f"{self.server.dialect.banner}\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        for line in self.reader.feed(data):
            if line:
                if len(self.lines) < MAX_HEADERS:
                    self.lines.append(line)
                else:
                    self.hdr_loss = True
                continue
            self._message_done()
        self._pump()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.sessions.discard(self)
        for timer in (self._auth_timer, self._write_timer):
            if timer is not None:
                timer.cancel()

    def pause_writing(self) -> None:
        # The kernel buffer is full and ours passed its high-water mark: the peer is not reading.
        if self._write_timer is None and self.transport is not None:
            loop = asyncio.get_running_loop()
            self._write_timer = loop.call_later(self.write_timeout, self._write_expired)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # -- framing ------------------------------------------------------------------------------
    def _message_done(self) -> None:
        lines, self.lines = self.lines, []
        if self.hdr_loss:
            self.hdr_loss = False
            self.reader.too_long = False
            self.pending.append(
                ("Too many lines in message or allocation failure", self._packet(lines))
            )
        elif self.reader.too_long:
            self.reader.too_long = False
            self.pending.append(("Failed to parse message: line too long", self._packet(lines)))
        else:
            self.pending.append(self._packet(lines))

    def _packet(self, lines: list[bytes]) -> Packet:
        if not lines:
            return Packet({})
        self.parser.feed(b"\r\n".join(lines) + b"\r\n\r\n")
        got = self.parser.packets()
        return got[0] if got and isinstance(got[0], Packet) else Packet({})

    # -- processing ---------------------------------------------------------------------------
    def _pump(self) -> None:
        from .actions import process

        while self.pending and not (self.busy or self.closed or self.stalled):
            item = self.pending.popleft()
            if isinstance(item, tuple):
                self.error(item[1], item[0])
                result = None
            else:
                try:
                    result = process(self, item)
                except Exception:
                    # A simulator bug must not kill the session: log it, answer, go on.
                    log.exception("pbxsim: action %r failed", item.fields.get("action"))
                    self.out.clear()
                    self.error(item, "Internal simulator error")
                    result = None
            self.flush()
            if inspect.isawaitable(result):
                self.busy = True
                task = asyncio.ensure_future(result)
                task.add_done_callback(self._action_done)
                return

    def _action_done(self, task: asyncio.Future[object]) -> None:
        self.busy = False
        if not task.cancelled() and task.exception() is not None:
            log.error("pbxsim: action failed", exc_info=task.exception())
        self.flush()
        held, self.held = self.held, []
        for data in held:
            self._write(data)
        self._pump()

    def flush(self) -> None:
        if self.out:
            data, self.out = b"".join(self.out), []
            self._write(data)
        afters, self.afters = self.afters, []
        for fn in afters:
            try:
                fn()
            except Exception:
                log.exception("pbxsim: an action's follow-up failed")

    def after(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current reply is written (its events follow the reply)."""
        self.afters.append(fn)

    # -- replies (astman_send_* of manager.c) -------------------------------------------------
    @staticmethod
    def action_id(m: Packet) -> str | None:
        value = m.fields.get("actionid")
        return value if value else None

    def _id(self, m: Packet) -> list[tuple[str, str]]:
        aid = self.action_id(m)
        return [("ActionID", aid)] if aid is not None else []

    def send(self, pairs: list[tuple[str, str]]) -> None:
        self.out.append(encode_packet(pairs))

    def respond(self, m: Packet, status: str, *pairs: tuple[str, str]) -> None:
        self.send([("Response", status), *self._id(m), *pairs])

    def ack(self, m: Packet, message: str) -> None:
        self.respond(m, "Success", ("Message", message))

    def error(self, m: Packet, message: str) -> None:
        self.respond(m, "Error", ("Message", message))

    def list_start(self, m: Packet, message: str) -> None:
        self.respond(m, "Success", ("EventList", "start"), ("Message", message))

    def item(
        self, m: Packet, event: str, pairs: list[tuple[str, str]], *, id_last: bool = False
    ) -> None:
        """A list item; most carry the ActionID after ``Event:``, app_queue's at the end."""
        if id_last:
            self.send([("Event", event), *pairs, *self._id(m)])
        else:
            self.send([("Event", event), *self._id(m), *pairs])

    def list_complete(self, m: Packet, event: str, count: int, *extra: tuple[str, str]) -> None:
        if self.server.faults.take_truncation(m.fields.get("action", "")):
            return
        self.send(
            [
                ("Event", event),
                *self._id(m),
                ("EventList", "Complete"),
                ("ListItems", str(count)),
                *extra,
            ]
        )

    # -- events -------------------------------------------------------------------------------
    def wants(self, category: int) -> bool:
        return (
            self.authenticated
            and self.readperm & category == category
            and self.send_events & category == category
        )

    def deliver(self, data: bytes) -> None:
        if self.closed or self.stalled:
            return
        if self.busy:
            self.held.append(data)
            return
        self.events_sent += 1
        self._write(data)

    def security_event(self, name: str, severity: str, *pairs: tuple[str, str]) -> None:
        """Security events go to every session reading ``security`` (this one included)."""
        now = time.time()
        body = [
            ("EventTV", _iso(now)),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", "1"),
            *pairs,
        ]
        self.server.pbx.emit(name, "security", body)

    def address(self, which: str) -> str:
        host, port = self.local if which == "local" else self.peer
        family = "IPV6" if ":" in host else "IPV4"
        return f"{family}/{'TLS' if self.tls else 'TCP'}/{host}/{port}"

    @property
    def session_tv(self) -> str:
        return _iso(self.started)

    # -- wire ---------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport is None or self.closed or self.stalled:
            return
        if self.transport.get_write_buffer_size() > self.server.write_buffer_max:
            self._drop("write buffer overflow")
            return
        self.transport.write(data)

    def close(self) -> None:
        """Close after what is already written (a FIN, as after Logoff)."""
        self.flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0)."""
        self.closed = True
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _drop(self, reason: str) -> None:
        self.disconnect_reason = reason
        log.info("pbxsim: dropping %s (%s)", self.peer, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _write_expired(self) -> None:
        self._write_timer = None
        self._drop(f"write timeout ({self.write_timeout * 1000:.0f} ms)")

    def _auth_expired(self) -> None:
        self._auth_timer = None
        if not self.authenticated and not self.closed:
            self.disconnect_reason = "authtimeout"
            self.close()

    def logged_in(self, user: AmiUser) -> None:
        self.authenticated = True
        self.user = user
        self.username = user.username
        self.readperm, self.writeperm = user.read, user.write
        self.write_timeout = user.write_timeout
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    def stall(self, on: bool) -> None:
        self.stalled = on
        if self.transport is None or self.closed:
            return
        if on:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()
            self._pump()
