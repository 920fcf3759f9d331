"""Ways to break the simulated PBX on purpose, for the client's and the worker's tests.

Each hook does what a real PBX or network does, on the real sockets: a clean close (FIN) or a
reset (RST), a restart (``Shutdown`` event, listeners closed, calls gone, back after a pause,
``FullyBooted`` again at login), a stall (a half-open peer: nothing read, nothing written,
Pings unanswered), refused connections, failing logins, garbage bytes, an oversized packet,
events Asterisk would never send, a list reply without its ``Complete`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

from monitor.ami.protocol import encode_packet

from .users import CLASSES

if TYPE_CHECKING:
    from .server import PbxSimulator


class Faults:
    def __init__(self, server: PbxSimulator) -> None:
        self.server = server
        self.login_fails = False
        self.stall_new = False
        self._truncate: list[str | None] = []

    # -- connections --------------------------------------------------------------------------
    def drop_all(self, *, rst: bool = False) -> int:
        """Close every connection: FIN (``rst=False``) or RST. Returns how many."""
        sessions = list(self.server.sessions)
        for s in sessions:
            if rst:
                s.reset()
            else:
                s.close()
        return len(sessions)

    async def refuse(self, seconds: float) -> None:
        """Refuse new connections for ``seconds`` (the listeners are closed meanwhile)."""
        await self.server.unlisten()
        try:
            await asyncio.sleep(seconds)
        finally:
            await self.server.listen()

    def refuse_for(self, seconds: float) -> asyncio.Task[None]:
        """Start refusing now; returns the task that reopens the listeners."""
        self.server.close_listeners()

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            await self.server.listen()

        return self.server.spawn(reopen())

    async def restart(self, down_for: float = 1.0, *, restart: bool = True) -> None:
        """Asterisk restarts: ``Shutdown`` to every session, close them, refuse connections for
        ``down_for`` seconds, and come back with no calls (and a new boot time)."""
        server = self.server
        server.shutting_down = True
        server.pbx.emit("Shutdown", "system", [("Shutdown", "Cleanly"), ("Restart", str(restart))])
        for s in list(server.sessions):
            s.close()
        await server.unlisten()
        server.pbx.restart()
        await asyncio.sleep(down_for)
        server.shutting_down = False
        await server.listen()

    def stall(self, on: bool = True, *, new_sessions: bool = False) -> None:
        """Stop reading and writing on every session without closing (a half-open peer)."""
        self.stall_new = on and new_sessions
        for s in list(self.server.sessions):
            s.stall(on)

    def fail_logins(self, on: bool = True) -> None:
        """Every Login answers ``Authentication failed`` (after the usual delay)."""
        self.login_fails = on

    # -- bytes on the wire --------------------------------------------------------------------
    def send_raw(self, data: bytes, *, authenticated_only: bool = True) -> int:
        """Write ``data`` as is to the sessions (e.g. garbage mid-stream)."""
        count = 0
        for s in list(self.server.sessions):
            if s.authenticated or not authenticated_only:
                s.deliver(data)
                count += 1
        return count

    def garbage(self, data: bytes = b"\x00\xff\xfe garbage \x01\x02 no colon here\r\n\r\n") -> int:
        return self.send_raw(data)

    def oversized(self, size: int = 2 * 1024 * 1024) -> int:
        """An event whose one header is ``size`` bytes long (bigger than any real packet)."""
        return self.send_event(
            [("Event", "Oversized"), ("Privilege", "system,all"), ("Blob", "x" * size)]
        )

    def send_event(
        self, pairs: Iterable[tuple[str, str]], *, category: str = "system", repeat: int = 1
    ) -> int:
        """Broadcast a hand-made event (unknown names, missing fields) to the sessions that
        read ``category``. ``pairs`` are written as given: include ``Event`` and, if wanted,
        ``Privilege``."""
        data = encode_packet(list(pairs))
        sent = 0
        bit = CLASSES[category]
        for _ in range(repeat):
            for s in list(self.server.sessions):
                if s.wants(bit):
                    s.deliver(data)
                    sent += 1
        return sent

    # -- lists --------------------------------------------------------------------------------
    def truncate_next_list(self, action: str | None = None) -> None:
        """The next list reply (of ``action``, or of any list action) omits its Complete."""
        self._truncate.append(action.lower() if action else None)

    def take_truncation(self, action: str) -> bool:
        low = action.lower()
        for i, want in enumerate(self._truncate):
            if want is None or want == low:
                del self._truncate[i]
                return True
        return False
