"""The hosted unsubscribe page's use cases, as every interface calls them (the web page now).

Each opens its own transaction on the :class:`~stopsms.app.application.App`; the rules are in
:mod:`stopsms.services.optouts.unsubscribe`. A page shows what :class:`UnsubscribePage`
holds: the number masked (:func:`~stopsms.domain.unsubscribe.masked_number`), never whole.

On SQLite the opt-outs of one process are written one at a time, queued on a lock: SQLite
takes one writer anyway, and forty server threads left to its busy handler (which sleeps and
retries) made a burst of clicks wait past the busy timeout ("database is locked", seen by
``bench unsubscribe`` on a loaded machine) instead of queueing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from stopsms.app.application import App
from stopsms.domain.unsubscribe import masked_number
from stopsms.services.optouts import unsubscribe as service

__all__ = [
    "UnsubscribePage",
    "account_page",
    "token_page",
    "unsubscribe_by_token",
    "unsubscribe_number",
]


@dataclass(frozen=True, slots=True)
class UnsubscribePage:
    """What the per-message page shows: the masked number, the sender, the brand."""

    masked_number: str
    sender: str | None
    brand: str


_SQLITE_WRITES = threading.Lock()


@contextlib.contextmanager
def _writing(app: App) -> Iterator[None]:
    """One writer at a time in this process on SQLite (see the module doc); no wait else."""
    if app.database.engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITES:
        yield


def _page(target: service.TokenTarget) -> UnsubscribePage:
    return UnsubscribePage(masked_number(target.phone_e164), target.sender, target.brand)


def token_page(app: App, token: str) -> UnsubscribePage | None:
    """The page of the message ``token`` names (None: no such message)."""
    with app.reader() as connection:
        target = service.find_token(connection, token)
    return None if target is None else _page(target)


def unsubscribe_by_token(
    app: App, token: str, *, reason: str | None, text: str | None
) -> UnsubscribePage | None:
    """Record the opt-out the page at ``token`` asks for (None: no such message)."""
    with _writing(app), app.transaction() as connection:
        target = service.unsubscribe_by_token(connection, token, reason=reason, text=text)
    return None if target is None else _page(target)


def account_page(app: App, account: str) -> str | None:
    """The brand the general page of ``account`` shows (None: no such account)."""
    with app.reader() as connection:
        return service.account_brand(connection, account)


def unsubscribe_number(
    app: App, account: str, number: str, *, reason: str | None, text: str | None
) -> None:
    """Record the opt-out the general page of ``account`` asks for, known number or not."""
    with _writing(app), app.transaction() as connection:
        service.unsubscribe_number(connection, account, number, reason=reason, text=text)
