"""The customer area in a real browser: Playwright drives Debian's Chromium
(``/usr/bin/chromium``, installed by ``make test`` when missing; never ``playwright install``)
against ``stopsms serve`` started as a user starts it, on a port the OS chose.

Journey: sign in → compose a marketing text with ’ → the preview (htmx, as one types) shows
UCS-2, the character and the mention → one click on the fix → GSM-7; a viewer has no send
button; a notification account sees the mention checkbox. Screenshots at desktop and phone
widths are written to ``test-artefacts/web/`` (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, set_role
from stopsms.services.accounts.accounts import create_account
from stopsms.services.contacts.contacts import create_list
from tests.builders import ready_account
from tests.e2e.support import TUESDAY_10H, database
from tests.e2e.test_serve import _process, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "web"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    """``stopsms serve`` on ``database_url`` with ``shop`` (marketing; an editor and a viewer)
    and ``alerts`` (notification; the editor owns it too)."""
    db = database(database_url)
    with db.transaction() as connection:
        create_account(connection, "shop", now=TUESDAY_10H)
        create_account(connection, "alerts", now=TUESDAY_10H)
        ready_account(connection, "shop", now=TUESDAY_10H)
        ready_account(connection, "alerts", now=TUESDAY_10H, type="notification")
        create_list(connection, "shop", "clients", now=TUESDAY_10H)
        for email, role in (("editor@shop.fr", Role.EDITOR), ("viewer@shop.fr", Role.VIEWER)):
            create_user(
                connection,
                email,
                PASSWORD,
                account="shop",
                role=role,
                actor="test",
                now=TUESDAY_10H,
            )
        set_role(connection, "editor@shop.fr", "alerts", Role.OWNER, actor="test", now=TUESDAY_10H)
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": database_url, "STOPSMS_HOME": os.environ["STOPSMS_HOME"]}
    seen: list[str] = []
    with _process(["serve", "--port", "0"], env) as server:
        assert server.stdout is not None
        yield _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", seen).group(1)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


def _sign_in(browser: Browser, base_url: str, email: str, width: str = "desktop") -> Page:
    w, h = SIZES[width]
    page = browser.new_page(base_url=base_url, viewport={"width": w, "height": h}, locale="fr-FR")
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("header .role")).to_be_visible()
    return page


def _shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def test_compose_fix_and_roles_in_a_browser(browser: Browser, base_url: str) -> None:
    page = _sign_in(browser, base_url, "editor@shop.fr")  # alerts first: notification
    page.goto("/campaigns/new")
    expect(page.locator("#mention-box")).to_be_visible()
    page.select_option("#account", "shop")
    page.click("#switch")
    page.goto("/campaigns/new")
    expect(page.locator("#mention-box")).to_have_count(0)
    page.locator("#text").press_sequentially("Soldes d’hiver : -30 % ce week-end")
    expect(page.locator("#encoding")).to_have_text("UCS-2")
    expect(page.locator("#ucs2")).to_contain_text("’")
    expect(page.locator("#sms")).to_contain_text("STOP 36034")
    for width in SIZES:
        w, h = SIZES[width]
        page.set_viewport_size({"width": w, "height": h})
        _shot(page, f"composer-{width}")
    # A person holds the button about 150 ms: a preview swapped in meanwhile would lose the click.
    page.click("#fix", delay=150)
    expect(page.locator("#encoding")).to_have_text("GSM-7")
    expect(page.locator("#text")).to_have_value("Soldes d'hiver : -30 % ce week-end")
    expect(page.locator("#draft")).to_be_visible()

    viewer = _sign_in(browser, base_url, "viewer@shop.fr", "phone")
    viewer.goto("/campaigns/new")
    expect(viewer.locator("#draft")).to_have_count(0)
    expect(viewer.locator("#schedule")).to_have_count(0)
    _shot(viewer, "composer-viewer-phone")
