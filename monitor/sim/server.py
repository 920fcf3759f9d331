"""The simulator as a real asyncio AMI server on 127.0.0.1 / ::1, usable in-process.

    async with PbxSimulator(dialect="asterisk") as sim:     # the lab PBX, ephemeral ports
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        ...
        sim.pbx.calls.answer("PJSIP/1002-00000001")        # drive the PBX
        sim.faults.drop_all(rst=True)                       # break things
        assert sim.snapshot()["channels"] == {}             # the ground truth

It never needs Django. ``python -m monitor.sim`` and ``manage.py pbxsim`` wrap it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import dialects, lab
from .faults import Faults
from .pbx import Pbx
from .session import Session
from .tls import server_context
from .users import AmiUser, default_users

log = logging.getLogger(__name__)


class PbxSimulator:
    """A simulated PBX with its AMI listeners.

    ``port=0`` / ``tls_port=0`` pick free ports (read them back from ``sim.port`` /
    ``sim.tls_port`` after start); ``tls_port=None`` means no TLS listener. Without
    ``extensions`` the PBX is the lab's; with it, a generated call centre of that size.
    Delays are configurable so that tests run in milliseconds: ``auth_fail_delay`` (1 s in
    Asterisk), ``authtimeout`` (30 s), ``time_scale`` (multiplies every call timer).
    """

    def __init__(
        self,
        *,
        dialect: str | dialects.Dialect = "asterisk",
        host: str | Iterable[str] = "127.0.0.1",
        port: int = 0,
        tls_port: int | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        users: Iterable[AmiUser] | None = None,
        extensions: int | None = None,
        queues: int = 0,
        members_per_queue: int = 0,
        seed: int = 0,
        timestampevents: bool = False,
        authtimeout: float = 30.0,
        auth_fail_delay: float = 1.0,
        write_timeout: float | None = None,
        write_buffer_high: int = 64 * 1024,
        write_buffer_max: int = 64 * 1024 * 1024,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dialect = dialects.get(dialect) if isinstance(dialect, str) else dialect
        self.hosts = [host] if isinstance(host, str) else list(host)
        self._port, self._tls_port = port, tls_port
        self._certfile, self._keyfile = certfile, keyfile
        self.rng = random.Random(seed)
        self.seed = seed
        self.users: dict[str, AmiUser] = (
            {u.username.lower(): u for u in users} if users is not None else default_users()
        )
        if write_timeout is not None:
            self.users = {
                k: AmiUser(u.username, u.secret, u.read, u.write, u.permit, write_timeout)
                for k, u in self.users.items()
            }
        self.default_write_timeout = write_timeout if write_timeout is not None else 0.1
        self.authtimeout = authtimeout
        self.auth_fail_delay = auth_fail_delay
        self.write_buffer_high = write_buffer_high
        self.write_buffer_max = write_buffer_max
        self.pbx = Pbx(
            dialect=self.dialect, clock=clock, timestampevents=timestampevents, seed=seed
        )
        self.pbx.calls.time_scale = time_scale
        if extensions is None:
            lab.build_lab(self.pbx)
        else:
            lab.build_generated(
                self.pbx,
                extensions=extensions,
                queues=queues,
                members_per_queue=members_per_queue,
                seed=seed,
            )
        self.pbx.listeners.append(self.broadcast)
        self.sessions: set[Session] = set()
        self.faults = Faults(self)
        self.port = 0
        self.tls_port: int | None = None
        self.listening = False
        self.shutting_down = False
        self._servers: list[asyncio.AbstractServer] = []
        self._ssl: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.scenario: Any = None

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> PbxSimulator:
        if self._tls_port is not None:
            self._ssl = server_context(self._certfile, self._keyfile)
        await self.listen()
        return self

    async def listen(self) -> None:
        """Open the listeners (again, on the same ports after a restart or refusal)."""
        if self.listening:
            return
        self.port = await self._bind(lambda: Session(self), self.port or self._port, None)
        if self._ssl is not None:
            tls_port = self.tls_port if self.tls_port is not None else self._tls_port or 0
            self.tls_port = await self._bind(lambda: Session(self, tls=True), tls_port, self._ssl)
        self.listening = True

    async def _bind(
        self, factory: Callable[[], Session], port: int, ctx: ssl.SSLContext | None
    ) -> int:
        # One port for every address: the first bind picks it (port 0), the others reuse it.
        loop = asyncio.get_running_loop()
        for host in self.hosts:
            srv = await loop.create_server(factory, host, port, ssl=ctx)
            self._servers.append(srv)
            port = srv.sockets[0].getsockname()[1]
        return port

    def close_listeners(self) -> None:
        """Close the listening sockets now: new connections are refused, sessions stay."""
        servers, self._servers = self._servers, []
        for srv in servers:
            srv.close()
        self.listening = False

    async def unlisten(self) -> None:
        self.close_listeners()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        if self.scenario is not None:
            await self.scenario.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.unlisten()
        for s in list(self.sessions):
            s.close()
        self.pbx.calls.reset()
        await asyncio.sleep(0)

    async def __aenter__(self) -> PbxSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a background coroutine owned by the simulator (cancelled on stop)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- events -------------------------------------------------------------------------------
    def broadcast(self, category: int, data: bytes) -> None:
        for s in self.sessions:
            if s.wants(category):
                s.deliver(data)

    def snapshot(self) -> dict[str, object]:
        """The PBX's ground truth (see :meth:`monitor.sim.pbx.Pbx.snapshot`)."""
        return self.pbx.snapshot()

    def add_user(
        self,
        username: str,
        secret: str,
        read: str = "all",
        write: str = "all",
        permit: Iterable[str] = ("127.0.0.1/32", "::1/128"),
        write_timeout: float | None = None,
    ) -> AmiUser:
        user = AmiUser.make(
            username,
            secret,
            read,
            write,
            permit,
            self.default_write_timeout if write_timeout is None else write_timeout,
        )
        self.users[username.lower()] = user
        return user

    @property
    def authenticated_sessions(self) -> list[Session]:
        return [s for s in self.sessions if s.authenticated and not s.closed]

    async def wait_sessions(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` sessions are logged in (tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.authenticated_sessions) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"{len(self.authenticated_sessions)} of {count} sessions logged in"
                )
            await asyncio.sleep(0.005)
