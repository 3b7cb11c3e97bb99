"""Issue 8 item 3: the account's changes are typed, its mention style comes from one method,
one function changes a campaign's status."""

from __future__ import annotations

import pytest

from stopsms.errors import InvalidInput
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import SETTABLE, AccountChanges
from stopsms.store.database import Database


def test_account_changes_leave_unset_fields_and_clear_with_empty(database: Database) -> None:
    with database.transaction() as conn:
        set_ = accounts.update_account(
            conn,
            "default",
            AccountChanges(unsubscribe_url="https://shop.fr/stop", window_policy="fr-mon-sat-8-20"),
        )
        assert (set_.unsubscribe_url, set_.window_policy) == (
            "https://shop.fr/stop",
            "fr-mon-sat-8-20",
        )
        # None leaves a field as it is: nothing changes.
        assert accounts.update_account(conn, "default", AccountChanges()) == set_
        kept = accounts.update_account(conn, "default", AccountChanges(optout_scope="sender"))
        assert (kept.unsubscribe_url, kept.window_policy) == (
            "https://shop.fr/stop",
            "fr-mon-sat-8-20",
        )
        # '' clears a value that may be absent, and gives the brand back the account's name.
        cleared = accounts.update_account(
            conn, "default", AccountChanges(unsubscribe_url="", window_policy="", brand="")
        )
        assert (cleared.unsubscribe_url, cleared.window_policy) == (None, None)
        assert cleared.brand == "default"


def test_account_changes_from_named_fields() -> None:
    assert AccountChanges.from_fields({"shortcode": "36034"}) == AccountChanges(shortcode="36034")
    with pytest.raises(InvalidInput, match="colour"):
        AccountChanges.from_fields({"colour": "red"})
    assert "alert_threshold_millicredits" in SETTABLE
    assert "name" not in SETTABLE
