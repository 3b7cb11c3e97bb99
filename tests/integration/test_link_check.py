"""Rule 10 through merge fields and the standalone preview (issue 12, item 13).

Every test here fails on the code before the WHATWG/Public Suffix List check: a merge field
carrying ``https://evil.com?@shop.fr`` was ready, ``{first_name}:{last_name}`` with ``http``
and ``2130706433`` skipped the check (no ``.`` in any value), a bare ``evil.sbs`` was no link,
and ``preview --account`` never looked at links.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app
from stopsms.clock import FakeClock
from stopsms.services.accounts import accounts
from stopsms.services.campaigns.campaigns import UnverifiedLink, create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import preview_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import NOW, fr, setup_account


def _shop(database: Database) -> None:
    with database.transaction() as c:
        setup_account(c)
        accounts.add_domain(c, "default", "shop.fr", now=NOW)


@pytest.mark.parametrize(
    "template", ["Bonjour {first_name} STOP", "Voir {first_name}", "{first_name}"]
)
def test_a_merge_field_link_to_an_unverified_host_excludes_only_that_recipient(
    database: Database, template: str
) -> None:
    clock = FakeClock(NOW)
    _shop(database)
    with database.transaction() as c:
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "https://evil.com?@shop.fr"},
                {"phone_e164": fr(2), "first_name": "Gaëlle"},
                {"phone_e164": fr(3), "first_name": "https://shop.fr/promo"},
                {"phone_e164": fr(4), "first_name": "https://evil。com"},
                {"phone_e164": fr(5), "first_name": "evil.sbs/x"},
            ],
            now=NOW,
        )
        created = create_campaign(
            c, "default", list_name="l", text=template, sender="MaBoutique", clock=clock
        )
        preview = preview_campaign(c, "default", created.campaign.id, clock)
    assert (preview.summary.ready, preview.summary.excluded) == (2, {"url_not_allowed": 3})
    summary = prepare_campaign(database, created.campaign.id, clock)
    assert (summary.ready, summary.excluded) == (2, {"url_not_allowed": 3})
    with database.transaction() as c:
        rows = c.execute(
            t.messages.select()
            .with_only_columns(t.messages.c.phone_e164, t.messages.c.reason)
            .where(t.messages.c.campaign_id == created.campaign.id)
            .order_by(t.messages.c.phone_e164)
        ).all()
    assert [reason for _, reason in rows] == [
        "url_not_allowed",
        None,
        None,
        "url_not_allowed",
        "url_not_allowed",
    ]


def test_fields_that_complete_a_link_without_a_dot_are_checked(database: Database) -> None:
    """``{first_name}:{last_name}`` = ``http`` + ``2130706433``: no value holds a ``.`` or a
    ``:``, the message still links to 127.0.0.1."""
    clock = FakeClock(NOW)
    _shop(database)
    with database.transaction() as c:
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(1), "first_name": "http", "last_name": "2130706433"},
                {"phone_e164": fr(2), "first_name": "Promo", "last_name": "demain"},
                {"phone_e164": fr(3), "first_name": "https", "last_name": "shop.fr"},
            ],
            now=NOW,
        )
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text="{first_name}:{last_name}",
            sender="MaBoutique",
            clock=clock,
        )
    summary = prepare_campaign(database, created.campaign.id, clock)
    assert (summary.ready, summary.excluded) == (2, {"url_not_allowed": 1})


@pytest.mark.parametrize(
    "text",
    [
        "Soldes https://evil.com?@shop.fr",
        "Soldes https://evil.com#@shop.fr",
        "Soldes https://evil.com\\@shop.fr",
        "Soldes http://2130706433/x",
        "Soldes https://evil。com",
        "Soldes:evil.com",
        "Soldes evil.lol",
        "Soldes http://[::1]/x",
    ],
)
def test_create_refuses_each_bypass(database: Database, text: str) -> None:
    clock = FakeClock(NOW)
    _shop(database)
    with database.transaction() as c:
        add_contacts(c, "l", [{"phone_e164": fr(1)}], now=NOW)
        with pytest.raises(UnverifiedLink):
            create_campaign(
                c, "default", list_name="l", text=text, sender="MaBoutique", clock=clock
            )


@pytest.fixture
def cli(cli: CliRunner) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), with account ``shop`` and its domain."""
    runner = cli
    for step in (
        ["accounts", "create", "shop", "--shortcode", "36173", "--validated"],
        ["domains", "add", "shop.fr", "--account", "shop"],
    ):
        result = runner.invoke(app, step)
        assert result.exit_code == 0, (step, result.output)
    return runner


def test_preview_with_an_account_refuses_an_unverified_link(cli: CliRunner) -> None:
    bad = cli.invoke(app, ["preview", "Soldes https://evil.com?@shop.fr", "--account", "shop"])
    assert bad.exit_code == 1
    assert "unverified domain(s) evil.com" in bad.stdout
    assert "Traceback" not in bad.output

    answer = cli.invoke(
        app, ["preview", "Soldes evil.sbs/x", "--account", "shop", "--json"], catch_exceptions=False
    )
    assert answer.exit_code == 1
    assert json.loads(answer.stdout)["unverified_domains"] == ["evil.sbs"]

    good = cli.invoke(app, ["preview", "Soldes https://shop.fr/x", "--account", "shop"])
    assert good.exit_code == 0, good.output
    assert "unverified" not in good.stdout
