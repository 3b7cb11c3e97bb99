"""Issue 12 items 1–3: no marketing SMS without a working STOP mention, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, update

from stopsms.clock import FakeClock
from stopsms.domain.mention import MessageType
from stopsms.errors import Fix, InvalidInput
from stopsms.providers.smpp_url import parse_smpp_url
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import preview_campaign
from stopsms.services.campaigns.stop_mention import MentionRefused
from stopsms.store import tables as t
from stopsms.store.database import Database

#: Tuesday 3 December 2024, 10:00 in Paris: inside the sending window.
NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
#: One number per region: the shortcode regions FR, RE, BE; link regions GB, NC, US.
PEOPLE = {
    "FR": "+33612340001",
    "RE": "+262692123456",
    "BE": "+32470123456",
    "GB": "+447911123456",
    "NC": "+687751234",
    "US": "+12015550123",
}


def add_list(conn: Connection, account: str, name: str, regions: Iterable[str]) -> None:
    # Direct inserts, not tests.builders.add_contacts: each contact is stored with the region
    # named here, which the importer would not always derive (it reads +447911… as GG).
    acc = accounts.get_account(conn, account)
    list_id = conn.execute(
        insert(t.lists).values(account_id=acc.id, name=name, created_at=NOW).returning(t.lists.c.id)
    ).scalar_one()
    for region in regions:
        contact_id = conn.execute(
            insert(t.contacts)
            .values(
                account_id=acc.id,
                phone_e164=PEOPLE[region],
                region=region,
                first_name="Gaëlle",
                consent="opt_in",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(t.contacts.c.id)
        ).scalar_one()
        conn.execute(insert(t.list_members).values(list_id=list_id, contact_id=contact_id))


def shop(conn: Connection, name: str = "shop", **settings: Any) -> accounts.Account:
    """A validated account with sender BOUTIQUE and credits."""
    options: dict[str, Any] = {"validated": True, "shortcode": "36034", **settings}
    account = accounts.create_account(conn, name, now=NOW, **options)
    accounts.add_sender(conn, account, "BOUTIQUE", now=NOW)
    credits.add_credits(conn, account, 1_000_000, now=NOW)
    return account


def ready_texts(conn: Connection, campaign_id: int) -> dict[str, str]:
    m = t.messages.c
    rows = conn.execute(
        select(m.region, m.text).where(m.campaign_id == campaign_id, m.decision == "ready")
    )
    return {row.region: row.text for row in rows}


def reasons(conn: Connection, campaign_id: int) -> dict[str, str]:
    m = t.messages.c
    rows = conn.execute(
        select(m.region, m.reason).where(m.campaign_id == campaign_id, m.decision == "excluded")
    )
    return {row.region: row.reason for row in rows}


# -- item 1: the mention cannot be configured away --------------------------------------------


@pytest.mark.parametrize("fmt", ["{shortcode}", "Reply NO", "Pour arreter", "STOP SMS"])
def test_a_mention_format_that_is_not_a_stop_mention_is_refused(
    database: Database, fmt: str
) -> None:
    """Fails on main: these formats were accepted and the preview sent `Bonjour Gaëlle 36034`."""
    with database.transaction() as conn:
        with pytest.raises(InvalidInput) as refused:
            accounts.update_account(conn, "default", AccountChanges(mention_format=fmt))
        assert "e.g. 'STOP {shortcode}'" in str(refused.value)
        with pytest.raises(InvalidInput):
            accounts.create_account(conn, "s5", mention_format=fmt)
        # A shortcode change is checked against the format too (a 3-digit code is no mention).
        accounts.update_account(
            conn, "default", AccountChanges(mention_format="STOP au {shortcode}")
        )
        with pytest.raises(InvalidInput):
            accounts.update_account(conn, "default", AccountChanges(shortcode="123"))
        assert accounts.get_account(conn, "default").mention == "STOP au 00000"


def test_a_bad_format_already_stored_never_reaches_the_wire(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        account = shop(conn)
        add_list(conn, "shop", "l", ["FR"])
        campaign = create_campaign(
            conn, account, list_name="l", text="Bonjour", sender="BOUTIQUE", clock=clock
        ).campaign
        # Written before the check existed (or by hand in the database).
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.id == account.id)
            .values(mention_format="Reply NO")
        )
        preview = preview_campaign(conn, "shop", campaign.id, clock)
        assert preview.refusal is not None
        assert "Reply NO" in preview.refusal
    with pytest.raises(MentionRefused, match="set its mention_format"):
        prepare_campaign(database, campaign.id, clock)
    with database.reader() as conn:
        assert ready_texts(conn, campaign.id) == {}
        status = conn.execute(
            select(t.campaigns.c.status).where(t.campaigns.c.id == campaign.id)
        ).scalar_one()
    assert status == "draft"


# -- item 2: the placeholder shortcode 00000 ----------------------------------------------------


def test_marketing_on_the_placeholder_shortcode_is_refused_at_create(database: Database) -> None:
    """Fails on main: a new account (no --shortcode, not validated) sent 12 SMS *from* 00000
    ending `STOP 00000`."""
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        accounts.add_sender(conn, "default", "BOUTIQUE", now=NOW)
        credits.add_credits(conn, "default", 1_000_000, now=NOW)
        add_list(conn, "default", "l", ["FR"])
        for substitution in (False, True):  # never from 00000, whatever the provider
            with pytest.raises(MentionRefused, match="leave from 00000") as refused:
                create_campaign(
                    conn,
                    "default",
                    list_name="l",
                    text="Bonjour",
                    sender="BOUTIQUE",
                    clock=clock,
                    shortcode_substitution=substitution,
                )
            assert "set the account's real shortcode" in str(refused.value)
            assert refused.value.fix == Fix(
                "set_account", (("account", "default"), ("shortcode", "NNNNN"))
            )
        # Validated, with an alias: only a substituting provider makes STOP 00000 work.
        accounts.update_account(conn, "default", AccountChanges(validated=True))
        with pytest.raises(MentionRefused, match="does not replace it") as refused:
            create_campaign(
                conn, "default", list_name="l", text="Bonjour", sender="BOUTIQUE", clock=clock
            )
        assert "shortcode_substitution=1" in str(refused.value)
        created = create_campaign(
            conn,
            "default",
            list_name="l",
            text="Bonjour",
            sender="BOUTIQUE",
            clock=clock,
            shortcode_substitution=True,
        )
    campaign_id = created.campaign.id
    # `campaign send` (and the worker) through a provider that does not substitute: refused.
    with pytest.raises(MentionRefused):
        prepare_campaign(database, campaign_id, clock)
    summary = prepare_campaign(database, campaign_id, clock, shortcode_substitution=True)
    assert summary.ready == 1
    with database.reader() as conn:
        assert ready_texts(conn, campaign_id) == {"FR": "Bonjour STOP 00000"}


def test_informative_without_mention_may_use_the_placeholder_account(database: Database) -> None:
    """A notification account with the mention off carries none: legal, but never from 00000."""
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        accounts.update_account(
            conn,
            "default",
            AccountChanges(type="notification", mention_enabled=False, validated=True),
        )
        accounts.add_sender(conn, "default", "BOUTIQUE", now=NOW)
        add_list(conn, "default", "l", ["FR"])
        created = create_campaign(
            conn,
            "default",
            list_name="l",
            text="Votre colis arrive",
            sender="BOUTIQUE",
            clock=clock,
            message_type=MessageType.INFORMATIVE,
        )
        assert created.campaign.sender == "BOUTIQUE"
        with pytest.raises(MentionRefused, match="leave from 00000"):
            create_campaign(
                conn,
                "default",
                list_name="l",
                text="Votre colis arrive",
                sender=None,  # the account's shortcode: 00000
                clock=clock,
                message_type=MessageType.INFORMATIVE,
            )


def test_the_provider_url_says_whether_it_substitutes() -> None:
    assert not parse_smpp_url("smpp://a:b@h:1").shortcode_substitution
    assert parse_smpp_url("smpp://a:b@h:1?shortcode_substitution=1").shortcode_substitution


# -- item 3: a placeholder link is never sent -------------------------------------------------


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "loop"])
def test_link_regions_are_excluded_without_a_real_unsubscribe_page(
    database: Database, set_based: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails on main: +44… and +687… received `STOP: https://stopsms.invalid/u`."""
    written: list[int] = []
    insert_decided = preparation_sets._insert_decided

    def spy(*a: Any, **k: Any) -> Any:
        written.append(1)
        return insert_decided(*a, **k)

    monkeypatch.setattr(
        preparation_sets,
        "_insert_decided",
        spy,
    )
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        shop(conn)
        add_list(conn, "shop", "l", PEOPLE)
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Bonjour {prenom}", sender="BOUTIQUE", clock=clock
        ).campaign
        preview = preview_campaign(conn, "shop", campaign.id, clock)
    assert preview.summary.excluded == {"no_unsubscribe_page": 3}
    shown = {m.region: (m.mention, m.ready, m.no_unsubscribe_page) for m in preview.mentions}
    assert shown == {
        "BE": ("STOP 36034", 1, 0),
        "FR": ("STOP 36034", 1, 0),
        "RE": ("STOP 36034", 1, 0),
        "GB": (None, 0, 1),
        "NC": (None, 0, 1),
        "US": (None, 0, 1),
    }
    summary = prepare_campaign(database, campaign.id, clock, loop=not set_based)
    assert summary.excluded == {"no_unsubscribe_page": 3}
    assert bool(written) is set_based
    with database.reader() as conn:
        assert reasons(conn, campaign.id) == dict.fromkeys(
            ("GB", "NC", "US"), "no_unsubscribe_page"
        )
        assert set(ready_texts(conn, campaign.id).values()) == {"Bonjour Gaëlle STOP 36034"}
        stored = preview_campaign(conn, "shop", campaign.id, clock)
    assert {m.region: (m.mention, m.ready, m.no_unsubscribe_page) for m in stored.mentions} == shown


def test_a_real_unsubscribe_url_reaches_every_region(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        with pytest.raises(InvalidInput, match="placeholder"):
            shop(conn, "bad", unsubscribe_url="https://stopsms.invalid/u")
        account = shop(conn)
        with pytest.raises(InvalidInput, match="placeholder"):
            accounts.update_account(
                conn, account, AccountChanges(unsubscribe_url="https://example.com/u")
            )
        accounts.update_account(
            conn, account, AccountChanges(unsubscribe_url="https://shop.fr/stop")
        )
        add_list(conn, "shop", "l", PEOPLE)
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Bonjour", sender="BOUTIQUE", clock=clock
        ).campaign
        preview = preview_campaign(conn, "shop", campaign.id, clock)
    assert {m.region: m.mention for m in preview.mentions} == {
        **dict.fromkeys(("BE", "FR", "RE"), "STOP 36034"),
        **dict.fromkeys(("GB", "NC", "US"), "STOP: https://shop.fr/stop"),
    }
    assert prepare_campaign(database, campaign.id, clock).ready == 6
