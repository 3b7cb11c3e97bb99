"""Preparation: one decision per contact with its reason, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select

from stopsms.clock import FakeClock
from stopsms.domain.errors import InvalidTransition
from stopsms.domain.mention import MessageType
from stopsms.services.accounts import accounts, credits
from stopsms.services.accounts.accounts import AccountChanges, get_account
from stopsms.services.campaigns import preparation_sets
from stopsms.services.campaigns.campaigns import cancel_campaign, create_campaign, get_campaign
from stopsms.services.campaigns.decisions import PRIORITY_INFORMATIVE, Decider
from stopsms.services.campaigns.preparation import prepare_campaign, recipient_chunks
from stopsms.services.contacts import erasure
from stopsms.services.optouts import optouts
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import ready_account

#: Tuesday 3 December 2024, 10:00 in Paris: inside the sending window.
NOW = datetime(2024, 12, 3, 9, 0, tzinfo=UTC)


def fr(n: int) -> str:
    """A valid French mobile number."""
    return f"+3361234{n:04d}"


def add_contacts(
    connection: Connection, list_name: str, people: Iterable[Mapping[str, Any]]
) -> int:
    """Create list ``list_name`` of the default account with these contacts (direct inserts).

    Direct inserts, not :func:`tests.builders.add_contacts`: preparation must decide on
    what a database may hold and the importer refuses — invalid numbers ("0612", "+33abc"),
    contacts without consent or with a withdrawn one, a region the number does not say."""
    account = get_account(connection, "default")
    list_id = connection.execute(
        insert(t.lists)
        .values(account_id=account.id, name=list_name, created_at=NOW)
        .returning(t.lists.c.id)
    ).scalar_one()
    for person in people:
        values = {
            "account_id": account.id,
            "region": "FR",
            "consent": "opt_in",
            "created_at": NOW,
            "updated_at": NOW,
            **person,
        }
        contact_id = connection.execute(
            insert(t.contacts).values(values).returning(t.contacts.c.id)
        ).scalar_one()
        connection.execute(insert(t.list_members).values(list_id=list_id, contact_id=contact_id))
    return int(list_id)


def setup_account(connection: Connection, *, credits_millicredits: int = 1_000_000) -> None:
    """Validate the default account, give it a sender, a domain and credits."""
    ready_account(connection, now=NOW, domains=("example.fr",), millicredits=credits_millicredits)


def add_tombstone(connection: Connection) -> int:
    """An erased contact (number and names gone)."""
    account = get_account(connection, "default")
    return int(
        connection.execute(
            insert(t.contacts)
            .values(account_id=account.id, created_at=NOW, updated_at=NOW, erased_at=NOW)
            .returning(t.contacts.c.id)
        ).scalar_one()
    )


def messages_of(connection: Connection, campaign_id: int) -> list[Any]:
    m = t.messages.c
    return list(
        connection.execute(
            select(t.messages).where(m.campaign_id == campaign_id).order_by(m.contact_id)
        )
    )


def test_every_reason_and_ready(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(
            c,
            "clients",
            [
                {"phone_e164": fr(1), "first_name": "Marie"},
                {"phone_e164": fr(2), "first_name": "Paul", "consent": "customer"},
                {"phone_e164": fr(3), "first_name": "Sans", "consent": None},
                {"phone_e164": fr(4), "first_name": "Retiré", "consent": "withdrawn"},
                {"phone_e164": fr(5), "first_name": "Stop"},
                {"phone_e164": fr(6), "first_name": "StopAutre"},
                {"phone_e164": fr(7), "first_name": "StopIci"},
                {"phone_e164": fr(8), "first_name": "Effacé"},
                {"phone_e164": "0612", "first_name": "Faux", "region": None},
                {"phone_e164": "+32470123456", "first_name": "Belge", "region": "BE"},
            ],
        )
        optouts.record_optout(c, "default", fr(5), source="manual", now=NOW)
        accounts.update_account(c, "default", AccountChanges(optout_scope="sender"))
        accounts.add_sender(c, "default", "Autre", now=NOW)
        optouts.record_optout(
            c, "default", fr(6), source="keyword", sender="Autre", scope="sender", now=NOW
        )
        optouts.record_optout(
            c, "default", fr(7), source="keyword", sender="MaBoutique", scope="sender", now=NOW
        )
        # Erased after opting out (the number survives only as a keyed hash), then brought
        # back by a later import: still suppressed.
        erasure.erase_contact(c, "default", fr(8), now=NOW)
        add_contacts(c, "import", [{"phone_e164": fr(8), "first_name": "Revenu"}])
        members = select(t.contacts.c.id).where(t.contacts.c.phone_e164 == fr(8))
        # Direct insert, not tests.builders: list memberships erasure never leaves (module helpers).
        c.execute(insert(t.list_members).values(list_id=1, contact_id=members.scalar_subquery()))
        # A tombstone still in the list (erased by hand): nothing to send to.
        c.execute(
            insert(t.list_members).values(
                list_id=1,
                contact_id=add_tombstone(c),
            )
        )
        created = create_campaign(
            c,
            "default",
            list_name="clients",
            text="Bonjour {prenom}, -20% sur example.fr/promo",
            sender="MaBoutique",
            clock=clock,
        )
    summary = prepare_campaign(database, created.campaign.id, clock)
    assert summary.targeted == 11
    assert summary.excluded == {
        "opted_out": 3,
        "no_consent": 2,
        "invalid_number": 1,
        "erased": 1,
    }
    assert summary.ready == 4
    with database.reader() as c:
        rows = messages_of(c, created.campaign.id)
        campaign = get_campaign(c, "default", created.campaign.id)
    assert campaign.status.value == "sending"
    assert campaign.started_at == NOW
    by_first = {r.text.split(",")[0][8:] if r.text else r.reason: r for r in rows}
    marie = by_first["Marie"]
    assert marie.text == "Bonjour Marie, -20% sur example.fr/promo STOP 36034"
    assert (marie.decision, marie.status, marie.segments, marie.encoding) == (
        "ready",
        "pending",
        1,
        "GSM-7",
    )
    assert marie.price_millicredits == 1000
    assert marie.not_before is None
    assert marie.sender == "MaBoutique"
    belge = by_first["Belge"]
    assert belge.text.endswith("STOP 36034")  # Belgium: the shortcode mention too
    assert "StopAutre" in by_first  # a sender-scoped opt-out of another sender does not count
    excluded = [r for r in rows if r.decision == "excluded"]
    assert all(r.status == "excluded" and r.text is None for r in excluded)
    erased = [r for r in excluded if r.reason == "erased"]
    assert erased[0].phone_e164 is None


def test_personalisation_length_and_parts_per_recipient(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        accounts.set_price(c, "default", "FR", 450)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "Al"},
                {"phone_e164": fr(2), "first_name": "X" * 150},
                {"phone_e164": fr(3), "first_name": "Zoë"},
                {"phone_e164": fr(4), "first_name": None},
            ],
        )
        created = create_campaign(
            c, "default", list_name="l", text="Hi $prenom!", sender="MaBoutique", clock=clock
        )
    summary = prepare_campaign(database, created.campaign.id, clock)
    with database.reader() as c:
        rows = messages_of(c, created.campaign.id)
    assert [r.text for r in rows] == [
        "Hi Al! STOP 36034",
        "Hi " + "X" * 150 + "! STOP 36034",
        "Hi Zoë! STOP 36034",
        "Hi ! STOP 36034",
    ]
    assert [(r.encoding, r.segments, r.price_millicredits) for r in rows] == [
        ("GSM-7", 1, 450),
        ("GSM-7", 2, 900),
        ("UCS-2", 1, 450),
        ("GSM-7", 1, 450),
    ]
    assert summary.parts == 5
    assert summary.credits_millicredits == 2250
    assert summary.encodings == {"GSM-7": 3, "UCS-2": 1}


def test_insufficient_credit_is_a_prefix_in_list_order(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c, credits_millicredits=2_500)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "A"},
                {"phone_e164": fr(2), "first_name": "B" * 160},  # 2 parts: does not fit
                {"phone_e164": fr(3), "first_name": "C"},  # would fit, but comes after
            ],
        )
        created = create_campaign(
            c, "default", list_name="l", text="Hi {prenom}", sender="MaBoutique", clock=clock
        )
    summary = prepare_campaign(database, created.campaign.id, clock, allow_partial=True)
    assert summary.ready == 1
    assert summary.excluded == {"insufficient_credit": 2}
    assert summary.available_millicredits == 2_500
    assert summary.credits_millicredits == 1_000


def test_a_top_up_after_reading_the_account_counts(database: Database) -> None:
    """The balance is read in preparation's own transaction, not from a stale copy."""
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c, credits_millicredits=500)
        add_contacts(c, "l", [{"phone_e164": fr(i)} for i in range(3)])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
        stale = get_account(c, "default")
    with database.transaction() as c:
        credits.add_credits(c, "default", 10_000)
    summary = prepare_campaign(database, created.campaign.id, clock, account=stale)
    assert (summary.ready, summary.excluded) == (3, {})


def test_prepared_timestamps_compare_equal_on_every_path(database: Database) -> None:
    """The set-based SQLite writer stores times in the column's own format: a message created
    at NOW is found by ``created_at == NOW`` (zero microseconds included)."""
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(i)} for i in range(4)])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
    prepare_campaign(database, created.campaign.id, clock)
    with database.reader() as c:
        m = t.messages.c
        found = c.execute(
            select(func.count()).where(m.campaign_id == created.campaign.id, m.created_at == NOW)
        ).scalar_one()
    assert NOW.microsecond == 0
    assert found == 4


def test_waiting_messages_of_other_campaigns_are_already_promised(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c, credits_millicredits=3_000)
        add_contacts(c, "l", [{"phone_e164": fr(i)} for i in range(2)])
        first = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
        second = create_campaign(
            c, "default", list_name="l", text="Promo 2", sender="MaBoutique", clock=clock
        )
    assert prepare_campaign(database, first.campaign.id, clock).ready == 2
    summary = prepare_campaign(database, second.campaign.id, clock, allow_partial=True)
    assert summary.available_millicredits == 1_000
    assert (summary.ready, summary.excluded) == (1, {"insufficient_credit": 1})


def test_sender_and_links_checked_again_at_preparation(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "custom": {"lien": "shop.example.fr/a"}},
                {"phone_e164": fr(2), "custom": {"lien": "evil.com/login"}},
                {"phone_e164": fr(3), "custom": {"lien": "à bientôt"}},
            ],
        )
        links = create_campaign(
            c, "default", list_name="l", text="Voir {lien}", sender="MaBoutique", clock=clock
        )
        sender = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
    summary = prepare_campaign(database, links.campaign.id, clock)
    assert (summary.ready, summary.excluded) == (2, {"url_not_allowed": 1})
    with database.transaction() as c:
        accounts.remove_sender(c, "default", "MaBoutique")
    summary = prepare_campaign(database, sender.campaign.id, clock)
    assert (summary.ready, summary.excluded) == (0, {"sender_not_allowed": 3})


def test_duplicates_are_excluded_and_charged_once(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(1), "first_name": "A"}])
        created = create_campaign(
            c, "default", list_name="l", text="Hi {prenom}", sender="MaBoutique", clock=clock
        )
        campaign = created.campaign
        account = get_account(c, "default")
        decider = Decider.for_campaign(c, campaign, account)
        (rows,) = list(recipient_chunks(c, campaign, with_custom=False))
        # The schema keeps one contact per number; a list read twice is the same as a file
        # with the same person twice: only the first is ready.
        out = decider.decide([*rows, *rows])
    assert [(r[3], r[4]) for r in out] == [("ready", None), ("excluded", "duplicate")]
    summary = decider.finish()
    assert summary.credits_millicredits == 1000
    assert summary.excluded == {"duplicate": 1}


def test_informative_needs_no_consent_and_goes_first(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(1), "consent": None}])
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text="Votre commande est prête",
            sender="MaBoutique",
            message_type=MessageType.INFORMATIVE,
            clock=clock,
        )
    assert prepare_campaign(database, created.campaign.id, clock).ready == 1
    with database.reader() as c:
        (row,) = messages_of(c, created.campaign.id)
    assert (row.kind, row.priority) == ("informative", PRIORITY_INFORMATIVE)
    assert row.text == "Votre commande est prête STOP 36034"  # marketing account: rule 1


def test_preparing_again_writes_nothing(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(i)} for i in range(3)])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
    first = prepare_campaign(database, created.campaign.id, clock)
    again = prepare_campaign(database, created.campaign.id, clock)
    assert again.already_prepared
    assert (again.ready, again.targeted, again.parts, again.credits_millicredits) == (
        first.ready,
        first.targeted,
        first.parts,
        first.credits_millicredits,
    )
    with database.reader() as c:
        assert len(messages_of(c, created.campaign.id)) == 3


def test_a_cancelled_campaign_cannot_be_prepared(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(1)}])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
        cancel_campaign(c, "default", created.campaign.id, clock)
    with pytest.raises(InvalidTransition):
        prepare_campaign(database, created.campaign.id, clock)
    with database.reader() as c:
        assert messages_of(c, created.campaign.id) == []


def test_prepare_inside_the_callers_transaction(database: Database) -> None:
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(1)}])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
        summary = prepare_campaign(c, created.campaign.id, clock, account="default")
        assert summary.ready == 1


@pytest.mark.parametrize("registry_per_member", [1.0, 0.0], ids=["opted-set", "exists"])
@pytest.mark.parametrize("balance", [1_000_000, 9_000], ids=["paid", "short"])
def test_set_based_path_decides_like_the_python_loop(
    database: Database, balance: int, registry_per_member: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite decides in one ``INSERT … SELECT`` (texts composed once per distinct values);
    every column it writes is what the per-recipient loop (preview, PostgreSQL) decides. When
    the credits fall short, the loop itself writes (the prefix rule)."""
    set_based: list[int] = []
    insert_decided = preparation_sets._insert_decided

    def spy(*args: Any, **kwargs: Any) -> None:
        set_based.append(1)
        insert_decided(*args, **kwargs)

    monkeypatch.setattr(preparation_sets, "_insert_decided", spy)
    monkeypatch.setattr(preparation_sets, "REGISTRY_PER_MEMBER", registry_per_member)
    clock = FakeClock(NOW)
    with database.transaction() as c:
        setup_account(c, credits_millicredits=balance)
        accounts.set_price(c, "default", "BE", 1_500)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "Marie", "last_name": "Curie"},
                {"phone_e164": fr(2), "first_name": "Zoë"},  # UCS-2
                {"phone_e164": fr(3), "first_name": "Sans", "consent": None},
                {"phone_e164": fr(4), "first_name": "Retiré", "consent": "withdrawn"},
                {"phone_e164": fr(5), "first_name": "Stop"},
                {"phone_e164": fr(6), "first_name": "StopAutre"},
                {"phone_e164": fr(7), "first_name": "StopIci"},
                {"phone_e164": "0612", "first_name": "Faux", "region": None},
                {"phone_e164": "+33abc", "first_name": "Lettres"},
                {"phone_e164": "+", "first_name": "Vide"},
                {"phone_e164": fr(8), "first_name": "evil.com", "last_name": "x"},
                {"phone_e164": "+32470123456", "first_name": "Belge", "region": "BE"},
                {"phone_e164": fr(9), "first_name": "Marie", "last_name": "Curie"},
                {"phone_e164": fr(10), "first_name": None, "last_name": None},
                {"phone_e164": fr(11), "first_name": "L" * 150},  # 2 parts
                {"phone_e164": fr(12), "first_name": "Hugo"},
                {"phone_e164": fr(13), "first_name": "Tard"},  # past the credits
                {"phone_e164": fr(14), "first_name": "StopSans", "consent": None},
                {"phone_e164": fr(15), "first_name": "T" * 2_000},  # 14 parts: too_long
            ],
        )
        optouts.record_optout(c, "default", fr(14), source="manual", now=NOW)
        c.execute(insert(t.list_members).values(list_id=1, contact_id=add_tombstone(c)))
        optouts.record_optout(c, "default", fr(5), source="manual", now=NOW)
        accounts.update_account(c, "default", AccountChanges(optout_scope="sender"))
        accounts.add_sender(c, "default", "Autre", now=NOW)
        optouts.record_optout(
            c, "default", fr(6), source="keyword", sender="Autre", scope="sender", now=NOW
        )
        optouts.record_optout(
            c, "default", fr(7), source="keyword", sender="MaBoutique", scope="sender", now=NOW
        )
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text="Bonjour {prenom} $nom, -20% sur example.fr/promo",
            sender="MaBoutique",
            clock=clock,
        )
        campaign, account = created.campaign, get_account(c, "default")
        decider = Decider.for_campaign(c, campaign, account)
        expected = [
            row
            for rows in recipient_chunks(c, campaign, with_custom=False)
            for row in decider.decide(rows)
        ]
        python_summary = decider.finish()
    summary = prepare_campaign(database, campaign.id, clock, allow_partial=True)
    with database.reader() as c:
        written = [
            (
                r.contact_id,
                r.phone_e164,
                r.region,
                r.decision,
                r.reason,
                r.text,
                r.encoding,
                r.segments,
                r.price_millicredits,
                r.status,
                r.unsubscribe_token,
            )
            for r in messages_of(c, campaign.id)
        ]
        ids = [r.id for r in messages_of(c, campaign.id)]
    assert written == expected
    assert ids == sorted(ids)  # written in list order
    assert summary.excluded == python_summary.excluded
    short = balance < 1_000_000
    assert ("insufficient_credit" in summary.excluded) is short
    assert summary.excluded["too_long"] == 1
    assert bool(set_based) is not short
    assert (summary.ready, summary.targeted, summary.parts) == (
        python_summary.ready,
        python_summary.targeted,
        python_summary.parts,
    )
    assert summary.credits_millicredits == python_summary.credits_millicredits
    assert summary.encodings == python_summary.encodings
    assert summary.available_millicredits == python_summary.available_millicredits


def test_foreign_keys_are_checked_again_after_preparation(sqlite_database: Database) -> None:
    clock = FakeClock(NOW)
    with sqlite_database.transaction() as c:
        setup_account(c)
        add_contacts(c, "l", [{"phone_e164": fr(1)}])
        created = create_campaign(
            c, "default", list_name="l", text="Promo", sender="MaBoutique", clock=clock
        )
    assert prepare_campaign(sqlite_database, created.campaign.id, clock).ready == 1
    with sqlite_database.reader() as c:
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
