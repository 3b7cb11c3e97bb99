"""The customer area's blacklist: every opt-out of the account, search, add, remove with
evidence (rule 5: an opt-out is lifted only on the person's own, evidenced request).

The page lists the newest :data:`PAGE` records (the registry can hold millions: the list is
one indexed, limited read); a search shows the whole history of one number, revoked records
included, through :func:`stopsms.services.optouts.optouts.history` (its phone key index).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from stopsms.app.application import App
from stopsms.services.access.keys import Principal
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.optouts.optouts import OptOut, history, record_optout, resubscribe
from stopsms.services.optouts.review import count_optouts, list_optouts

__all__ = ["PAGE", "add", "listing", "remove"]

#: How many opt-outs the page shows at once, newest first.
PAGE: Final = 200


def listing(app: App, who: Principal, search: str | None = None) -> tuple[list[OptOut], int]:
    """The newest active opt-outs (or every record of the number searched) and the count of
    active ones; a search that is no phone number raises ``InvalidPhoneNumber``."""
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        total = count_optouts(connection, account)
        if search and search.strip():
            return list(reversed(history(connection, account, search))), total
        return list_optouts(connection, account, limit=PAGE), total


def add(app: App, who: Principal, phone: str, now: datetime) -> bool:
    """Opt ``phone`` out by hand (source ``manual``); False when it already was."""
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        recorded = record_optout(
            connection, account, phone, source="manual", recorded_by=who.actor, now=now
        )
    return recorded.created


def remove(app: App, who: Principal, phone: str, evidence: str, now: datetime) -> int:
    """Lift ``phone``'s active opt-outs with ``evidence`` (required); how many were lifted."""
    with app.transaction() as connection:
        account = get_account_by_id(connection, who.account_id)
        lifted = resubscribe(connection, account, phone, evidence=evidence, by=who.actor, now=now)
    return len(lifted)
