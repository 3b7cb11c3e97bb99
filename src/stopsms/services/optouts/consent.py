"""The registry's side of the consent ledger: an opt-out withdraws, a re-subscription restores.

The ledger (:mod:`stopsms.services.contacts.consent`, table ``consents``) tells the whole story of a
number's consent, so the registry writes to it in the same transaction:

- **Opt-out.** A new account-wide opt-out of a contact whose latest consent allows marketing
  (``opt_in``, ``customer``) appends ``withdrawn``, source ``opt-out: <registry source>``
  (``opt-out: keyword``, ``opt-out: import``…), evidence the record and its detail (the SMS
  text, the reason). A later bulk import does not override it (see
  :mod:`stopsms.services.contacts.writers`).
- **Re-subscription.** When the last account-wide opt-out of the number is revoked
  (``optouts remove`` with evidence, an inbound START, a dismissed review) and the contact's
  consent is still the ``withdrawn`` an opt-out wrote, its latest marketing consent
  (``opt_in`` or ``customer``: the one the opt-out ended, or one a bulk import brought since)
  is appended again, source ``re-subscription`` (or ``opt-out dismissed on review``),
  evidence the person's request. Nothing is invented: a contact who had no marketing consent
  before the opt-out has none after.

Not written: a sender-scoped opt-out (the ledger is the account's consent; the registry keeps
which sender), a number that is not a contact of the account, a contact already without
marketing consent, and a ``withdrawn`` recorded by a person (it stands until they record
another consent). The registry's own history (``stopsms optouts check``) has every record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from stopsms.store import tables as t

__all__ = [
    "OPTOUT_SOURCE_PREFIX",
    "restore_consent",
    "withdraw_consents",
]

#: The ledger source of a withdrawal written by an opt-out (``opt-out: keyword``…).
OPTOUT_SOURCE_PREFIX = "opt-out: "
#: The consent kinds under which marketing may be sent (as
#: :data:`stopsms.services.contacts.consent.MARKETING_CONSENTS`, which imports the opt-out
#: registry).
_MARKETING = ("opt_in", "customer")
_CHUNK = 900
_C = t.contacts.c
_L = t.consents.c


def withdraw_consents(
    connection: Connection,
    account_id: int,
    evidence_by_number: Sequence[tuple[str, str | None]],
    *,
    source: str,
    at: datetime,
) -> int:
    """Append ``withdrawn`` for the contacts among these new account-wide opt-outs whose
    consent allows marketing; returns how many. ``evidence_by_number``: (E.164, evidence).

    Set-based: per chunk of numbers one look-up, one multi-row insert, one update.
    """
    evidence = dict(evidence_by_number)
    numbers = list(evidence)
    written = 0
    for start in range(0, len(numbers), _CHUNK):
        rows = connection.execute(
            select(_C.id, _C.phone_e164).where(
                _C.account_id == account_id,
                _C.phone_e164.in_(numbers[start : start + _CHUNK]),
                _C.erased_at.is_(None),
                _C.consent.in_(_MARKETING),
            )
        ).all()
        if not rows:
            continue
        connection.execute(
            insert(t.consents),
            [
                {
                    "account_id": account_id,
                    "contact_id": row.id,
                    "kind": "withdrawn",
                    "source": f"{OPTOUT_SOURCE_PREFIX}{source}",
                    "evidence": evidence[row.phone_e164],
                    "recorded_at": at,
                }
                for row in rows
            ],
        )
        connection.execute(
            update(t.contacts)
            .where(_C.id.in_([row.id for row in rows]))
            .values(consent="withdrawn", consent_at=at, updated_at=at)
        )
        written += len(rows)
    return written


def restore_consent(
    connection: Connection,
    account_id: int,
    e164: str,
    *,
    source: str,
    evidence: str,
    at: datetime,
) -> str | None:
    """Append again the consent an opt-out withdrew from ``e164``'s contact, now that no
    account-wide opt-out of the number is active; the kind restored, or ``None``."""
    contact = connection.execute(
        select(_C.id, _C.consent).where(
            _C.account_id == account_id, _C.phone_e164 == e164, _C.erased_at.is_(None)
        )
    ).first()
    if contact is None or contact.consent != "withdrawn":
        return None  # not a contact, or its consent was recorded again since: it stands
    mine = (_L.account_id == account_id, _L.contact_id == contact.id)
    withdrawal = connection.execute(
        select(_L.source).where(*mine, _L.kind == "withdrawn").order_by(_L.id.desc()).limit(1)
    ).scalar_one_or_none()
    if withdrawal is None or not withdrawal.startswith(OPTOUT_SOURCE_PREFIX):
        return None  # withdrawn by a person, not by the opt-out: that stands
    kind = connection.execute(
        select(_L.kind).where(*mine, _L.kind.in_(_MARKETING)).order_by(_L.id.desc()).limit(1)
    ).scalar_one_or_none()
    if kind is None:
        return None
    contact_id = contact.id
    connection.execute(
        insert(t.consents).values(
            account_id=account_id,
            contact_id=contact_id,
            kind=kind,
            source=source,
            evidence=evidence,
            recorded_at=at,
        )
    )
    connection.execute(
        update(t.contacts)
        .where(_C.id == contact_id)
        .values(consent=kind, consent_at=at, updated_at=at)
    )
    return str(kind)
