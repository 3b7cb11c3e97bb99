"""Issue 8 item 3: the account's changes are typed, its mention style comes from one method,
one function changes a campaign's status."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stopsms.clock import FakeClock
from stopsms.domain.campaign import CampaignStatus as S
from stopsms.domain.errors import InvalidTransition
from stopsms.domain.mention import MentionStyle
from stopsms.errors import InvalidInput
from stopsms.services import compliance
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import SETTABLE, AccountChanges
from stopsms.services.campaigns import status
from stopsms.services.campaigns.campaigns import create_campaign, get_campaign
from stopsms.store.database import Database
from tests.integration.test_preparation import NOW, add_contacts, fr, setup_account


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


def test_one_function_changes_a_campaign_status(database: Database) -> None:
    """``change_status``: the lifecycle's rule, a compare-and-set, the timestamps of the target
    — the same for a person's command, preparation and the dispatcher."""
    later = NOW + timedelta(hours=1)
    with database.transaction() as conn:
        setup_account(conn)
        add_contacts(conn, "clients", [{"phone_e164": fr(1), "first_name": "Ana"}])
        created = create_campaign(
            conn,
            "default",
            list_name="clients",
            text="Bonjour",
            sender="MaBoutique",
            clock=FakeClock(NOW),
        )
        cid, account_id = created.campaign.id, created.campaign.account_id
        # The lifecycle forbids draft → sending, before anything is written.
        with pytest.raises(InvalidTransition):
            status.change_status(conn, cid, S.SENDING, NOW, expected=S.DRAFT)
        # Compare-and-set: a campaign that is not what the caller read does not move.
        assert not status.change_status(conn, cid, S.SENDING, NOW, expected=S.PREPARING)
        # Another account's campaign does not move either.
        assert not status.change_status(
            conn, cid, S.PREPARING, NOW, expected=S.DRAFT, account_id=account_id + 1
        )
        assert status.current_status(conn, cid) is S.DRAFT
        assert status.change_status(conn, cid, S.PREPARING, NOW, expected=S.DRAFT)
        assert status.change_status(conn, cid, S.SENDING, NOW, expected=S.PREPARING)
        # started_at: the first time it sends, kept when it comes back from held.
        assert status.move_if_allowed(conn, cid, S.HELD, later)
        assert not status.move_if_allowed(conn, cid, S.HELD, later)  # already there
        assert not status.move_if_allowed(conn, cid, S.DRAFT, later)  # not allowed: no error
        assert status.move_if_allowed(conn, cid, S.SENDING, later)
        campaign = get_campaign(conn, "default", cid)
        assert (campaign.started_at, campaign.completed_at) == (NOW, None)
        # completed_at: when it ends, cancelled as completed.
        assert status.change_status(conn, cid, S.CANCELLED, later, expected=S.SENDING)
        campaign = get_campaign(conn, "default", cid)
        assert (campaign.status, campaign.completed_at) == (S.CANCELLED, later)
