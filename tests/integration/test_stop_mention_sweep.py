"""The sweep of issue 12: no account setting yields a marketing SMS without a working STOP.

Every combination hypothesis draws of account type, mention on/off, validation, shortcode
(real or the placeholder 00000), mention format (valid or not), unsubscribe URL (none,
placeholder, real), opt-out scope, provider substitution, sender (alias, long number, none),
message type and text, sent to recipients in FR, RE, BE, GB, NC and US, ends in one of two ways:

- the configuration is refused (account create/update, campaign create, preparation) with a
  sentence saying what to do, exactly when an independent oracle says it must be — and a
  refused account setting, stored anyway as a database from before the checks would hold
  it, is refused at campaign create or excluded at preparation; or
- every message prepared ready ends with a recognised STOP mention holding the real shortcode
  (shortcode regions) or the real link (elsewhere) — ``STOP 00000`` only through a
  substituting provider from an alias — never a placeholder link, never from ``00000``; a
  recipient whose mention would be a placeholder link is excluded (``no_unsubscribe_page``).

Informative messages of a notification account with the mention off carry none (legal).
Runs on SQLite (both preparation paths) and PostgreSQL; each example is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, insert, select, update

from stopsms.clock import FakeClock
from stopsms.domain.mention import SHORTCODE_REGIONS, MessageType, existing_mention
from stopsms.errors import InvalidInput, ServiceError
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns import preparation
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)
PEOPLE = {
    "FR": "+33612340001",
    "RE": "+262692123456",
    "BE": "+32470123456",
    "GB": "+447911123456",
    "NC": "+687751234",
    "US": "+12015550123",
}
REAL_SHORTCODE = "36034"
REAL_URL = "https://shop.fr/stop"
GOOD_FORMATS = ("STOP {shortcode}", "STOP au {shortcode}", "Stop SMS au {shortcode}")
BAD_FORMATS = ("{shortcode}", "Reply NO", "Pour arreter", "STOP SMS")
PLACEHOLDER_URLS = ("https://stopsms.invalid/u", "https://example.com/u", "https://x.test/u")


@dataclass(frozen=True)
class Setting:
    type: str
    mention_enabled: bool
    validated: bool
    shortcode: str
    mention_format: str
    unsubscribe_url: str | None
    optout_scope: str
    substitution: bool
    sender: str | None
    message_type: MessageType
    text: str


settings_strategy = st.builds(
    Setting,
    type=st.sampled_from(["marketing", "notification"]),
    mention_enabled=st.booleans(),
    validated=st.booleans(),
    shortcode=st.sampled_from([REAL_SHORTCODE, "00000"]),
    mention_format=st.sampled_from(GOOD_FORMATS * 2 + BAD_FORMATS),
    unsubscribe_url=st.sampled_from((None, None, REAL_URL, REAL_URL, *PLACEHOLDER_URLS)),
    optout_scope=st.sampled_from(["account", "sender"]),
    substitution=st.booleans(),
    sender=st.sampled_from(["BOUTIQUE", "+33700000001", None]),
    message_type=st.sampled_from(list(MessageType)),
    text=st.sampled_from(["Bonjour {prenom}", "Soldes -20%\n", "Ne stop pas", "Offre STOP"]),
)


def _sentence(error: Exception) -> None:
    message = str(error)
    assert len(message) > 40
    assert "stopsms accounts set" in message or "e.g." in message or "placeholder" in message


def _set_up(conn: Connection, s: Setting) -> accounts.Account:
    """The account with these settings. Bad ones are refused with a sentence, then written
    directly, as a database from before the checks would hold them: they must not reach the
    wire either."""
    bad_setting = s.mention_format in BAD_FORMATS or s.unsubscribe_url in PLACEHOLDER_URLS
    values: dict[str, Any] = {
        "type": s.type,
        "validated": s.validated,
        "shortcode": s.shortcode,
        "mention_format": s.mention_format,
        "unsubscribe_url": s.unsubscribe_url,
        "optout_scope": s.optout_scope,
    }
    try:
        account = accounts.create_account(conn, "sweep", now=NOW, **values)
    except InvalidInput as error:
        if not bad_setting:
            raise
        _sentence(error)
        event("account settings refused, then stored as an old database would")
        account = accounts.create_account(conn, "sweep", now=NOW)
        conn.execute(update(t.accounts).where(t.accounts.c.id == account.id).values(values))
        account = accounts.get_account(conn, "sweep")
    else:
        assert not bad_setting
    if not s.mention_enabled:
        try:
            account = accounts.update_account(conn, account, AccountChanges(mention_enabled=False))
        except InvalidInput:
            assert s.type == "marketing"  # rule 1: only notification accounts may
    for sender in ("BOUTIQUE", "+33700000001"):
        accounts.add_sender(conn, account, sender, now=NOW)
    credits.add_credits(conn, account, 1_000_000, now=NOW)
    # Direct inserts, not tests.builders.add_contacts: each contact is stored with the region
    # named in PEOPLE, which the importer would not always derive (it reads +447911… as GG).
    list_id = conn.execute(
        insert(t.lists)
        .values(account_id=account.id, name="l", created_at=NOW)
        .returning(t.lists.c.id)
    ).scalar_one()
    for region, phone in PEOPLE.items():
        contact_id = conn.execute(
            insert(t.contacts)
            .values(
                account_id=account.id,
                phone_e164=phone,
                region=region,
                first_name="Gaëlle",
                consent="opt_in",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(t.contacts.c.id)
        ).scalar_one()
        conn.execute(insert(t.list_members).values(list_id=list_id, contact_id=contact_id))
    return accounts.get_account(conn, account)


def _check(conn: Connection, s: Setting, *, loop: bool = False) -> None:
    account = _set_up(conn, s)
    clock = FakeClock(NOW)
    # The oracle, written independently of the code under test.
    sender = s.sender if (s.validated and s.sender) else account.shortcode
    carries = (
        s.message_type is MessageType.MARKETING
        or account.type == "marketing"
        or account.mention_enabled
    )
    alias = sender == "BOUTIQUE"
    must_refuse = sender == "00000" or (
        carries
        and (
            account.mention_format in BAD_FORMATS
            or (account.shortcode == "00000" and not (s.substitution and alias))
        )
    )
    try:
        created = create_campaign(
            conn,
            account,
            list_name="l",
            text=s.text,
            sender=s.sender,
            clock=clock,
            message_type=s.message_type,
            shortcode_substitution=s.substitution,
        )
    except ServiceError as error:
        if not must_refuse:
            raise
        _sentence(error)
        event("refused: campaign")
        return
    assert not must_refuse
    campaign = created.campaign
    assert campaign.sender == sender
    preparation.prepare_campaign(
        conn, campaign.id, clock, shortcode_substitution=s.substitution, loop=loop
    )
    m = t.messages.c
    rows = conn.execute(
        select(m.region, m.decision, m.reason, m.text, m.sender).where(m.campaign_id == campaign.id)
    ).all()
    assert len(rows) == len(PEOPLE)
    event(f"prepared: {sum(r.decision == 'ready' for r in rows)} ready")
    no_page = carries and account.unsubscribe_url != REAL_URL
    for region, decision, reason, text, sent_from in rows:
        assert sent_from != "00000"
        in_shortcode_region = region in SHORTCODE_REGIONS
        if no_page and not in_shortcode_region:
            assert (decision, reason) == ("excluded", "no_unsubscribe_page")
            continue
        assert decision == "ready", (region, reason)
        mention = existing_mention(text)
        if not carries:
            continue  # informative, notification account, mention off: none needed
        assert mention is not None, text
        assert "invalid" not in text
        assert "example" not in text
        assert ".test" not in text
        if in_shortcode_region:
            if account.shortcode == "00000":
                assert s.substitution
                assert alias
            assert account.shortcode in mention
        else:
            assert REAL_URL in mention


@pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "loop"])
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(s=settings_strategy)
def test_no_setting_sends_marketing_without_a_working_stop(
    database: Database, set_based: bool, s: Setting
) -> None:
    with database.engine.connect() as conn:
        transaction = conn.begin()
        try:
            _check(conn, s, loop=not set_based)
        finally:
            transaction.rollback()
