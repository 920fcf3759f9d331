"""PJSIP endpoints: device state, registration, caller-ID name, live channel count.

Where each value comes from, best source first:

- device state: ``DeviceStateChange`` / ``DeviceStateList`` / ``PJSIPShowEndpoints`` (the
  device itself), then ``ExtensionStatus`` hints, which are used only for an endpoint no
  device-level source has described (a hint can combine several devices);
- registration and contacts: ``PJSIPShowEndpoints`` ``Contacts``, then ``ContactStatus``;
  unknown (None) for an AMI user that may not list endpoints, until a ContactStatus comes;
- the endpoint set: ``PJSIPShowEndpoints`` when the user may run it, else the ``PJSIP/...``
  devices of ``DeviceStateList``, else the single-device hints of ``ExtensionStateList``.
  A list replaces the set only if no better list was loaded in this session.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..ami.packet import Packet
from .entities import Contact, Endpoint
from .states import (
    HINT_REMOVED,
    INVALID,
    contact_uris,
    device_resource,
    device_state,
    hint_resource,
    hint_state,
)
from .table import Table

# Authority of the list that defined the endpoint set; also the rank of a state's source.
NONE, HINTS, DEVICES, ENDPOINTS = 0, 1, 2, 3


class Endpoints:
    """The endpoint table and the rules above. Handlers take (fields, seq, time)."""

    def __init__(self) -> None:
        self.table: Table[str, Endpoint] = Table()
        self.authority = NONE
        # The newest list seq that covers each kind of event (see PbxState._floor).
        self.seq_contacts = 0  # PJSIPShowEndpoints
        self.seq_devices = 0  # PJSIPShowEndpoints, DeviceStateList
        self.seq_hints = 0  # any of the three
        self._channels: dict[str, int] = {}
        # Names learnt before their endpoint is known (a channel event before the lists).
        self._names: dict[str, tuple[int, str]] = {}

    def begin_session(self) -> None:
        self.authority = NONE
        self.seq_contacts = self.seq_devices = self.seq_hints = 0
        for ep in self.table.rows.values():
            ep.seq = ep.state_seq = ep.contacts_seq = 0
            ep.state_rank = NONE
        self.table.forget_history()

    # -- lists -----------------------------------------------------------------------------
    def load_endpoints(self, items: Iterable[Packet], seq: int, now: float | None) -> None:
        """EndpointList items; always defines the endpoint set."""
        seen: set[str] = set()
        for item in items:
            f = item.fields
            resource = f.get("objectname")
            if not resource or f.get("objecttype", "endpoint") != "endpoint":
                continue
            seen.add(resource)
            ep = self._from_list(resource, seq, now, True)
            if ep is None:
                continue
            changed = self._list_state(ep, device_state(f.get("devicestate")), DEVICES, seq)
            if "contacts" in f and ep.contacts_seq <= seq:
                known = {c.uri: c.status for c in ep.contacts}
                uris = contact_uris(item.get_all("contacts"))
                contacts = tuple(Contact(u, known.get(u, "")) for u in uris)
                changed |= self._set_contacts(ep, contacts, seq)
            if changed:
                self._touch(ep, now)
        self._replace(seen, seq, ENDPOINTS, True)
        self.seq_contacts = max(self.seq_contacts, seq)
        self.seq_devices = max(self.seq_devices, seq)
        self.seq_hints = max(self.seq_hints, seq)

    def load_device_states(
        self, items: Iterable[Packet], seq: int, now: float | None, authoritative: bool | None
    ) -> None:
        """DeviceStateList items; ``authoritative``: whether its PJSIP devices define the
        endpoint set (None: yes unless PJSIPShowEndpoints was loaded in this session)."""
        defines = self.authority <= DEVICES if authoritative is None else authoritative
        seen: set[str] = set()
        for item in items:
            f = item.fields
            resource = device_resource(f.get("device"))
            if resource is None:
                continue
            state = device_state(f.get("state"))
            if state == INVALID:
                continue
            seen.add(resource)
            ep = self._from_list(resource, seq, now, defines)
            if ep is not None and self._list_state(ep, state, DEVICES, seq):
                self._touch(ep, now)
        self._replace(seen, seq, DEVICES, defines)
        self.seq_devices = max(self.seq_devices, seq)
        self.seq_hints = max(self.seq_hints, seq)

    def load_extension_states(
        self, items: Iterable[Packet], seq: int, now: float | None, authoritative: bool | None
    ) -> None:
        """ExtensionStateList items; as ``load_device_states``, below both other lists."""
        defines = self.authority <= HINTS if authoritative is None else authoritative
        seen: set[str] = set()
        for item in items:
            f = item.fields
            resource = hint_resource(f.get("hint"))
            state = hint_state(f.get("status"))
            if resource is None or state == HINT_REMOVED:
                continue
            seen.add(resource)
            ep = self._from_list(resource, seq, now, defines)
            if ep is not None and self._list_state(ep, state, HINTS, seq):
                self._touch(ep, now)
        self._replace(seen, seq, HINTS, defines)
        self.seq_hints = max(self.seq_hints, seq)

    def _replace(self, seen: set[str], seq: int, rank: int, defines: bool) -> None:
        if not defines:
            return
        self.authority = max(self.authority, rank)
        for resource in [r for r in self.table.rows if r not in seen]:
            ep = self.table.rows[resource]
            if ep.seq <= seq:  # else a live event newer than this list created or changed it
                self.table.remove(resource, seq)

    def _list_state(self, ep: Endpoint, state: str, rank: int, seq: int) -> bool:
        if ep.state_seq > seq or rank < ep.state_rank:
            return False  # an event newer than the list, or a better source, already spoke
        ep.state_rank = rank
        if ep.state == state:
            return False
        ep.state = state
        return True

    # -- events ----------------------------------------------------------------------------
    def on_device_state(self, f: dict[str, str], seq: int, t: float) -> None:
        resource = device_resource(f["device"])
        if resource is None:
            return  # Queue:..., Custom:..., other technologies
        state = device_state(f["state"])
        ep = self.table.get(resource)
        if ep is None:
            if state == INVALID:
                return
            ep = self._create(resource, seq, t)
        self._event_state(ep, state, DEVICES, seq, t)

    def on_extension_status(self, f: dict[str, str], seq: int, t: float) -> None:
        resource = hint_resource(f["hint"])
        if resource is None:
            return
        state = hint_state(f["status"])
        ep = self.table.get(resource)
        if state == HINT_REMOVED:
            if ep is not None and ep.state_rank <= HINTS and self.authority <= HINTS:
                self.table.remove(resource, seq)
            return
        if ep is None:
            ep = self._create(resource, seq, t)
        if ep.state_rank <= HINTS:
            self._event_state(ep, state, HINTS, seq, t)

    def on_contact_status(self, f: dict[str, str], seq: int, t: float) -> None:
        resource = f.get("endpointname") or f["aor"]
        uri = f["uri"]
        status = f["contactstatus"]
        ep = self.table.get(resource) or self._create(resource, seq, t)
        ep.seq = seq
        others = tuple(c for c in ep.contacts if c.uri != uri)
        contacts = others if status == "Removed" else (*others, Contact(uri, status))
        if self._set_contacts(ep, contacts, seq):
            self._touch(ep, t)

    def _event_state(self, ep: Endpoint, state: str, rank: int, seq: int, t: float) -> None:
        ep.state_rank = rank
        ep.state_seq = ep.seq = seq
        if ep.state != state:
            ep.state = state
            self._touch(ep, t)

    def _set_contacts(self, ep: Endpoint, contacts: tuple[Contact, ...], seq: int) -> bool:
        ep.contacts_seq = seq
        registered = bool(contacts)
        if ep.contacts == contacts and ep.registered is registered:
            return False
        ep.contacts = contacts
        ep.registered = registered
        return True

    # -- from other domains ----------------------------------------------------------------
    def learn_name(self, resource: str, name: str, rank: int, t: float | None) -> None:
        """A caller-ID name seen on the endpoint's own channel (rank 2) or its queue
        membership (rank 1); a better source is never overwritten by a worse one."""
        if not name:
            return
        known = self._names.get(resource)
        if known is None or rank >= known[0]:
            self._names[resource] = (rank, name)
        ep = self.table.get(resource)
        if ep is None or rank < ep.name_rank or name == ep.name:
            return
        ep.name = name
        ep.name_rank = rank
        self._touch(ep, t)

    def count_channel(self, resource: str, delta: int, t: float | None) -> None:
        count = self._channels.get(resource, 0) + delta
        if count > 0:
            self._channels[resource] = count
        else:
            self._channels.pop(resource, None)
            count = 0
        ep = self.table.get(resource)
        if ep is not None and ep.active_channels != count:
            ep.active_channels = count
            self._touch(ep, t)

    def set_channel_counts(self, counts: dict[str, int], t: float | None) -> None:
        self._channels = dict(counts)
        for ep in self.table.rows.values():
            count = counts.get(ep.resource, 0)
            if ep.active_channels != count:
                ep.active_channels = count
                self._touch(ep, t)

    # -- helpers ---------------------------------------------------------------------------
    def _from_list(
        self, resource: str, seq: int, t: float | None, defines: bool
    ) -> Endpoint | None:
        """The endpoint a list item names; created only by a list that defines the set, and
        not if an event newer than the list removed it."""
        ep = self.table.get(resource)
        if ep is not None or not defines or self.table.removed_after(resource, seq):
            return ep
        return self._create(resource, seq, t)

    def _create(self, resource: str, seq: int, t: float | None) -> Endpoint:
        ep = Endpoint(resource, active_channels=self._channels.get(resource, 0), updated_at=t)
        ep.seq = seq
        ep.name_rank, ep.name = self._names.get(resource, (0, ""))
        self.table.add(resource, ep)
        return ep

    def _touch(self, ep: Endpoint, t: float | None) -> None:
        if t is not None:
            ep.updated_at = t
        self.table.mark(ep.resource, ep)
