"""The settings and the blacklist in a real browser: Playwright drives Debian's Chromium
against ``stopsms serve`` started as a user starts it (see test_area_browser.py).

An owner creates an API key and sees it once (gone after a reload); on the notification
account the owner switches the STOP mention off for good, on the marketing account the
control is absent; the blacklist shows an opt-out with its source and campaign, and an
uncertain STOP is approved from the review queue. Screenshots in ``test-artefacts/web/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from stopsms.clock import FakeClock
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, set_role
from stopsms.services.accounts.accounts import create_account, get_account
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.optouts.optouts import record_optout
from tests.builders import add_contacts, ready_account
from tests.e2e.support import TUESDAY_10H, database
from tests.e2e.test_area_browser import SIZES, _shot, _sign_in, browser
from tests.e2e.test_serve import _process, _wait_for

__all__ = ["browser"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    """``stopsms serve`` with ``shop`` (marketing) and ``alerts`` (notification), both owned
    by owner@shop.fr; shop has a campaign, a certain STOP and an uncertain one."""
    db = database(database_url)
    with db.transaction() as connection:
        create_account(connection, "shop", now=TUESDAY_10H)
        create_account(connection, "alerts", now=TUESDAY_10H)
        ready_account(connection, "shop", now=TUESDAY_10H)
        ready_account(connection, "alerts", now=TUESDAY_10H, type="notification")
        people = [{"phone_e164": "+33612345678"}, {"phone_e164": "+33612345679"}]
        add_contacts(connection, "clients", people, now=TUESDAY_10H, account="shop")
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes",
            sender=None,
            clock=FakeClock(TUESDAY_10H),
        ).campaign
        shop = get_account(connection, "shop")
        for phone, words, uncertain in (
            ("+33612345678", "STOP", False),
            ("+33612345679", "merci mais stop", True),
        ):
            record_optout(
                connection,
                shop,
                phone,
                source="keyword",
                detail=words,
                uncertain=uncertain,
                campaign_id=campaign.id,
                now=TUESDAY_10H,
            )
        create_user(
            connection,
            "owner@shop.fr",
            PASSWORD,
            account="alerts",
            role=Role.OWNER,
            actor="test",
            now=TUESDAY_10H,
        )
        set_role(connection, "owner@shop.fr", "shop", Role.OWNER, actor="test", now=TUESDAY_10H)
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": database_url, "STOPSMS_HOME": os.environ["STOPSMS_HOME"]}
    seen: list[str] = []
    with _process(["serve", "--port", "0"], env) as server:
        assert server.stdout is not None
        yield _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", seen).group(1)


def test_keys_mention_and_blacklist_in_a_browser(browser: Browser, base_url: str) -> None:
    page = _sign_in(browser, base_url, "owner@shop.fr")  # alerts first: notification
    page.click("text=Réglages")
    expect(page.locator("h1")).to_have_text("Réglages")

    page.fill("#key-name", "boutique en ligne")
    page.click("#create-key")
    key = page.locator("#new-key")
    expect(key).to_contain_text("ssk_")
    shown = key.inner_text()
    expect(page.locator("#key-list")).to_contain_text("boutique en ligne")
    _shot(page, "settings-new-key-desktop")
    page.goto("/settings")
    expect(page.locator("#new-key")).to_have_count(0)
    assert shown not in page.content()

    page.click("#mention-off")
    expect(page.locator("#mention")).to_have_text("aucune (compte de notification)")
    expect(page.locator("#mention-on")).to_be_visible()
    expect(page.locator("#audit-log")).to_contain_text("mention_enabled: False")

    page.select_option("#account", "shop")
    page.click("#switch")
    page.goto("/settings")
    expect(page.locator("#mention")).to_have_text("STOP 36034")
    expect(page.locator("#mention-off")).to_have_count(0)
    expect(page.locator("#mention-switch")).to_have_count(0)
    for width in SIZES:
        w, h = SIZES[width]
        page.set_viewport_size({"width": w, "height": h})
        _shot(page, f"settings-{width}")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.click("header >> text=Liste noire")
    row = page.locator("#optouts tr", has_text="+33612345678")
    expect(row.locator(".source")).to_have_text("STOP par SMS")
    expect(row.locator(".campaign a")).to_have_text("#1")
    expect(page.locator("#queue-size")).to_have_text("1")
    queued = page.locator("#queue tr", has_text="+33612345679")
    expect(queued).to_contain_text("merci mais stop")
    _shot(page, "blacklist-desktop")
    queued.locator("button.approve").click()
    expect(page.locator("#queue-size")).to_have_text("0")
    expect(page.locator("#queue")).to_have_count(0)
    expect(page.locator("#total")).to_have_text("2")
