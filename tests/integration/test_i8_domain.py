"""Issue 8 item 3: the account's changes are typed, its mention style comes from one method,
one function changes a campaign's status."""

from __future__ import annotations

import pytest

from stopsms.domain.mention import MentionStyle
from stopsms.errors import InvalidInput
from stopsms.services import compliance
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


def test_the_mention_style_comes_from_the_account(database: Database) -> None:
    with database.transaction() as conn:
        plain = accounts.update_account(
            conn, "default", AccountChanges(shortcode="36173", mention_format="STOP au {shortcode}")
        )
        style = plain.mention_style()
        assert style == MentionStyle(format="STOP au {shortcode}", shortcode="36173")
        assert plain.mention == style.shortcode_mention() == "STOP au 36173"
        assert not style.link_works  # no unsubscribe page: the placeholder link
        with_page = accounts.update_account(
            conn, "default", AccountChanges(unsubscribe_url="https://shop.fr/stop")
        )
        assert with_page.mention_style().link_mention() == "STOP: https://shop.fr/stop"
        # Preview answers with the very same style.
        assert compliance.account_settings(conn, "default").style == with_page.mention_style()
