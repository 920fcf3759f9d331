"""The same picture from several sides: what the simulator holds (the truth), what the
mirror wrote to the database and what the worker holds in memory, reduced to the fields a page
shows, so tests can ``==`` them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.models import Call, Endpoint, Queue, QueueCaller, QueueMember
from monitor.state.states import channel_resource, device_state, member_status

if TYPE_CHECKING:
    from monitor.state import PbxState


def sim_picture(snapshot: dict[str, Any], *, registered: bool = True) -> dict[str, Any]:
    """``registered=False`` for a user that cannot list endpoints (it never learns it)."""
    endpoints = {
        name: {
            "state": device_state(ep["device_state"]),
            # What AMI can tell: an endpoint with a contact (a trunk's static one included).
            **({"registered": bool(ep["contacts"])} if registered else {}),
            "channels": ep["active_channels"],
        }
        for name, ep in snapshot["endpoints"].items()
    }
    queues = {
        name: {
            "waiting": q["calls"],
            "members": {
                iface: {
                    "status": member_status(str(m["status"])),
                    "paused": m["paused"],
                    "reason": m["paused_reason"],
                    "in_call": m["in_call"],
                    "membership": m["membership"],
                }
                for iface, m in q["members"].items()
            },
            "callers": [(c["position"], c["uniqueid"]) for c in q["callers"]],
        }
        for name, q in snapshot["queues"].items()
    }
    calls = {
        uid: {
            "channel": ch["name"],
            "endpoint": channel_resource(ch["name"]) or "",
            "caller": ch["caller_id_num"],
        }
        for uid, ch in snapshot["channels"].items()
    }
    return {"endpoints": endpoints, "queues": queues, "calls": calls}


def member_picture(m: Any) -> dict[str, Any]:
    """A queue member as the database (``monitor.models.QueueMember``) or the live state
    (``monitor.state.QueueMember``) holds it: both use the same attribute names."""
    return {
        "status": m.status,
        "paused": m.paused,
        "reason": m.paused_reason,
        "in_call": m.in_call,
        "membership": m.membership,
    }


def mirror_picture(pbx_id: int, *, registered: bool = True) -> dict[str, Any]:
    endpoints = {
        e.resource: {
            "state": e.state,
            **({"registered": e.registered} if registered else {}),
            "channels": e.channels,
        }
        for e in Endpoint.objects.filter(pbx_id=pbx_id)
    }
    queues: dict[str, Any] = {}
    for q in Queue.objects.filter(pbx_id=pbx_id):
        queues[q.name] = {
            "waiting": q.calls_waiting,
            "members": {
                m.interface: member_picture(m) for m in QueueMember.objects.filter(queue=q)
            },
            "callers": [
                (c.position, c.uniqueid)
                for c in QueueCaller.objects.filter(queue=q).order_by("position")
            ],
        }
    calls = {
        c.uniqueid: {
            "channel": c.channel,
            "endpoint": c.endpoint_resource,
            "caller": c.caller_id_num,
        }
        for c in Call.objects.filter(pbx_id=pbx_id)
    }
    return {"endpoints": endpoints, "queues": queues, "calls": calls}


def live_picture(state: PbxState) -> dict[str, Any]:
    """What a worker holds in memory (``worker.state``), no database involved."""
    endpoints = {
        name: {"state": e.state, "registered": e.registered, "channels": e.active_channels}
        for name, e in state.endpoints.table.rows.items()
    }
    queues = {
        name: {
            "waiting": q.calls,
            "members": {
                m.interface: member_picture(m)
                for (qn, _), m in state.queues.members.rows.items()
                if qn == name
            },
            "callers": sorted(
                (c.position, c.uniqueid)
                for (qn, _), c in state.queues.callers.rows.items()
                if qn == name
            ),
        }
        for name, q in state.queues.queues.rows.items()
    }
    calls = {
        uid: {"channel": c.channel, "endpoint": c.endpoint or "", "caller": c.caller_id_num}
        for uid, c in state.calls.table.rows.items()
    }
    return {"endpoints": endpoints, "queues": queues, "calls": calls}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Readable differences between two pictures (for assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a:
                out.append(f"{path}/{key}: only in mirror: {b[key]!r}")
            elif key not in b:
                out.append(f"{path}/{key}: missing from mirror: {a[key]!r}")
            else:
                out.extend(differences(a[key], b[key], f"{path}/{key}"))
        return out
    return [] if a == b else [f"{path}: truth {a!r} != mirror {b!r}"]
