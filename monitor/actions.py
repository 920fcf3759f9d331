"""Supervisor actions (hang up, originate, pause), carried over the worker's own AMI session.

Rules:

- The web side never logs in to the PBX. :func:`request` puts one message on the channel-layer
  group ``ami.<pbx_id>``, which only the active worker of that PBX joins, and waits on a reply
  channel of its own. No worker, or no answer in time, is "the PBX connection is not available".
- The worker calls :func:`execute` with its :class:`~monitor.ami.client.AmiClient` for each
  such message and sends the returned dict to the message's ``reply_to``.
- The message carries the PBX's fence as the web side read it (:mod:`monitor.locks`): a
  worker that another has taken over from, still in the group until it notices, leaves the
  message to the new one, so that no action runs twice.
- Both sides validate (:func:`clean_params`): the web side to answer with a clear sentence,
  the worker because the channel layer is not a trust boundary we control alone. Nothing a
  user typed can become an AMI header: only fixed header names are used, and values are
  restricted to digits, dial characters or printable text.
- The user sees the PBX's own answer (``Originate successfully queued``, ``No such channel``),
  with the privilege to grant when the PBX said ``Permission denied``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from channels.layers import get_channel_layer

from .ami.errors import ActionRejected, AmiError, PermissionDenied
from .ami.privileges import privilege_hint
from .ami.protocol import Action

log = logging.getLogger(__name__)

KINDS = ("hangup", "originate", "pause", "unpause")
# The AMI action each kind sends: the key of ``Pbx.actions`` and of ``privilege_hint``.
AMI_ACTION = {
    "hangup": "Hangup",
    "originate": "Originate",
    "pause": "QueuePause",
    "unpause": "QueuePause",
}
# The Django permission each kind needs.
PERMISSION = {
    "hangup": "monitor.hangup",
    "originate": "monitor.originate",
    "pause": "monitor.pause_member",
    "unpause": "monitor.pause_member",
}
NOT_AVAILABLE = "the PBX connection is not available (no AMI worker answered)"
MAX_REASON = 80
# Channels one hang-up may name: a ring-all queue of ten agents through Local channels is 31.
MAX_CHANNELS = 64
DEFAULT_CONTEXT = "from-internal"

_EXTENSION = re.compile(r"[0-9]{1,20}")
_DIAL = re.compile(r"[0-9+*#]{1,40}")
# Channel names as Asterisk makes them: PJSIP/1001-00000012, Local/6500@from-queue-0001;1.
_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_@.;:+*#\-]{0,127}")
_INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/_@.;:\-]{0,127}")
# Names the PBX knows (extensions, queues, dialplan contexts); web_models validates with it too.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}")


class InvalidParams(ValueError):
    """A parameter was refused before anything was sent; the message is for the user."""


@dataclass(frozen=True)
class Result:
    """What an action came to: ``ok``, the PBX's answer (or why nothing was sent), a hint."""

    ok: bool
    message: str
    hint: str = ""
    sent: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- validation (both sides) -----------------------------------------------------------------
def check_text(label: str, value: object, *, max_length: int) -> str:
    """Printable text without CR/LF/NUL (or any control character), at most ``max_length``."""
    if not isinstance(value, str):
        raise InvalidParams(f"{label} must be text")
    for ch in value:
        if ch in "\r\n\x00":
            raise InvalidParams(f"{label} may not contain a line break or a NUL character")
        if not ch.isprintable():
            raise InvalidParams(f"{label} may contain printable characters only")
    if len(value) > max_length:
        raise InvalidParams(f"{label} is longer than {max_length} characters")
    return value


def check_pattern(label: str, value: object, pattern: re.Pattern[str], allowed: str) -> str:
    text = check_text(label, value, max_length=128)
    if not pattern.fullmatch(text):
        raise InvalidParams(f"{label} {text!r} is not valid: use {allowed}")
    return text


def check_extension(value: object) -> str:
    return check_pattern("The extension", value, _EXTENSION, "digits only")


def check_resource(value: object) -> str:
    """An endpoint's name as the PBX reported it (``1001``, ``alice``, ``trunk_1``)."""
    return check_pattern("The extension", value, NAME_PATTERN, "digits or an extension's name")


def check_number(value: object) -> str:
    return check_pattern("The number", value, _DIAL, "digits, +, * and # only")


def check_reason(value: object) -> str:
    return check_text("The reason", value or "", max_length=MAX_REASON).strip()


def check_channels(value: object) -> list[str]:
    """The channels of one call to hang up: 1 to ``MAX_CHANNELS`` names."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHANNELS:
        raise InvalidParams(f"name 1 to {MAX_CHANNELS} channels to hang up")
    return [check_pattern("The channel", name, _CHANNEL, "a name") for name in value]


def clean_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of ``kind`` checked and reduced to what the action uses.

    Raises InvalidParams with a sentence for the user.
    """
    if kind not in KINDS:
        raise InvalidParams(f"unknown action {kind!r}")
    if not isinstance(params, dict):
        raise InvalidParams("bad parameters")
    if kind == "hangup":
        return {"channels": check_channels(params.get("channels"))}
    if kind == "originate":
        timeout = params.get("timeout", 30)
        if not isinstance(timeout, int) or not 1 <= timeout <= 300:
            raise InvalidParams("The ring timeout must be 1 to 300 seconds")
        return {
            # Digits, or an endpoint's name: the web side checks that such an endpoint exists.
            "extension": check_resource(params.get("extension")),
            "number": check_number(params.get("number")),
            "context": check_pattern(
                "The context",
                params.get("context") or DEFAULT_CONTEXT,
                NAME_PATTERN,
                "a context name",
            ),
            "timeout": timeout,
        }
    cleaned = {
        "interface": check_pattern(
            "The interface", params.get("interface"), _INTERFACE, "an interface"
        ),
        "queue": check_pattern("The queue", params.get("queue"), NAME_PATTERN, "a queue name"),
    }
    if kind == "pause":
        cleaned["reason"] = check_reason(params.get("reason", ""))
    return cleaned


def build_actions(kind: str, params: dict[str, Any]) -> list[Action]:
    """The AMI actions for already cleaned parameters, in the order to send them. Header names
    are fixed here."""
    if kind == "hangup":
        return [Action("Hangup", Channel=name) for name in params["channels"]]
    return [build_action(kind, params)]


def build_action(kind: str, params: dict[str, Any]) -> Action:
    """The one AMI action of ``kind`` (not ``hangup``: see :func:`build_actions`)."""
    if kind == "originate":
        number = params["number"]
        return Action(
            "Originate",
            Channel=f"PJSIP/{params['extension']}",
            Exten=number,
            Context=params["context"],
            Priority=1,
            CallerID=f'"{number}" <{number}>',
            Timeout=params["timeout"] * 1000,
        )
    paused = kind == "pause"
    return Action(
        "QueuePause",
        Interface=params["interface"],
        Queue=params["queue"],
        Paused=paused,
        Reason=params.get("reason") or None,
    )


# -- web side --------------------------------------------------------------------------------
async def request(
    pbx_id: int,
    kind: str,
    params: dict[str, Any],
    *,
    user: object,
    timeout: float = 10.0,
    fence: int | None = None,
) -> Result:
    """Ask the worker of ``pbx_id`` to run ``kind``; its answer, or why there is none.

    Never raises for a missing worker or channel layer: that is a Result with ``ok=False``.
    Raises InvalidParams for parameters that fail :func:`clean_params`.
    """
    cleaned = clean_params(kind, params)
    layer = get_channel_layer()
    if layer is None:
        return Result(False, NOT_AVAILABLE, sent=False)
    message = {
        "type": "ami.action",
        "id": uuid.uuid4().hex,
        "pbx": pbx_id,
        "kind": kind,
        "params": cleaned,
        "user": getattr(user, "username", ""),
    }
    if fence is not None:
        message["fence"] = fence
    try:
        message["reply_to"] = await layer.new_channel()
        await layer.group_send(f"ami.{pbx_id}", message)
        reply = await asyncio.wait_for(_receive_reply(layer, message), timeout)
    except TimeoutError:
        return Result(False, NOT_AVAILABLE)
    except Exception as exc:  # Redis away: the same for the user, logged for the admin
        log.warning("PBX %s: action %s not delivered: %s", pbx_id, kind, exc)
        return Result(False, NOT_AVAILABLE, sent=False)
    return Result(bool(reply.get("ok")), str(reply.get("message", "")), str(reply.get("hint", "")))


async def _receive_reply(layer: Any, message: dict[str, Any]) -> dict[str, Any]:
    # A late reply to an earlier, timed-out request on the same channel cannot happen (the
    # channel is new per request), but the id check keeps that true if that ever changes.
    while True:
        reply = await layer.receive(message["reply_to"])
        if reply.get("id") == message["id"]:
            return reply


# -- worker side -----------------------------------------------------------------------------
async def execute(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    """Run one ``ami.action`` message on ``client``; the reply to send to ``reply_to``.

    Never raises for the PBX's or the network's errors: they become ``ok: False`` with the
    PBX's own words. The reply carries ``type: "ami.result"`` and the message's ``id``.
    """
    kind = message.get("kind", "")
    try:
        cleaned = clean_params(kind, message.get("params") or {})
        result = await _send_all(client, kind, build_actions(kind, cleaned))
    except InvalidParams as exc:
        result = Result(False, f"refused: {exc}", sent=False)
    except ActionRejected as exc:
        result = Result(False, f"refused: {exc}", sent=False)
    except PermissionDenied as exc:
        result = Result(False, exc.message, exc.hint)
    except AmiError as exc:
        result = Result(False, str(exc))
    log.info("PBX %s: %s by %s: %s", message.get("pbx"), kind, message.get("user"), result.message)
    return {"type": "ami.result", "id": message.get("id"), **result.as_dict()}


async def _send_all(client: Any, kind: str, items: list[Action]) -> Result:
    """Send ``items`` one after the other; the first success is the answer, else the first
    failure. Hanging up one party of a call ends the others and the Local halves between
    them, so the later ``Hangup``s usually answer "No such channel": that is no failure."""
    results = []
    for item in items:
        result = _from_reply(kind, await client.send(item, check=False))
        if result.hint:  # Permission denied: the rest would be refused the same way
            return result
        results.append(result)
    return next((r for r in results if r.ok), results[0])


def _from_reply(kind: str, reply: Any) -> Result:
    text = reply.message or ("Success" if reply.ok else "Error")
    if not reply.ok and text.lower().startswith("permission denied"):
        return Result(False, text, privilege_hint(AMI_ACTION[kind]))
    return Result(bool(reply.ok), text)
