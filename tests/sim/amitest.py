"""Test helpers: a raw AMI client on real sockets, and a driver that replays a lab transcript's
client side against the simulator and compares the server side, packet by packet.

Comparison rules: same packets in the same order, same keys in the same order, same values,
except volatile ones (times, session ids, addresses, challenges), which are compared as
"zero / not zero"; uniqueids, channel-name suffixes and bridge/call UUIDs are compared as
"the n-th distinct one", so the structure (which channel an event is about) must match.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import ssl as ssl_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.ami.packet import Banner, Packet
from monitor.ami.parser import Parser
from monitor.sim.transcript import Record, Transcript, transcripts_dir

TRANSCRIPTS = transcripts_dir()

# Points in time: compared as "zero / not zero" (a LastPause that is set must be set).
VOLATILE = {
    "timestamp", "eventtv", "sessiontv", "sessionid", "remoteaddress", "localaddress",
    "challenge", "corestartupdate", "corestartuptime", "corereloaddate", "corereloadtime",
    "starttime", "answertime", "endtime", "logintime", "lastpause", "lastcall", "regexpire",
    "expirationtime", "roundtripusec", "key",
}  # fmt: skip
# Elapsed times: the lab waited seconds where the simulator's tests wait milliseconds.
ELAPSED = {
    "uptime", "lastreload", "duration", "billableseconds", "seconds", "holdtime", "talktime",
    "ringtime", "wait",
}  # fmt: skip
VOLATILE_VARS = re.compile(
    r"^(ANSWEREDTIME|DIALEDTIME|RINGTIME|PROGRESSTIME|BRIDGEPVTCALLID|RTPAUDIOQOS)"
)
UID = re.compile(r"^\d{9,11}\.\d+$")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CHAN = re.compile(r"((?:PJSIP|Local)/[^\s,]*?-)([0-9a-f]{8})(?=;|$|,|\b)")
DEFAULT_IGNORE = frozenset({"rtcpsent", "rtcpreceived"})


def packet_pairs(p: Packet) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for key in p.keys:
        values = p.get_all(key)
        i = seen.get(key.lower(), 0)
        seen[key.lower()] = i + 1
        out.append((key, values[i] if i < len(values) else ""))
    return out


class Normalizer:
    """Replaces volatile values; numbers uniqueids, channel suffixes and UUIDs by appearance."""

    def __init__(self) -> None:
        self.tokens: dict[str, dict[str, str]] = {"uid": {}, "chan": {}, "uuid": {}}

    def token(self, kind: str, value: str) -> str:
        table = self.tokens[kind]
        if value not in table:
            table[value] = f"<{kind}{len(table) + 1}>"
        return table[value]

    def value(self, key: str, value: str, variable: str = "") -> str:
        low = key.lower()
        if low in ELAPSED or (low == "value" and VOLATILE_VARS.match(variable)):
            return "<elapsed>"
        if low in VOLATILE:
            return "0" if value.strip() in ("", "0") else "<t>"
        if UID.match(value):
            return self.token("uid", value)
        value = UUID.sub(lambda mo: self.token("uuid", mo.group(0)), value)
        return CHAN.sub(lambda mo: mo.group(1) + self.token("chan", mo.group(2)), value)

    def packet(self, p: Packet) -> tuple[tuple[str, str], ...]:
        pairs = packet_pairs(p)
        variable = p.get("Variable") or ""
        return tuple((k, self.value(k, v, variable)) for k, v in pairs)

    def channel_map(self, other: Normalizer) -> dict[str, str]:
        """Transcript channel suffix -> simulator suffix, matched by token."""
        mine = {tok: raw for raw, tok in self.tokens["chan"].items()}
        return {raw: mine[tok] for raw, tok in other.tokens["chan"].items() if tok in mine}


class RawClient:
    """A bare AMI client: bytes out, parsed packets in. Nothing hidden, for protocol tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = Parser(expect_banner=True, keep_key_case=True)
        self.banner: Banner | None = None
        self.packets: list[Packet] = []
        self.raw = bytearray()
        self.eof = False
        self.error: Exception | None = None  # ConnectionResetError after an RST
        self._cond = asyncio.Condition()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(
        cls, port: int, host: str = "127.0.0.1", *, tls: bool = False, **kw: object
    ) -> RawClient:
        ctx = None
        if tls:
            ctx = ssl_module.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl_module.CERT_NONE
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, **kw)  # type: ignore[arg-type]
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.raw += data
                self.parser.feed(data)
                async with self._cond:
                    for item in self.parser.packets():
                        if isinstance(item, Banner):
                            self.banner = item
                        else:
                            self.packets.append(item)
                    self._cond.notify_all()
        except (ConnectionError, OSError) as exc:
            self.error = exc
        finally:
            self.eof = True
            async with self._cond:
                self._cond.notify_all()

    async def wait_for(self, pred: Callable[[], bool], timeout: float = 2.0) -> bool:
        async def waiter() -> None:
            async with self._cond:
                await self._cond.wait_for(lambda: pred() or self.eof)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            return pred()
        return pred()

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.writer.write(data)
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.drain()

    async def action(
        self, name: str, *pairs: tuple[str, str], action_id: str | None = None, timeout: float = 2.0
    ) -> list[Packet]:
        """Send an action; return its response and, for a list, its items up to Complete."""
        aid = action_id or f"t-{len(self.packets)}-{id(pairs) % 10000}"
        text = (
            f"Action: {name}\r\nActionID: {aid}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in pairs)
            + "\r\n"
        )
        start = len(self.packets)
        await self.send(text)

        def mine() -> list[Packet]:
            return [p for p in self.packets[start:] if p.get("ActionID") == aid]

        def done() -> bool:
            got = mine()
            if not got:
                return False
            if got[0].get("EventList", "").lower() != "start":
                return True
            return any(p.get("EventList", "").lower() == "complete" for p in got[1:])

        await self.wait_for(done, timeout)
        return mine()

    async def login(
        self, username: str = "admin123", secret: str = "admin123", events: str | None = None
    ) -> Packet:
        pairs = [("Username", username), ("Secret", secret)]
        if events is not None:
            pairs.append(("Events", events))
        got = await self.action("Login", *pairs)
        assert got, "no reply to Login"
        return got[0]

    def events(self, name: str | None = None) -> list[Packet]:
        return [p for p in self.packets if p.is_event and (name is None or p.name == name)]

    async def wait_event(
        self, name: str, count: int = 1, timeout: float = 2.0, **match: str
    ) -> list[Packet]:
        def found() -> list[Packet]:
            return [p for p in self.events(name) if all(p.get(k) == v for k, v in match.items())]

        await self.wait_for(lambda: len(found()) >= count, timeout)
        return found()

    async def closed(self, timeout: float = 2.0) -> bool:
        await self.wait_for(lambda: self.eof, timeout)
        return self.eof

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        self._task.cancel()


# -- transcript driving ---------------------------------------------------------------------------
@dataclass
class Step:
    kind: str  # "send", "hook", "close"
    before: int  # server packets (not ignored) the transcript had received before this step
    data: bytes = b""
    text: str = ""


@dataclass
class Script:
    conn: int
    steps: list[Step]
    expected: list[Packet]
    server_closes: bool


def _count(data: bytes, ignore: Callable[[Packet], bool]) -> list[Packet]:
    parser = Parser(expect_banner=True, keep_key_case=True)
    parser.feed(data)
    return [p for p in parser.packets() if isinstance(p, Packet) and not ignore(p)]


def script(t: Transcript, conn: int, ignore: Callable[[Packet], bool]) -> Script:
    steps: list[Step] = []
    server = bytearray()
    client: list[bytes] = []
    server_closes = False
    for r in t.records:
        if r.conn != conn and r.kind != "#":
            continue
        if r.kind == "S":
            server += r.wire
        elif r.kind == "C":
            client.append(r.wire)
            if r.text == "":
                steps.append(Step("send", len(_count(bytes(server), ignore)), b"".join(client)))
                client = []
        elif r.kind == "#" and not r.text.startswith("RESULT"):
            steps.append(Step("hook", len(_count(bytes(server), ignore)), text=r.text))
        elif r.kind == "X" and "server closed" in r.text:
            server_closes = True
        elif r.kind == "X" and "client closed" in r.text:
            steps.append(Step("close", len(_count(bytes(server), ignore))))
    return Script(conn, steps, _count(bytes(server), ignore), server_closes)


@dataclass
class Replayed:
    expected: list[tuple[tuple[str, str], ...]]
    got: list[tuple[tuple[str, str], ...]]
    client: RawClient
    banner: str
    closed: bool
    raw_expected: list[Packet] = field(default_factory=list)
    raw_got: list[Packet] = field(default_factory=list)


Hook = Callable[[str], object]


async def drive(
    port: int,
    transcript: str | Transcript,
    *,
    conn: int = 1,
    hooks: dict[str, Hook] | None = None,
    rewrite: Callable[[bytes, RawClient], bytes] | None = None,
    ignore_events: Iterable[str] = (),
    tls: bool = False,
    timeout: float = 2.0,
    limit: int | None = None,
) -> Replayed:
    """Replay connection ``conn`` of ``transcript`` against 127.0.0.1:``port``.

    ``hooks`` maps a substring of a transcript comment (``# ...``) to a callable run at that
    point (what the lab did outside AMI: a phone answers, a CLI originate). Client packets are
    sent once the simulator has sent as many packets as the lab had before that point.
    """
    t = (
        transcript
        if isinstance(transcript, Transcript)
        else Transcript.load(TRANSCRIPTS / f"{transcript}.txt")
    )
    ignored = DEFAULT_IGNORE | {e.lower() for e in ignore_events}

    def ignore(p: Packet) -> bool:
        return p.is_event and p.name.lower() in ignored and "actionid" not in p.fields

    sc = script(t, conn, ignore)
    if limit is not None:
        # Compare the first ``limit`` packets only; steps after them are not played.
        sc.expected = sc.expected[:limit]
        sc.steps = [step for step in sc.steps if step.before < limit]
        sc.server_closes = False
    client = await RawClient.connect(port, tls=tls)
    mine = Normalizer()
    theirs = Normalizer()

    def got() -> list[Packet]:
        return [p for p in client.packets if not ignore(p)]

    exp_norm = [theirs.packet(p) for p in sc.expected]
    for step in sc.steps:
        await client.wait_for(lambda n=step.before: len(got()) >= n, timeout)
        if step.kind == "send":
            data = step.data
            # Channel names in client actions: the lab's suffixes -> the simulator's.
            _ = [mine.packet(p) for p in got()]
            mapping = mine.channel_map(theirs)
            data = CHAN.sub(
                lambda mo, m=mapping: mo.group(1) + m.get(mo.group(2), mo.group(2)), data.decode()
            ).encode()
            if rewrite is not None:
                data = rewrite(data, client)
            await client.send(data)
        elif step.kind == "hook":
            for key, fn in (hooks or {}).items():
                if key in step.text:
                    result = fn(step.text)
                    if asyncio.iscoroutine(result):
                        await result
        elif step.kind == "close":
            break
    await client.wait_for(lambda: len(got()) >= len(sc.expected), timeout)
    if sc.server_closes:
        await client.closed(timeout)
    final = got()[:limit] if limit is not None else got()
    norm = Normalizer()
    return Replayed(
        exp_norm,
        [norm.packet(p) for p in final],
        client,
        client.banner.text if client.banner else "",
        client.eof,
        sc.expected,
        final,
    )


def diff(
    expected: list[tuple[tuple[str, str], ...]], got: list[tuple[tuple[str, str], ...]]
) -> str:
    """A readable first difference, for assertion messages."""
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        if e != g:
            lines = [f"packet {i} differs:"]
            for j in range(max(len(e), len(g))):
                a = e[j] if j < len(e) else None
                b = g[j] if j < len(g) else None
                mark = "  " if a == b else "!!"
                lines.append(f"{mark} lab={a} sim={b}")
            return "\n".join(lines)
    if len(expected) != len(got):
        extra = expected[len(got) :] if len(expected) > len(got) else got[len(expected) :]
        who = "lab" if len(expected) > len(got) else "sim"
        names = [dict(p).get("Event") or dict(p).get("Response") for p in extra[:10]]
        return f"{who} has {abs(len(expected) - len(got))} more packets: {names}"
    return ""


def md5_rewriter(secrets: dict[str, str]) -> Callable[[bytes, RawClient], bytes]:
    """Recompute a valid ``Key:`` for the simulator's challenge; an invalid one stays invalid."""

    def rewrite(data: bytes, client: RawClient) -> bytes:
        text = data.decode()
        user = re.search(r"(?im)^Username: (.*)$", text)
        key = re.search(r"(?im)^Key: (.*)$", text)
        challenges = [p.get("Challenge") for p in client.packets if p.get("Challenge")]
        if not (user and key and challenges):
            return data
        if set(key.group(1).strip()) == {"0"}:
            return data
        good = hashlib.md5((challenges[-1] + secrets[user.group(1).strip()]).encode()).hexdigest()
        return text.replace(key.group(0), f"Key: {good}").encode()

    return rewrite


def expected_packets(name: str, conn: int = 1) -> list[Packet]:
    """The server packets of one connection of a transcript (RTCP reports left out)."""
    return script(
        load(name), conn, lambda p: p.is_event and p.name.lower() in DEFAULT_IGNORE
    ).expected


def load(name: str) -> Transcript:
    return Transcript.load(Path(TRANSCRIPTS) / f"{name}.txt")


__all__ = [
    "Record",
    "RawClient",
    "drive",
    "diff",
    "md5_rewriter",
    "load",
    "Normalizer",
    "packet_pairs",
]
