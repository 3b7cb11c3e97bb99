"""Editing one contact: its fields changed or cleared, its consent recorded with its history.

A contact's standard fields (``first_name``, ``last_name``, ``email``, ``company``) and custom
fields (``custom``, names as templates read them: lower case, no accents, ``_`` for spaces)
are changed by :func:`update_contact`; a value is checked as an import checks a cell (one line,
at most :data:`VALUE_LIMIT` characters) and kept as written. :func:`clear_field` removes one.
The consent is never a field: it changes only through
:func:`~stopsms.services.contacts.consent.record_consent`, which appends the history entry and
the contact's latest consent in one transaction, so the two cannot disagree; an update may
carry one, recorded in the same transaction as the fields. The number is the contact's
identity (opt-outs, messages, consent are keyed by it): it is not editable. An erased contact
is not found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, update

from stopsms.domain.template import FIELD_ALIASES, STANDARD_FIELDS, normalise_field_name
from stopsms.errors import InvalidInput, NotFound
from stopsms.services.accounts.accounts import AccountRef, resolve_account
from stopsms.services.contacts.consent import record_consent
from stopsms.services.contacts.contacts import _C, Contact, _contact, _selection
from stopsms.store import tables as t

__all__ = [
    "VALUE_LIMIT",
    "ConsentChange",
    "clear_field",
    "field_name",
    "get_contact",
    "update_contact",
]

#: The longest value a field keeps.
VALUE_LIMIT = 1000
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,49}\Z")


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """A consent to record with an update: its kind, where it comes from, its evidence."""

    kind: str
    source: str
    evidence: str | None = None


def get_contact(connection: Connection, account: AccountRef, contact_id: int) -> Contact:
    """The account's contact ``contact_id``; :class:`NotFound` for another account's or an
    erased one."""
    acc = resolve_account(connection, account)
    row = connection.execute(_selection(connection, acc, None).where(_C.id == contact_id))
    found = row.mappings().first()
    if found is None:
        raise NotFound("contact", contact_id)
    return _contact(found)


def field_name(name: str, *, where: str = "field") -> str:
    """A field's canonical name (``Prénom`` → ``first_name``, ``Code postal`` →
    ``code_postal``); ``consent`` and ``phone`` are refused by name."""
    canonical = normalise_field_name(name)
    canonical = FIELD_ALIASES.get(canonical, canonical)
    if canonical in ("consent", "consent_at", "phone", "phone_e164", "number"):
        raise InvalidInput(
            where,
            name,
            "the number is the contact's identity and the consent changes only with its"
            " history (give `consent` with a kind and a source)",
        )
    if not _NAME.match(canonical):
        raise InvalidInput(where, name, "letters, digits and _, at most 50, not a digit first")
    return canonical


def _value(name: str, value: str) -> str | None:
    if len(value) > VALUE_LIMIT or "\n" in value or "\r" in value:
        raise InvalidInput(name, value[:40], f"one line of at most {VALUE_LIMIT} characters")
    kept = value.strip()
    if name == "email" and kept and "@" not in kept:
        raise InvalidInput("email", value, "an email address has an @")
    return kept or None


def update_contact(
    connection: Connection,
    account: AccountRef,
    contact_id: int,
    now: datetime,
    *,
    fields: Mapping[str, str] | None = None,
    custom: Mapping[str, str] | None = None,
    consent: ConsentChange | None = None,
) -> Contact:
    """Change the given standard ``fields`` and ``custom`` fields (``""`` clears one) and
    record ``consent`` (see the module); every value is checked before anything is written."""
    acc = resolve_account(connection, account)
    contact = get_contact(connection, acc, contact_id)
    values: dict[str, object] = {}
    for name, value in (fields or {}).items():
        if name not in STANDARD_FIELDS:
            raise InvalidInput(name, name, f"one of {', '.join(STANDARD_FIELDS)}")
        values[name] = _value(name, value)
    kept = dict(contact.custom)
    for raw, value in (custom or {}).items():
        name = field_name(raw, where=f"custom.{raw}")
        if name in STANDARD_FIELDS:
            raise InvalidInput(f"custom.{raw}", raw, f"a standard field: give it as {name}")
        checked = _value(f"custom.{name}", value)
        if checked is None:
            kept.pop(name, None)
        else:
            kept[name] = checked
    if custom:
        values["custom"] = kept
    if values:
        values["updated_at"] = now
        connection.execute(update(t.contacts).where(_C.id == contact.id).values(**values))
    if consent is not None:
        record_consent(
            connection,
            acc,
            contact.phone_e164,
            consent.kind,
            source=consent.source,
            evidence=consent.evidence,
            now=now,
        )
    return get_contact(connection, acc, contact_id)


def clear_field(
    connection: Connection, account: AccountRef, contact_id: int, name: str, now: datetime
) -> Contact:
    """Remove one field of the contact (standard: emptied; custom: deleted); a field it does
    not have is :class:`NotFound`."""
    acc = resolve_account(connection, account)
    contact = get_contact(connection, acc, contact_id)
    canonical = field_name(name)
    if canonical in STANDARD_FIELDS:
        if getattr(contact, canonical) is None:
            raise NotFound("field", name)
        values: dict[str, object] = {canonical: None}
    else:
        if canonical not in contact.custom:
            raise NotFound("field", name)
        values = {"custom": {k: v for k, v in contact.custom.items() if k != canonical}}
    values["updated_at"] = now
    connection.execute(update(t.contacts).where(_C.id == contact.id).values(**values))
    return get_contact(connection, acc, contact_id)
