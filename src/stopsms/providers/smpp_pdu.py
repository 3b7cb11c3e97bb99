"""SMPP 3.4 wire details shared by the ESME (:mod:`stopsms.providers.smpp`) and the simulator.

The ``submit_sm`` and ``deliver_sm`` bodies are encoded and decoded by the ``smpp34`` codec
(Rust); what is left here is the small stuff around it: the 16-byte header, the bind and
header-only PDUs, the concatenation UDH, ``data_coding`` ↔ text, and the delivery receipt text
(``id:… stat:… err:…``, SMPP 3.4 appendix B) with its TLV twins.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Final

import smpp34

from stopsms.domain.text import gsm7_decode, gsm7_encode

HEADER: Final = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence
SEQUENCE: Final = struct.Struct(">I")  # the header's sequence_number, at offset 12

GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_TRANSMITTER: Final = 0x00000002
SUBMIT_SM: Final = 0x00000004
DELIVER_SM: Final = 0x00000005
UNBIND: Final = 0x00000006
BIND_TRANSCEIVER: Final = 0x00000009
ENQUIRE_LINK: Final = 0x00000015
RESP: Final = 0x80000000  # or-ed into a request's command_id to name its response

ESME_ROK: Final = 0x00
ESME_RMSGQFUL: Final = 0x14  # message queue full: try later
ESME_RTHROTTLED: Final = 0x58  # throttling error: try later
ESME_RX_T_APPN: Final = 0x64  # ESME receiver temporary app error: re-deliver later
RETRYABLE_STATUSES: Final = frozenset({ESME_RMSGQFUL, ESME_RTHROTTLED})

#: What a refused bind's status means, and what to check (SMPP 3.4, section 5.1.3).
_BIND_REFUSALS: Final = {
    0x05: ("ESME_RALYBND", "already bound", "another process may hold this account's binds"),
    0x0D: ("ESME_RBINDFAIL", "bind failed", "check the account and its number of binds"),
    0x0E: ("ESME_RINVPASWD", "invalid password", "check the password in the provider URL"),
    0x0F: ("ESME_RINVSYSID", "invalid system_id", "check the system_id in the provider URL"),
}


def bind_refusal(status: int) -> str:
    """Why an SMSC refused a bind with ``status``, and what to check, in words."""
    known = _BIND_REFUSALS.get(status)
    if known is None:
        return f"status 0x{status:02X}: check the system_id, password and system_type"
    name, meaning, check = known
    return f"{meaning} ({name}, 0x{status:02X}): {check}"


DCS_GSM7: Final = 0x00
DCS_UCS2: Final = 0x08
ESM_UDHI: Final = 0x40  # short_message starts with a user data header
ESM_RECEIPT: Final = 0x04  # deliver_sm is an SMSC delivery receipt

TLV_SAR_MSG_REF_NUM: Final = 0x020C
TLV_SAR_TOTAL_SEGMENTS: Final = 0x020E
TLV_SAR_SEGMENT_SEQNUM: Final = 0x020F
TLV_RECEIPTED_MESSAGE_ID: Final = 0x001E
TLV_MESSAGE_STATE: Final = 0x0427
TLV_NETWORK_ERROR_CODE: Final = 0x0423
TLV_MESSAGE_PAYLOAD: Final = 0x0424

# message_state TLV values (SMPP 3.4 §5.2.28) → the receipt text's ``stat:`` words.
MESSAGE_STATES: Final = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
STATE_CODES: Final = {word: code for code, word in MESSAGE_STATES.items()}


def header_only(command_id: int, sequence: int, status: int = 0) -> bytes:
    """A PDU without a body: enquire_link(_resp), unbind(_resp), generic_nack."""
    return HEADER.pack(16, command_id, status, sequence)


def with_header(command_id: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def c_string(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def bind_pdu(
    command_id: int,
    sequence: int,
    system_id: str,
    password: str,
    system_type: str,
) -> bytes:
    """bind_transmitter / bind_receiver / bind_transceiver, interface version 3.4."""
    body = (
        c_string(system_id)
        + c_string(password)
        + c_string(system_type)
        + bytes((0x34, 0, 0))  # interface_version, addr_ton, addr_npi
        + b"\0"  # address_range
    )
    return with_header(command_id, sequence, body)


def read_c_string(body: bytes, start: int = 0) -> str:
    end = body.find(b"\0", start)
    return body[start : end if end >= 0 else len(body)].decode("latin-1")


def decode_deliver_sm(frame: bytes) -> smpp34.DeliverSm:
    """The typed ``deliver_sm`` (fields, short_message, TLVs) of one complete PDU."""
    pdu = smpp34.decode(frame)
    if not isinstance(pdu, smpp34.DeliverSm):
        raise ValueError(f"not a deliver_sm: {pdu!r}")
    return pdu


# ---------------------------------------------------------------- text and UDH


def encode_text(text: str, data_coding: int) -> bytes:
    """Bytes of ``text`` for ``data_coding`` 0 (GSM-7, unpacked septets) or 8 (UCS-2)."""
    if data_coding == DCS_UCS2:
        return text.encode("utf-16-be", "surrogatepass")  # a lone surrogate is one unit
    return gsm7_encode(text)


def decode_text(data: bytes, data_coding: int) -> str:
    """Text of a short_message payload; unknown alphabets read as Latin-1 rather than fail."""
    if data_coding == DCS_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DCS_GSM7:
        try:
            return gsm7_decode(data)
        except ValueError:  # some SMSCs send Latin-1 under data_coding 0
            return data.decode("latin-1")
    return data.decode("latin-1")


def split_ucs2(text: str, single: int = 70, part: int = 67) -> list[str]:
    """Parts of a UCS-2 message by UTF-16 code units; never splits a surrogate pair."""
    units = sum(2 if c > "\uffff" else 1 for c in text)
    if units <= single:
        return [text]
    parts: list[str] = []
    start = used = 0
    for i, c in enumerate(text):
        cost = 2 if c > "\uffff" else 1
        if used + cost > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return parts


def concat_udh(reference: int, total: int, number: int) -> bytes:
    """The 6-byte UDH of part ``number`` (1-based) of ``total``, 8-bit reference (IEI 0x00)."""
    return bytes((5, 0x00, 3, reference & 0xFF, total, number))


@dataclass(frozen=True, slots=True)
class Concat:
    """Where a part sits in a concatenated message."""

    reference: int
    total: int
    number: int


def split_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """The concatenation info of a UDH-prefixed short_message (IEI 0x00 or 0x08) and the rest."""
    if not short_message:
        return None, short_message
    length = short_message[0]
    udh = short_message[1 : 1 + length]
    payload = short_message[1 + length :]
    i = 0
    while i + 1 < len(udh):
        iei, ie_len = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + ie_len]
        if iei == 0x00 and ie_len == 3:
            return Concat(data[0], data[1], data[2]), payload
        if iei == 0x08 and ie_len == 4:
            return Concat((data[0] << 8) | data[1], data[2], data[3]), payload
        i += 2 + ie_len
    return None, payload


def sar_concat(tlvs: list[smpp34.Tlv]) -> Concat | None:
    """Concatenation info carried by the SAR TLVs, if all three are present."""
    found = {t.tag: t.as_int() for t in tlvs}
    ref = found.get(TLV_SAR_MSG_REF_NUM)
    total = found.get(TLV_SAR_TOTAL_SEGMENTS)
    number = found.get(TLV_SAR_SEGMENT_SEQNUM)
    if ref is None or total is None or number is None:
        return None
    return Concat(ref, total, number)


def sar_tlvs(reference: int, total: int, number: int) -> list[smpp34.Tlv]:
    return [
        smpp34.Tlv(TLV_SAR_MSG_REF_NUM, (reference & 0xFFFF).to_bytes(2, "big")),
        smpp34.Tlv(TLV_SAR_TOTAL_SEGMENTS, bytes((total,))),
        smpp34.Tlv(TLV_SAR_SEGMENT_SEQNUM, bytes((number,))),
    ]


# ---------------------------------------------------------------- delivery receipts

_RECEIPT_FIELD = re.compile(
    r"(id|sub|dlvrd|submit date|done date|stat|err):\s*(\S*)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ReceiptFields:
    """What a delivery receipt says, from its text and/or its TLVs (TLVs win)."""

    message_id: str
    state: str  # DELIVRD, UNDELIV, ... (upper case)
    error_code: str | None  # as the SMSC wrote it, e.g. "061"; None when "000" or absent


#: States whose receipt needs no error code: the TLVs alone say everything that is used.
_NO_ERROR_STATES: Final = frozenset({"DELIVRD", "ENROUTE", "ACCEPTD"})


def _from_tlvs(tlvs: list[smpp34.Tlv]) -> tuple[str, str, str | None]:
    """(message id, state, error) as the receipted_message_id / message_state /
    network_error_code TLVs give them ("" / None when absent)."""
    message_id, state, error = "", "", None
    for tlv in tlvs:
        tag = tlv.tag
        if tag == TLV_RECEIPTED_MESSAGE_ID:
            message_id = tlv.as_string() or ""
        elif tag == TLV_MESSAGE_STATE:
            code = tlv.as_int()
            if code is not None:
                state = MESSAGE_STATES.get(code, "UNKNOWN")
        elif tag == TLV_NETWORK_ERROR_CODE and len(tlv.value) == 3:
            error = f"{int.from_bytes(tlv.value[1:], 'big'):03d}"
    return message_id, state, error


def _fields(message_id: str, state: str, error: str | None) -> ReceiptFields | None:
    if not message_id:
        return None
    if error is not None and error.strip("0") == "":
        error = None
    return ReceiptFields(message_id, state or "UNKNOWN", error)


def parse_receipt(text: str, tlvs: list[smpp34.Tlv]) -> ReceiptFields | None:
    """Read ``id:… stat:… err:…`` and the receipted_message_id / message_state /
    network_error_code TLVs; ``None`` if neither names a message id. The TLVs win for the id
    and the state, the text's ``err:`` for the error code."""
    tlv_id, tlv_state, tlv_error = _from_tlvs(tlvs)
    fields: dict[str, str] = {}
    for key, value in _RECEIPT_FIELD.findall(text):
        fields.setdefault(key.lower(), value)
    message_id = tlv_id or fields.get("id", "")
    state = tlv_state or fields.get("stat", "").upper()
    error = fields.get("err", tlv_error)
    return _fields(message_id, state, error)


def parse_receipt_pdu(pdu: smpp34.DeliverSm) -> ReceiptFields | None:
    """:func:`parse_receipt` of a receipt ``deliver_sm``, TLVs first: when they give the id
    and a state that carries no error (delivered, en route, accepted), the text is neither
    decoded nor searched; otherwise the same reading as :func:`parse_receipt`."""
    tlv_id, tlv_state, tlv_error = _from_tlvs(pdu.tlvs)
    if tlv_id and tlv_state in _NO_ERROR_STATES:
        return _fields(tlv_id, tlv_state, tlv_error)
    return parse_receipt(decode_text(pdu.short_message, pdu.data_coding), pdu.tlvs)


def receipt_text(
    message_id: str, state: str, error_code: str, submit_date: str, done_date: str, text: str
) -> str:
    """The de-facto receipt text of SMPP 3.4 appendix B."""
    delivered = "001" if state == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{submit_date} "
        f"done date:{done_date} stat:{state} err:{error_code} text:{text[:20]}"
    )
