"""The asyncio side of AMI: one connection, and a client that keeps one alive.

Rules:
- The read loop only feeds the sans-IO protocol and dispatches what comes out: a reply resolves
  its Future, an event goes into a bounded queue with ``put_nowait``. It never awaits anything
  else, because the FCM630A drops a client that does not read within its 100 ms write timeout.
- A full event queue is not allowed to stall the reader or to grow: the queued events are
  discarded and one :class:`Overflow` marker takes their place, so the consumer resynchronises.
- ``Ping`` runs only after login (before it, the PBX answers ``Permission denied``... and the
  FCM630A hangs up after 30 s without a login anyway). A Pong later than one keepalive period
  ends the connection: a half-open TCP link is noticed within about two periods.
- Secrets are never logged: the log lines name the user and the address, nothing else.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .config import AmiConfig
from .errors import (
    ActionRejected,
    ActionTimeout,
    AmiConnectionError,
    AmiError,
    AuthenticationFailed,
    ConnectionLost,
    NotAmiServer,
    TlsError,
)
from .events import WANTED_EVENTS
from .packet import Banner, Packet
from .protocol import Action, ClientProtocol, Garbled, Reply

log = logging.getLogger(__name__)

READ_SIZE = 65536


# -- what the consumer receives besides events ----------------------------------------------
@dataclass(frozen=True)
class Connected:
    """A session is up and logged in; everything mirrored before must be resynchronised."""

    banner: str
    version: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Disconnected:
    """The session ended; ``reason`` is a sentence for people, ``error`` the exception."""

    reason: str
    error: BaseException | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Overflow:
    """Events were dropped because the consumer fell behind; resynchronise."""

    dropped: int
    at: float = field(default_factory=time.time)


# Garbled (from .protocol): bytes of the PBX that were no packet; resynchronise.
Item = Packet | Connected | Disconnected | Overflow | Garbled


class EventQueue:
    """A bounded FIFO whose producer never waits.

    On overflow the backlog is thrown away and replaced by one :class:`Overflow`: a resync makes
    the backlog worthless, and keeping it would only delay the resync.
    """

    def __init__(self, maxsize: int = 20000) -> None:
        self._items: collections.deque[Item] = collections.deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self.overflows = 0
        self.dropped = 0

    def put_nowait(self, item: Item) -> None:
        if len(self._items) >= self._maxsize:
            dropped = sum(1 for i in self._items if isinstance(i, Packet)) + 1
            keep = [i for i in self._items if isinstance(i, (Connected, Disconnected))]
            self._items.clear()
            self._items.extend(keep)
            self._items.append(Overflow(dropped))
            self.overflows += 1
            self.dropped += dropped
            log.warning(
                "AMI: event consumer fell behind; dropped %d events, resync needed", dropped
            )
            if isinstance(item, Packet):
                self._ready.set()
                return
        self._items.append(item)
        self._ready.set()

    async def get(self) -> Item:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def get_nowait(self) -> Item:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def drain(self, limit: int | None = None) -> list[Item]:
        """Take up to ``limit`` queued items at once (all if None) without waiting."""
        n = len(self._items) if limit is None else min(limit, len(self._items))
        return [self._items.popleft() for _ in range(n)]

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


# -- one connection ---------------------------------------------------------------------
class AmiConnection:
    """One logged-in AMI session. Use :meth:`open`; events go to ``on_event``."""

    def __init__(
        self,
        config: AmiConfig,
        *,
        on_event: Callable[[Packet], None],
        keep_events: Iterable[str] | None = WANTED_EVENTS,
    ) -> None:
        self.config = config
        self._on_event = on_event
        self._protocol = ClientProtocol(keep_events=keep_events)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._waiters: dict[str, asyncio.Future[Reply]] = {}
        self._banner: asyncio.Future[Banner] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self.closed: asyncio.Future[BaseException | None] | None = None
        self.banner: Banner | None = None
        self.last_rx = 0.0
        self.login_event: Packet | None = None

    # public --------------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        config: AmiConfig,
        *,
        on_event: Callable[[Packet], None] = lambda p: None,
        keep_events: Iterable[str] | None = WANTED_EVENTS,
    ) -> AmiConnection:
        """Connect, check the banner, log in, start the keepalive. Raises an AmiError."""
        conn = cls(config, on_event=on_event, keep_events=keep_events)
        try:
            await conn._connect()
            await conn._login()
        except BaseException:
            await conn.close(logoff=False)
            raise
        conn._tasks.append(asyncio.create_task(conn._keepalive(), name="ami-keepalive"))
        return conn

    def set_event_sink(self, on_event: Callable[[Packet], None]) -> None:
        self._on_event = on_event

    @property
    def is_open(self) -> bool:
        return self.closed is not None and not self.closed.done()

    @property
    def stats(self) -> dict[str, int]:
        p = self._protocol.parser
        return {"bytes_in": p.bytes_in, "skipped": p.skipped, "dropped": p.dropped}

    async def send(
        self, action: Action, *, timeout: float | None = None, check: bool = True
    ) -> Reply:
        """Send ``action`` and return its reply (a list reply has its items).

        Raises ActionRejected before sending anything unsafe, ActionTimeout, ConnectionLost, and
        with ``check`` the ActionError family for ``Response: Error``.
        """
        if not self.is_open or self._writer is None:
            raise ConnectionLost(f"{action.name}: not connected to the PBX")
        action_id, data = self._protocol.send(action)  # raises ActionRejected first
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters[action_id] = fut
        try:
            self._writer.write(data)
            reply = await self._wait(action, action_id, fut, timeout or self.config.action_timeout)
        finally:
            self._waiters.pop(action_id, None)
            self._protocol.forget(action_id)
        return reply.raise_for_error() if check else reply

    async def close(self, *, logoff: bool = True, reason: str = "closed by fcmdash") -> None:
        """Log off (politely, briefly) and close. Never raises."""
        if self._closing:
            if self.closed is not None:
                await asyncio.shield(self.closed)
            return
        self._closing = True
        if logoff and self.is_open:
            with contextlib.suppress(AmiError, OSError):
                await self.send(Action("Logoff"), timeout=2.0, check=False)
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        self._finish(None, reason)

    def abort(self, error: BaseException) -> None:
        """Drop the connection at once (a dead peer): no Logoff, no waiting."""
        if self._writer is not None:
            transport = self._writer.transport
            transport.abort()
        self._finish(error, str(error))

    async def wait_closed(self) -> BaseException | None:
        assert self.closed is not None
        return await asyncio.shield(self.closed)

    # connection ----------------------------------------------------------------------
    async def _connect(self) -> None:
        cfg = self.config
        ctx = cfg.ssl_context()
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        self._banner = loop.create_future()
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    cfg.host,
                    cfg.port,
                    ssl=ctx,
                    server_hostname=(cfg.server_name or cfg.host) if ctx else None,
                    limit=READ_SIZE,
                ),
                cfg.connect_timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(
                f"TLS certificate of {cfg.address} does not verify ({exc.verify_message}); "
                "give its CA file, pin its fingerprint, or allow an unverified certificate"
            ) from exc
        except ssl.SSLError as exc:
            raise TlsError(f"TLS handshake with {cfg.address} failed: {exc.reason or exc}") from exc
        except ConnectionRefusedError as exc:
            raise AmiConnectionError(
                f"{cfg.address} refused the connection: is AMI enabled on that port "
                "(FCM630A: 7777, TLS 5039)?"
            ) from exc
        except TimeoutError as exc:
            raise AmiConnectionError(
                f"no answer from {cfg.address} within {cfg.connect_timeout:g} s"
            ) from exc
        except OSError as exc:
            raise AmiConnectionError(
                f"cannot connect to {cfg.address}: {exc.strerror or exc}"
            ) from exc
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if cfg.tls == "pin":
            self._check_pin()
        self._tasks.append(asyncio.create_task(self._read_loop(), name="ami-reader"))
        try:
            banner = await asyncio.wait_for(asyncio.shield(self._banner), cfg.connect_timeout)
        except TimeoutError as exc:
            raise AmiConnectionError(
                f"{cfg.address} sent no AMI banner within {cfg.connect_timeout:g} s"
            ) from exc
        if not banner.is_ami:
            raise NotAmiServer(
                # Not what it sent: an SSH or HTTP greeting names software and versions, and
                # this text reaches the admin and the logs.
                f"{cfg.address} is not an AMI server"
            )
        self.banner = banner

    def _check_pin(self) -> None:
        assert self._writer is not None
        sslobj = self._writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj else None
        got = hashlib.sha256(der or b"").digest()
        if got != self.config.pinned_sha256:
            raise TlsError(
                f"TLS certificate of {self.config.address} has fingerprint sha256:{got.hex()}, "
                "not the pinned one"
            )

    async def _login(self) -> None:
        try:
            await self._send_login()
        except ActionRejected as exc:
            # A user name or secret that cannot go on the wire (a line break typed into the
            # admin): nothing was sent. A login failure, retried as slowly as one.
            raise AuthenticationFailed(
                f"AMI login as {self.config.username!r} at {self.config.address} not attempted: "
                f"{exc}; correct the AMI user or secret of this PBX"
            ) from None

    async def _send_login(self) -> None:
        cfg = self.config
        events = "on" if cfg.events else "off"
        if cfg.auth == "md5":
            challenge = await self.send(Action("Challenge", AuthType="MD5"), check=False)
            nonce = challenge.response.get("challenge") or ""
            if not challenge.ok or not nonce:
                raise AuthenticationFailed(
                    f"{cfg.address} refused the MD5 challenge ({challenge.message or 'no nonce'})"
                )
            key = hashlib.md5((nonce + cfg.secret).encode()).hexdigest()
            login = Action("Login", Username=cfg.username, AuthType="MD5", Key=key, Events=events)
        else:
            login = Action("Login", Username=cfg.username, Secret=cfg.secret, Events=events)
        reply = await self.send(login, check=False)
        if not reply.ok:
            raise AuthenticationFailed(
                f"AMI login as {cfg.username!r} at {cfg.address} failed ({reply.message}): wrong "
                "user or secret, or this address is not in the user's Permitted IP(s) on the PBX"
            )

    async def _wait(
        self, action: Action, action_id: str, fut: asyncio.Future[Reply], timeout: float
    ) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        gap = self.config.list_quiet_gap
        last_items = -1
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ActionTimeout(action.name, timeout)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), min(gap, remaining))
            except TimeoutError:
                if fut.done():
                    return fut.result()
                size = self._protocol.list_size(action_id)
                if size is not None and size == last_items:
                    # A list whose end marker never comes (the FCM630A ``Queues`` form):
                    # silence for a whole gap means it is over.
                    reply = self._protocol.end_list(action_id)
                    if reply is not None:
                        return reply
                last_items = size if size is not None else -1

    async def _read_loop(self) -> None:
        assert self._reader is not None
        error: BaseException | None = None
        reason = "the PBX closed the connection"
        try:
            while data := await self._reader.read(READ_SIZE):
                self.last_rx = time.monotonic()
                for item in self._protocol.receive_data(data):
                    self._dispatch(item)
            self._protocol.receive_data(b"")
        except asyncio.CancelledError:
            raise
        except (OSError, ssl.SSLError) as exc:
            error = exc
            reason = f"connection to {self.config.address} lost: {exc}"
        except Exception as exc:  # a bug of ours: say so loudly, then reconnect
            log.exception("AMI: read loop failed")
            error, reason = exc, f"internal error while reading: {exc!r}"
        self._finish(error or ConnectionLost(reason), reason)

    def _dispatch(self, item: Banner | Reply | Packet | Garbled) -> None:
        if isinstance(item, Reply):
            fut = self._waiters.get(item.action_id)
            if fut is not None and not fut.done():
                fut.set_result(item)
        elif isinstance(item, (Packet, Garbled)):
            self._on_event(item)  # type: ignore[arg-type]
        elif self._banner is not None and not self._banner.done():
            self._banner.set_result(item)

    def _finish(self, error: BaseException | None, reason: str) -> None:
        if self.closed is None or self.closed.done():
            return
        lost = error if isinstance(error, AmiError) else ConnectionLost(reason)
        if error is not None and lost is not error:
            lost.__cause__ = error
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(lost)
        if self._banner is not None and not self._banner.done():
            self._banner.set_exception(
                AmiConnectionError(f"{self.config.address} closed the connection before its banner")
            )
            self._banner.exception()  # mark retrieved: nobody may be waiting any more
        # Consumers get an AmiError with a sentence for people, never a bare OSError.
        self.closed.set_result(lost if error is not None else None)
        for task in self._tasks:
            if task is not asyncio.current_task() and not task.done():
                task.cancel()
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()

    async def _keepalive(self) -> None:
        period = self.config.keepalive
        while self.is_open:
            await asyncio.sleep(period)
            try:
                await self.send(Action("Ping"), timeout=period, check=False)
            except ActionTimeout:
                self.abort(
                    ConnectionLost(
                        f"no Pong from {self.config.address} within {period:g} s: "
                        "the PBX or the network is gone (half-open connection)"
                    )
                )
                return
            except AmiError:
                return


# -- the client that keeps a session alive -------------------------------------------
class Backoff:
    """Exponential backoff with jitter, and a floor for repeated failures: the FCM630A may
    lock out an address that keeps failing, so once failures repeat the PBX sees at most one
    attempt per ``cap`` seconds (connections) or ``auth_floor`` seconds (logins, from the second
    failed one on). The jitter only lengthens a delay that reached the cap or a floor.

    The count starts again only after a session that lasted ``stable_after`` seconds
    (:class:`AmiClient`): a PBX that accepts the login and drops the session at once is a
    failure too, not a reason to retry at full speed.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        auth_floor: float = 30.0,
        *,
        auth_first: float = 5.0,
        stable_after: float = 30.0,
    ) -> None:
        self.base, self.cap, self.auth_floor = base, cap, auth_floor
        self.auth_first, self.stable_after = auth_first, stable_after
        self.failures = 0
        self.auth_failures = 0

    def reset(self) -> None:
        self.failures = self.auth_failures = 0

    def next_delay(self, error: BaseException | None) -> float:
        self.failures += 1
        raw = self.base * 2 ** (self.failures - 1)
        if raw >= self.cap:
            delay = self.cap * random.uniform(1.0, 1.25)
        else:
            delay = min(raw * random.uniform(0.75, 1.25), self.cap)
        if isinstance(error, AuthenticationFailed):
            self.auth_failures += 1
            if self.auth_failures >= 2:
                return max(delay, self.auth_floor * random.uniform(1.0, 1.2))
            return max(delay, self.auth_first)
        return delay


class AmiClient:
    """Keeps one AMI session to one PBX alive and feeds a single consumer.

    ``events`` yields live :class:`Packet` events and :class:`Connected`,
    :class:`Disconnected`, :class:`Overflow` markers, in order.
    """

    def __init__(
        self,
        config: AmiConfig,
        *,
        queue_size: int = 20000,
        keep_events: Iterable[str] | None = WANTED_EVENTS,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.events = EventQueue(queue_size)
        self.keep_events = keep_events
        self.backoff = backoff or Backoff()
        self.connection: AmiConnection | None = None
        self.reconnects = 0
        self.last_error: str = ""
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.is_open

    async def wait_connected(self, timeout: float | None = None) -> AmiConnection:
        await asyncio.wait_for(self._connected.wait(), timeout)
        assert self.connection is not None
        return self.connection

    async def send(self, action: Action, **kwargs: object) -> Reply:
        conn = self.connection
        if conn is None or not conn.is_open:
            raise ConnectionLost(
                f"{action.name}: not connected to the PBX ({self.last_error or 'connecting'})"
            )
        return await conn.send(action, **kwargs)  # type: ignore[arg-type]

    async def run(self) -> None:
        """Connect, and reconnect after every loss, until :meth:`stop`."""
        while not self._stopping.is_set():
            # Events that arrive during login (FullyBooted) must follow the Connected marker,
            # or the consumer would apply them to the session that just ended.
            early: list[Packet] = []
            try:
                conn = await AmiConnection.open(
                    self.config, on_event=early.append, keep_events=self.keep_events
                )
            except AmiError as exc:
                await self._lost(exc, str(exc))
                continue
            self.connection = conn
            up_since = time.monotonic()
            self.last_error = ""
            banner = conn.banner.text if conn.banner else ""
            log.info(
                "AMI: connected to %s as %s (%s)", self.config.address, self.config.username, banner
            )
            self.events.put_nowait(Connected(banner, conn.banner.version if conn.banner else ""))
            for packet in early:
                self.events.put_nowait(packet)
            conn.set_event_sink(self.events.put_nowait)
            self._connected.set()
            stop = asyncio.create_task(self._stopping.wait())
            closed = asyncio.ensure_future(conn.wait_closed())
            await asyncio.wait({stop, closed}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            self._connected.clear()
            if self._stopping.is_set():
                closed.cancel()
                await conn.close(logoff=True)
                self.events.put_nowait(Disconnected("fcmdash stopped"))
                return
            error = closed.result()
            self.reconnects += 1
            if time.monotonic() - up_since >= self.backoff.stable_after:
                self.backoff.reset()
            await self._lost(error, str(error) if error else "the PBX closed the connection")

    async def _lost(self, error: BaseException | None, reason: str) -> None:
        self.last_error = reason
        self.connection = None
        self.events.put_nowait(Disconnected(reason, error))
        delay = self.backoff.next_delay(error)
        log.warning("AMI: %s; retrying in %.1f s", reason, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def stop(self) -> None:
        """Log off and stop reconnecting."""
        self._stopping.set()
        if self.connection is not None:
            await self.connection.close(logoff=True)
