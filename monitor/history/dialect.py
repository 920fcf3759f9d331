"""Which of a day's numbers a PBX cannot give, and why, from what it showed the worker.

The numbers come from live queue events (QueueCallerJoin ... AgentComplete, AgentRingNoAnswer,
QueueMemberPause/Status), which stock Asterisk and the FCM630A both send (AMI-REFERENCE §5;
the FCM630A's guide, ``seed/FCM630A-AMI-Guide.txt``, shows no queue event of its own and
nothing that replaces one), plus the member list of every resync, which opens the members'
spans: a member whose state does not change is known from the list only.

What differs is that list:

- stock ``QueueStatus`` lists each member with ``PausedReason``;
- the FCM630A answers its vendor ``Queues`` action (figure 16 of its guide) with
  ``QueueMemberStatus`` items that carry ``Paused`` but no ``PausedReason``: a pause already
  running when fcmdash connects (or reconnects) has no reason until the member pauses again,
  so pause seconds cannot be split by reason;
- a user refused both lists has members only from the moment they change.

The keys are the API's number names (``/api/v1/today``).
"""

from __future__ import annotations

from typing import Any

FCM630A_REASONS = (
    "the FCM630A lists queue members without a pause reason (its Queues reply): "
    "a pause running when fcmdash connects is counted under no reason"
)
NO_MEMBER_LIST = (
    "this AMI user may not list queue members (QueueStatus and Queues refused): "
    "a member's state is known only from its first change"
)


def is_fcm630a(pbx: Any) -> bool:
    """The PBX answered with the FCM630A's member list: its ``Queues`` action was used (the
    worker sends it when ``QueueStatus`` fails, and records whether it worked)."""
    actions = getattr(pbx, "actions", None) or {}
    return actions.get("Queues") is True and actions.get("QueueStatus") is False


def missing_numbers(pbx: Any) -> dict[str, str]:
    """Number name -> why this PBX cannot give it (empty: every number is available).

    ``pbx``: a :class:`monitor.models.Pbx` (its ``actions`` as the worker last recorded
    them). A PBX the worker has not reached yet has recorded nothing: nothing is missing
    until it shows otherwise."""
    actions = getattr(pbx, "actions", None) or {}
    if actions.get("QueueStatus") is False and actions.get("Queues") is not True:
        return dict.fromkeys(("available_s", "paused_s", "paused_by_reason"), NO_MEMBER_LIST)
    if is_fcm630a(pbx):
        return {"paused_by_reason": FCM630A_REASONS}
    return {}
