"""The PJSIP listings (PJSIPShowEndpoints, PJSIPShowEndpoint, PJSIPShowContacts, ...) as item
field lists, in the lab's field order (:mod:`monitor.sim.catalog`) or the FCM630A guide's."""

from __future__ import annotations

from . import catalog
from .model import DEVICE_STATES, Contact, Endpoint

Pairs = list[tuple[str, str]]


def _subst(template: tuple[tuple[str, str], ...], old: str, new: str) -> Pairs:
    if old == new:
        return list(template)
    return [(k, v.replace(old, new)) for k, v in template]


def contacts_text(ep: Endpoint, *, trailing: bool = True) -> str:
    sep = "," if trailing else ""
    parts = [f"{c.aor}/{c.uri}{sep}" for c in ep.contacts]
    return "".join(parts) if trailing else ",".join(parts)


def device_text(ep: Endpoint) -> str:
    return DEVICE_STATES[ep.device_state()][1]


def endpoint_list(ep: Endpoint, fcm: bool = False) -> Pairs:
    if fcm:
        # The FCM630A guide's example: empty Transport, OutboundAuths = the endpoint, and an
        # empty ActiveChannels.
        return [
            ("ObjectType", "endpoint"),
            ("ObjectName", ep.name),
            ("Transport", ""),
            ("Aor", ep.name),
            ("Auths", ep.name if ep.kind == "phone" else ""),
            ("OutboundAuths", ep.name if ep.kind == "phone" else ""),
            ("Contacts", contacts_text(ep)),
            ("DeviceState", device_text(ep)),
            ("ActiveChannels", ""),
        ]
    return [
        ("ObjectType", "endpoint"),
        ("ObjectName", ep.name),
        ("Transport", ep.transport),
        ("Aor", ep.name),
        ("Auths", ep.name if ep.kind == "phone" else ""),
        ("OutboundAuths", ""),
        ("Contacts", contacts_text(ep)),
        ("DeviceState", device_text(ep)),
        ("ActiveChannels", str(len(ep.channels))),
    ]


def endpoint_detail(ep: Endpoint) -> Pairs:
    if ep.kind == "trunk":
        pairs = _subst(catalog.ENDPOINT_DETAIL_TRUNK, "trunk_1", ep.name)
    else:
        pairs = [
            (k, f'"{ep.callerid_name}" <{ep.name}>' if k == "Callerid" else v)
            for k, v in _subst(catalog.ENDPOINT_DETAIL_PHONE, "1001", ep.name)
        ]
    state = {"DeviceState": device_text(ep), "ActiveChannels": str(len(ep.channels))}
    return [(k, state.get(k, v)) for k, v in pairs]


def auth_detail(ep: Endpoint) -> Pairs:
    return _subst(catalog.AUTH_DETAIL, "1001", ep.name)


def transport_detail(ep: Endpoint) -> Pairs:
    return [(k, ep.name if k == "EndpointName" else v) for k, v in catalog.TRANSPORT_DETAIL]


def aor_detail(ep: Endpoint) -> Pairs:
    if ep.kind == "trunk":
        template, old = catalog.AOR_DETAIL_TRUNK, "trunk_1"
    else:
        template, old = catalog.AOR_DETAIL_PHONE, "1001"
    values = {
        "Contacts": contacts_text(ep, trailing=False),
        "TotalContacts": str(len(ep.contacts)),
        "ContactsRegistered": str(sum(1 for c in ep.contacts if not c.static)),
    }
    return [(k, values.get(k, v)) for k, v in _subst(template, old, ep.name)]


def contact_status_detail(ep: Endpoint, c: Contact) -> Pairs:
    if c.static:
        values = {
            "AOR": c.aor,
            "URI": c.uri,
            "Status": c.status,
            "RoundtripUsec": str(c.rtt_usec) if c.status == "Reachable" else "N/A",
            "EndpointName": ep.name,
            "ID": c.object_name,
        }
        template = catalog.CONTACT_STATUS_DETAIL_TRUNK
    else:
        values = {
            "AOR": c.aor,
            "URI": c.uri,
            "UserAgent": c.user_agent,
            "RegExpire": str(c.expiration),
            "ViaAddress": f"{c.via_addr}:{c.via_port}",
            "CallID": c.call_id,
            "Status": c.status,
            "RoundtripUsec": str(c.rtt_usec),
            "EndpointName": ep.name,
            "ID": c.object_name,
        }
        template = catalog.CONTACT_STATUS_DETAIL_PHONE
    return [(k, values.get(k, v)) for k, v in template]


def contact_list(ep: Endpoint, c: Contact) -> Pairs:
    values = {
        "ObjectName": c.object_name,
        "ViaAddr": c.via_addr,
        "CallId": c.call_id,
        "Endpoint": ep.name,
        "ViaPort": str(c.via_port),
        "Uri": c.uri,
        "UserAgent": c.user_agent,
        "ExpirationTime": str(c.expiration),
        "Status": c.status,
        "RoundtripUsec": str(c.rtt_usec),
    }
    return [(k, values.get(k, v)) for k, v in catalog.CONTACT_LIST]


def aor_list(ep: Endpoint) -> Pairs:
    if ep.kind == "trunk":
        template, old = catalog.AOR_LIST_TRUNK, "trunk_1"
    else:
        template, old = catalog.AOR_LIST_PHONE, "1001"
    contacts = contacts_text(ep, trailing=False)
    return [(k, contacts if k == "Contacts" else v) for k, v in _subst(template, old, ep.name)]


def auth_list(ep: Endpoint) -> Pairs:
    return _subst(catalog.AUTH_LIST, "1001", ep.name)


def inbound_registration(ep: Endpoint) -> Pairs:
    if ep.kind == "trunk":
        template, old = catalog.INBOUND_REGISTRATION_DETAIL_TRUNK, "trunk_1"
    else:
        template, old = catalog.INBOUND_REGISTRATION_DETAIL, "1001"
    values = {"Contact": contacts_text(ep, trailing=False), "Contacts": contacts_text(ep)}
    return [(k, values.get(k, v)) for k, v in _subst(template, old, ep.name)]


# The FCM630A guide's EndpointDetail (Figure 18), the fields it shows in its order.
FCM_ENDPOINT_DETAIL = (
    "TimersSessExpires", "ScaEnable", "DeviceStateBusyAt", "DtlsCipher",
    "ConfigureMediaUseReceivedTransport", "FromDomain", "DtlsRekey", "DtlsFingerprint",
    "DirectMediaMethod", "SendRpid", "PickupGroup", "SdpSession", "DtlsVerify", "MessageContext",
    "Mailboxes", "NamedPickupGroup", "RecordOnFeature", "DtlsPrivateKey", "CcMaxMonitors",
    "RmvObpFromRoute", "CcMonitorPolicy", "ScaSharedline", "NamedCallGroup", "T38UdptlMaxdatagram",
    "MediaEncryptionOptimistic", "CcAgentPolicy", "AllowSetHbState", "Aors", "RemoteMailbox",
    "RpidImmediate", "IntranetIpFilter", "OutboundProxy", "IdentifyBy", "UseOrigcidInPpi",
    "InbandProgress", "RtpSymmetric", "Transport", "ConfigureUseAvpf", "T38UdptlEc", "FaxDetect",
    "T38UdptlNat", "AllowTransfer", "TosVideo", "RtpKeepalive", "SrtpTag32",
)  # fmt: skip
FCM_VALUES = {
    "TimersSessExpires": "1800", "ScaEnable": "false", "DeviceStateBusyAt": "0",
    "ConfigureMediaUseReceivedTransport": "false", "DtlsRekey": "0", "DtlsFingerprint": "SHA-256",
    "DirectMediaMethod": "invite", "SendRpid": "false", "SdpSession": "Asterisk",
    "DtlsVerify": "Yes", "MessageContext": "messages", "RecordOnFeature": "automixmon",
    "DtlsPrivateKey": "/cfg/etc/asterisk_new/keys/client_dtls.key", "CcMaxMonitors": "2",
    "RmvObpFromRoute": "false", "CcMonitorPolicy": "never", "T38UdptlMaxdatagram": "400",
    "MediaEncryptionOptimistic": "false", "CcAgentPolicy": "never", "AllowSetHbState": "true",
    "RpidImmediate": "false", "IntranetIpFilter": "false", "IdentifyBy": "username",
    "UseOrigcidInPpi": "false", "InbandProgress": "false", "RtpSymmetric": "true",
    "ConfigureUseAvpf": "false", "T38UdptlEc": "none", "FaxDetect": "false",
    "T38UdptlNat": "false", "AllowTransfer": "true", "TosVideo": "0", "RtpKeepalive": "0",
    "SrtpTag32": "false",
}  # fmt: skip


def fcm_endpoint_detail(ep: Endpoint) -> Pairs:
    per_endpoint = {"Mailboxes": f"{ep.name}@default", "ScaSharedline": ep.name, "Aors": ep.name}
    pairs = [("ObjectType", "endpoint"), ("ObjectName", ep.name)]
    pairs += [(k, per_endpoint.get(k, FCM_VALUES.get(k, ""))) for k in FCM_ENDPOINT_DETAIL]
    pairs += [("DeviceState", device_text(ep)), ("ActiveChannels", "")]
    return pairs
