"""Errors of the AMI layer.

Two families, kept apart as h11 does: ``ActionRejected`` is *our* mistake (an action we refuse
to put on the wire); everything under ``AmiError`` is what the PBX or the network did.
"""

from __future__ import annotations


class ActionRejected(ValueError):
    """The action was refused before anything was sent (CR/LF/NUL, line too long, ...)."""


class AmiError(Exception):
    """Something the PBX or the network did."""


class AmiConnectionError(AmiError):
    """No usable session: refused, reset, closed, not an AMI server, TLS failure."""


class NotAmiServer(AmiConnectionError):
    """The peer's first line is not an ``Asterisk Call Manager/x.y.z`` banner."""


class TlsError(AmiConnectionError):
    """The TLS handshake or the certificate check failed."""


class ConnectionLost(AmiConnectionError):
    """The session ended while an action was waiting for its reply."""


class AuthenticationFailed(AmiError):
    """``Login`` answered ``Authentication failed``: wrong user or secret, or an address the
    PBX does not permit for this user (the FCM630A denies every IP not in Permitted IP(s))."""


class ActionError(AmiError):
    """The PBX answered ``Response: Error``. ``message`` is its own text."""

    def __init__(self, action: str, message: str, reply: object | None = None) -> None:
        self.action = action
        self.message = message
        self.reply = reply
        super().__init__(f"{action}: {message}")


class PermissionDenied(ActionError):
    """The AMI user's write privileges do not allow this action (or it was sent before login)."""

    def __init__(self, action: str, message: str, reply: object | None = None) -> None:
        super().__init__(action, message, reply)
        from .privileges import privilege_hint

        self.hint = privilege_hint(action)
        self.args = (f"{action}: permission denied by the PBX; {self.hint}",)


class UnknownAction(ActionError):
    """The PBX does not know this action (``Invalid/unknown command``)."""

    def __init__(self, action: str, message: str, reply: object | None = None) -> None:
        super().__init__(action, message, reply)
        self.args = (f"{action}: the PBX does not know this action ({message})",)


class ActionTimeout(AmiError, TimeoutError):
    """No reply to an action within its timeout."""

    def __init__(self, action: str, timeout: float) -> None:
        self.action = action
        self.timeout = timeout
        super().__init__(f"{action}: no reply from the PBX within {timeout:g} s")


def error_for(action: str, message: str, reply: object | None = None) -> ActionError:
    """The most specific ActionError for a ``Response: Error`` message."""
    low = message.lower()
    if low.startswith("permission denied"):
        return PermissionDenied(action, message, reply)
    if low.startswith("invalid/unknown command"):
        return UnknownAction(action, message, reply)
    return ActionError(action, message, reply)
