"""The customer area's inbox: the inbound SMS of the account, newest first, page by page,
each with how the keyword reader understood it (opt-out, opt-in, help, other; certain or
not) and the campaign it answered (:mod:`stopsms.services.messages.replies`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stopsms.app.application import App
from stopsms.services.access.keys import Principal
from stopsms.services.accounts.accounts import get_account_by_id
from stopsms.services.messages.replies import Reply, latest_replies

__all__ = ["PAGE", "Inbox", "inbox"]

#: Replies per page.
PAGE: Final = 50


@dataclass(frozen=True, slots=True)
class Inbox:
    """One page of replies, where it starts and whether more follow."""

    replies: list[Reply]
    offset: int
    more: bool


def inbox(app: App, who: Principal, offset: int = 0) -> Inbox:
    """The page of ``who``'s account's replies at ``offset`` (one indexed, limited read)."""
    start = max(0, offset)
    with app.reader() as connection:
        account = get_account_by_id(connection, who.account_id)
        found = latest_replies(connection, account, PAGE + 1, offset=start)
    return Inbox(found[:PAGE], start, len(found) > PAGE)
