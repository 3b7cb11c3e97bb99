"""Consent (rule 6): the append-only ledger of why an account may send marketing to someone.

Kinds: ``opt_in`` (the person agreed: source, time, evidence text or reference), ``customer``
(an existing customer, for similar products — the CNIL's soft opt-in) and ``withdrawn``.
Marketing needs the latest entry to be ``opt_in`` or ``customer``; informative messages need
none. Rows are only ever added; the contact's ``consent``/``consent_at`` columns mirror the
latest one (updated in the same transaction) so campaign preparation filters on one column.

Consent is not the opt-out registry: a STOP suppresses the number whatever the consent says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, insert, literal, select, update

from stopsms.domain.phone import describe
from stopsms.errors import InvalidInput
from stopsms.services.accounts.accounts import Account, AccountRef, resolve_account
from stopsms.services.optouts.optouts import to_e164
from stopsms.store import tables as t

__all__ = [
    "MARKETING_CONSENTS",
    "Consent",
    "allows_marketing",
    "consent_history",
    "current_consent",
    "ensure_contact",
    "record_consent",
    "record_consents",
]

#: Latest consent kinds under which marketing may be sent.
MARKETING_CONSENTS = frozenset({"opt_in", "customer"})
_C = t.consents.c
_CHUNK = 900


@dataclass(frozen=True, slots=True)
class Consent:
    id: int
    contact_id: int
    kind: str
    source: str
    evidence: str | None
    recorded_at: datetime

    @property
    def allows_marketing(self) -> bool:
        return self.kind in MARKETING_CONSENTS


def allows_marketing(kind: str | None) -> bool:
    """Whether a contact whose latest consent is ``kind`` may receive marketing."""
    return kind in MARKETING_CONSENTS


def _consent(row: RowMapping) -> Consent:
    return Consent(
        row["id"],
        row["contact_id"],
        row["kind"],
        row["source"],
        row["evidence"],
        row["recorded_at"],
    )


def _check(kind: str, source: str) -> None:
    if kind not in t.CONSENT_KINDS:
        raise InvalidInput("consent", kind, f"one of {', '.join(t.CONSENT_KINDS)}")
    if not source or not source.strip():
        raise InvalidInput("consent source", source, "say where the consent comes from")


def ensure_contact(
    connection: Connection, account: AccountRef, phone: str, *, now: datetime | None = None
) -> int:
    """The id of the account's contact for ``phone``, created bare if missing."""
    acc = resolve_account(connection, account)
    e164 = to_e164(phone)
    found = connection.execute(
        select(t.contacts.c.id).where(
            t.contacts.c.account_id == acc.id, t.contacts.c.phone_e164 == e164
        )
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    at = now or datetime.now(UTC)
    return int(
        connection.execute(
            insert(t.contacts)
            .values(
                account_id=acc.id,
                phone_e164=e164,
                region=describe(e164).region,
                created_at=at,
                updated_at=at,
            )
            .returning(t.contacts.c.id)
        ).scalar_one()
    )


def record_consent(
    connection: Connection,
    account: AccountRef,
    phone: str,
    kind: str,
    *,
    source: str,
    evidence: str | None = None,
    now: datetime | None = None,
) -> Consent:
    """Append a consent entry for ``phone`` (its contact is created if needed)."""
    _check(kind, source)
    acc = resolve_account(connection, account)
    at = now or datetime.now(UTC)
    contact_id = ensure_contact(connection, acc, phone, now=at)
    consent_id = connection.execute(
        insert(t.consents)
        .values(
            account_id=acc.id,
            contact_id=contact_id,
            kind=kind,
            source=source.strip(),
            evidence=evidence,
            recorded_at=at,
        )
        .returning(_C.id)
    ).scalar_one()
    connection.execute(
        update(t.contacts)
        .where(t.contacts.c.id == contact_id)
        .values(consent=kind, consent_at=at, updated_at=at)
    )
    return Consent(consent_id, contact_id, kind, source.strip(), evidence, at)


def record_consents(
    connection: Connection,
    account: AccountRef,
    contacts: Iterable[int] | Select[tuple[int]],
    kind: str,
    *,
    source: str,
    evidence: str | None = None,
    now: datetime | None = None,
) -> int:
    """Append the same consent entry for many contacts at once (imports); returns how many.

    ``contacts`` is either ids or — fully set-based — a ``SELECT`` of contact ids (e.g. the
    rows an import just wrote). Only the account's own, non-erased contacts are touched.
    """
    _check(kind, source)
    acc = resolve_account(connection, account)
    at = now or datetime.now(UTC)
    mine = (
        t.contacts.c.account_id == acc.id,
        t.contacts.c.erased_at.is_(None),
    )
    if isinstance(contacts, Select):
        return _record_selected(
            connection, acc, contacts.scalar_subquery(), kind, source, evidence, at
        )
    ids = list(dict.fromkeys(contacts))
    total = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        subquery = select(t.contacts.c.id).where(*mine, t.contacts.c.id.in_(chunk))
        total += _record_selected(
            connection, acc, subquery.scalar_subquery(), kind, source, evidence, at
        )
    return total


def _record_selected(
    connection: Connection,
    acc: Account,
    ids: Any,
    kind: str,
    source: str,
    evidence: str | None,
    at: datetime,
) -> int:
    contact = t.contacts.c
    chosen = (
        contact.account_id == acc.id,
        contact.erased_at.is_(None),
        contact.id.in_(ids),
    )
    rows = select(
        literal(acc.id),
        contact.id,
        literal(kind),
        literal(source.strip()),
        literal(evidence, t.consents.c.evidence.type),
        literal(at, t.consents.c.recorded_at.type),
    ).where(*chosen)
    connection.execute(
        insert(t.consents).from_select(
            ["account_id", "contact_id", "kind", "source", "evidence", "recorded_at"], rows
        )
    )
    # The UPDATE's rowcount, not the INSERT … SELECT's (which psycopg reports as 0).
    return connection.execute(
        update(t.contacts).where(*chosen).values(consent=kind, consent_at=at, updated_at=at)
    ).rowcount


def current_consent(connection: Connection, account: AccountRef, phone: str) -> Consent | None:
    """The latest consent entry for ``phone`` in the account, if any."""
    entries = consent_history(connection, account, phone)
    return entries[-1] if entries else None


def consent_history(connection: Connection, account: AccountRef, phone: str) -> list[Consent]:
    """Every consent entry for ``phone`` in the account, oldest first."""
    acc = resolve_account(connection, account)
    e164 = to_e164(phone)
    rows = connection.execute(
        select(t.consents)
        .join(t.contacts, t.contacts.c.id == _C.contact_id)
        .where(_C.account_id == acc.id, t.contacts.c.phone_e164 == e164)
        .order_by(_C.id)
    ).mappings()
    return [_consent(row) for row in rows]
