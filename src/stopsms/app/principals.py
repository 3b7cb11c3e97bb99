"""Who acts: an API key turned into a :class:`~stopsms.services.access.keys.Principal`.

Every interface that takes keys (the API now; the web's sessions next) asks here, so the
account a request may touch and the role it holds come from one place, never from a route's own
query. One indexed read per request (the key's row, by its prefix); the key's last use is
written only when the stored one is more than a minute old
(:data:`~stopsms.services.access.keys.LAST_USE_PRECISION`), so a busy key costs no write per
request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from stopsms.app.application import App
from stopsms.services.access.keys import LAST_USE_PRECISION, Principal, authenticate, mark_used
from stopsms.services.accounts.accounts import Account, get_account_by_id

__all__ = ["acting_account", "principal_of_key"]


def principal_of_key(app: App, key: str, now: datetime) -> Principal | None:
    """The principal ``key`` stands for (None: unknown, malformed or revoked), its last use
    recorded when the stored one is stale."""
    with app.reader() as connection:
        principal = authenticate(connection, key)
    if principal is None or principal.key_id is None:
        return principal
    last = principal.last_used_at
    if last is None or now - last >= LAST_USE_PRECISION:
        with app.transaction() as connection:
            mark_used(connection, principal.key_id, now)
    return principal


def acting_account(connection: Connection, principal: Principal) -> Account:
    """The principal's account, read in the caller's transaction."""
    return get_account_by_id(connection, principal.account_id)
