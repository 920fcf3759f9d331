"""How to reach one PBX: host, port, TLS choice, AMI user. Parsed from ``ami://`` URLs too."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote, urlsplit

TLS_MODES = ("off", "verify", "pin", "insecure")
FCM630A_PORT = 7777
FCM630A_TLS_PORT = 5039
MAX_PORT = 65535


@dataclass(frozen=True)
class AmiConfig:
    """Connection settings. ``secret`` is never shown by ``repr``."""

    host: str
    username: str
    secret: str = field(repr=False)
    port: int = FCM630A_PORT
    tls: str = "off"  # off | verify (CA file or system CAs) | pin (sha256 fingerprint) | insecure
    ca_file: str | None = None
    ca_data: str | None = field(default=None, repr=False)  # PEM text, as stored in the admin
    fingerprint: str | None = None  # sha256 of the certificate (DER), hex, colons optional
    server_name: str | None = None  # name to check in the certificate (verify mode)
    auth: str = "plain"  # plain | md5 (Challenge/Login with Key)
    keepalive: float = 20.0  # seconds between Pings; a silent peer is dropped after ~2 of them
    connect_timeout: float = 10.0
    action_timeout: float = 10.0
    list_quiet_gap: float = 2.0  # a list with no end marker is closed after this much silence
    events: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.port <= MAX_PORT:
            # Caught here, not by connect() (OverflowError for 70000), so that a bad port
            # saved before the admin checked it leaves only this PBX down.
            raise ValueError(f"port must be 1-{MAX_PORT}, not {self.port}")
        if self.tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        if self.tls == "pin" and not self.fingerprint:
            raise ValueError("tls=pin needs the certificate's sha256 fingerprint")
        if self.tls == "pin":
            fingerprint_bytes(self.fingerprint or "")  # now, not at the first connection
        if self.auth not in ("plain", "md5"):
            raise ValueError(f"auth must be plain or md5, not {self.auth!r}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def pinned_sha256(self) -> bytes | None:
        return fingerprint_bytes(self.fingerprint) if self.fingerprint else None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls == "off":
            return None
        if self.tls == "verify":
            return ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        # pin / insecure: the FCM630A's certificate is uploaded by its admin and is usually
        # self-signed, so chain checks are off; "pin" then compares the fingerprint itself.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def with_(self, **changes: object) -> AmiConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def fingerprint_bytes(text: str) -> bytes:
    """The bytes of a certificate fingerprint written in hex (``sha256:`` prefix, colons and
    other separators allowed). Raises ValueError, with a sentence for the admin, if it is not."""
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", text.removeprefix("sha256:"))
    if not hexdigits or len(hexdigits) % 2:
        raise ValueError(
            "the certificate fingerprint must be hex digits (SHA-256: 64 of them, colons allowed)"
        )
    return bytes.fromhex(hexdigits)


def parse_ami_url(url: str, **defaults: object) -> AmiConfig:
    """``ami://user:secret@host:7777`` or ``amis://user:secret@host:5039?ca=/path`` ...

    Query options: ``tls=verify|pin|insecure`` (amis:// defaults to verify), ``ca=FILE``,
    ``fingerprint=HEX``, ``server_name=NAME``, ``auth=md5``, ``keepalive=SECONDS``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ami", "amis"):
        raise ValueError("an AMI URL starts with ami:// (TCP) or amis:// (TLS)")
    if not parts.hostname:
        raise ValueError("the AMI URL has no host")
    if not parts.username or parts.password is None:
        raise ValueError("the AMI URL needs user:secret@ before the host")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    tls = query.get("tls", "verify" if parts.scheme == "amis" else "off")
    if parts.scheme == "amis" and tls == "off":
        raise ValueError("amis:// is TLS; use ami:// for plain TCP")
    if "fingerprint" in query and "tls" not in query:
        tls = "pin"
    options: dict[str, object] = dict(defaults)
    options.update(
        host=parts.hostname,
        port=parts.port or (FCM630A_TLS_PORT if parts.scheme == "amis" else FCM630A_PORT),
        username=unquote(parts.username),
        secret=unquote(parts.password),
        tls=tls,
        ca_file=query.get("ca"),
        fingerprint=query.get("fingerprint"),
        server_name=query.get("server_name"),
        auth=query.get("auth", "plain"),
    )
    if "keepalive" in query:
        options["keepalive"] = float(query["keepalive"])
    return AmiConfig(**options)  # type: ignore[arg-type]
