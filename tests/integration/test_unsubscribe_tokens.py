"""The hosted unsubscribe page's per-message tokens, made at preparation (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stopsms.clock import FakeClock
from stopsms.domain.mention import existing_mention, placeholder_on_wire
from stopsms.domain.unsubscribe import PLACEHOLDER_TOKEN, TOKEN_LENGTH, is_token
from stopsms.services import compliance
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import preview_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.integration.test_stop_mention import NOW, PEOPLE, add_list, shop

PUBLIC = "https://sms.shop.fr"
HOSTED = f"STOP: {PUBLIC}/u/"


@pytest.mark.parametrize("loop", [False, True], ids=["set-based", "loop"])
def test_link_regions_get_a_token_each_counted_before_it_exists(
    database: Database, loop: bool
) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        shop(conn)
        add_list(conn, "shop", "l", PEOPLE)
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Bonjour {prenom}", sender="BOUTIQUE", clock=clock
        ).campaign
        # Without a public URL, the link regions have no page (as before).
        assert preview_campaign(conn, "shop", campaign.id, clock).summary.excluded == {
            "no_unsubscribe_page": 3
        }
        preview = preview_campaign(conn, "shop", campaign.id, clock, public_url=PUBLIC)
    shown = {m.region: m.mention for m in preview.mentions}
    assert shown == {
        **dict.fromkeys(("BE", "FR", "RE"), "STOP 36034"),
        **dict.fromkeys(("GB", "NC", "US"), HOSTED + PLACEHOLDER_TOKEN),
    }
    assert preview.summary.ready == 6
    summary = prepare_campaign(database, campaign.id, clock, loop=loop, public_url=PUBLIC)
    # What the preview counted (parts, credits) is what was prepared, tokens in.
    assert (summary.ready, summary.parts, summary.credits_millicredits) == (
        preview.summary.ready,
        preview.summary.parts,
        preview.summary.credits_millicredits,
    )
    m = t.messages.c
    with database.reader() as conn:
        rows = conn.execute(
            select(m.region, m.text, m.unsubscribe_token, m.segments).where(
                m.campaign_id == campaign.id
            )
        ).all()
        stored = preview_campaign(conn, "shop", campaign.id, clock, public_url=PUBLIC)
    tokens = {row.region: row.unsubscribe_token for row in rows}
    assert {r: tokens[r] for r in ("BE", "FR", "RE")} == dict.fromkeys(("BE", "FR", "RE"))
    linked = [row for row in rows if row.region in ("GB", "NC", "US")]
    assert len({row.unsubscribe_token for row in linked}) == 3
    for row in linked:
        assert is_token(row.unsubscribe_token)
        assert row.text == f"Bonjour Gaëlle {HOSTED}{row.unsubscribe_token}"
        # Preview length == wire length: the placeholder stood for exactly this token.
        assert len(row.text) == len(f"Bonjour Gaëlle {HOSTED}{PLACEHOLDER_TOKEN}")
        assert placeholder_on_wire(row.text, "BOUTIQUE", substitution=False) is None
        assert existing_mention(row.text) == HOSTED + row.unsubscribe_token
    # The prepared campaign's preview shows each region's mention once, token included.
    assert stored.sample is not None
    assert stored.sample.composed.text.count("STOP") == 1


def test_an_account_with_its_own_page_gets_no_token(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        account = shop(conn)
        accounts.update_account(
            conn, account, AccountChanges(unsubscribe_url="https://shop.fr/stop")
        )
        add_list(conn, "shop", "l", PEOPLE)
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Bonjour", sender="BOUTIQUE", clock=clock
        ).campaign
    assert prepare_campaign(database, campaign.id, clock, public_url=PUBLIC).ready == 6
    with database.reader() as conn:
        texts = conn.execute(
            select(t.messages.c.text, t.messages.c.unsubscribe_token).where(
                t.messages.c.region == "GB"
            )
        ).one()
    assert texts == ("Bonjour STOP: https://shop.fr/stop", None)


def test_a_local_public_url_is_no_page(database: Database) -> None:
    """An installation only reachable on loopback cannot be anybody's unsubscribe page."""
    clock = FakeClock(NOW)
    with database.transaction() as conn:
        shop(conn)
        add_list(conn, "shop", "l", ["GB", "FR"])
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Bonjour", sender="BOUTIQUE", clock=clock
        ).campaign
    summary = prepare_campaign(database, campaign.id, clock, public_url="http://127.0.0.1:8000")
    assert summary.excluded == {"no_unsubscribe_page": 1}
    assert len(PLACEHOLDER_TOKEN) == TOKEN_LENGTH


def test_the_one_message_preview_shows_the_hosted_link_and_no_refusal(database: Database) -> None:
    """`stopsms preview --to +44… --account shop`: the link as it will leave, its token to come."""
    with database.transaction() as conn:
        shop(conn)
        hosted = compliance.account_settings(conn, "shop", public_url=PUBLIC)
        own_less = compliance.account_settings(conn, "shop")
    request = compliance.PreviewRequest("Soldes", to=PEOPLE["GB"], sender="BOUTIQUE")
    shown = compliance.preview(compliance.with_account(request, hosted))
    assert shown.composed.text == f"Soldes {HOSTED}{PLACEHOLDER_TOKEN}"
    assert shown.refusal is None
    refused = compliance.preview(compliance.with_account(request, own_less))
    assert refused.refusal is not None
    assert "no_unsubscribe_page" in refused.refusal
