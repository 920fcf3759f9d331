"""A PbxSimulator running on its own event loop in a thread, for code under test that runs
its own ``asyncio.run`` (management commands) or is synchronous (Django views, the live server)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from monitor.sim.server import PbxSimulator


class SimThread:
    def __init__(self, **options: Any) -> None:
        options.setdefault("auth_fail_delay", 0.05)
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.sim: PbxSimulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="pbxsim")

    def __enter__(self) -> SimThread:
        self._thread.start()
        self.sim = self.call(self._start)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.sim.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _start(self) -> PbxSimulator:
        return await PbxSimulator(**self.options).start()

    @property
    def port(self) -> int:
        return self.sim.port

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the simulator's loop (awaited if it is a coroutine)."""

        async def run() -> Any:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)
