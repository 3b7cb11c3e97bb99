"""Every page of the customer area and the unsubscribe page in a real browser (Debian's
Chromium driven by Playwright, against ``stopsms serve`` as a user starts it), at desktop
(1280×800) and phone (390×844) widths:

- a screenshot of each into ``test-artefacts/web/<page>-<width>.png`` (gitignored);
- nothing wider than the screen (the phone-width header once cut the account select: "shc"),
  but inside what scrolls sideways on purpose (a table, a ``.scroll`` box, a chart);
- each table's headings aligned as their column (numbers right, headings too), each starting
  with a capital (an exclusion reason's label, "désinscrits", was a row's heading as is);
- no value shown as the code names it (``top_up``: a text written without ``_()``), the
  audit log's event names and code aside; no colon glued to the word before it ("Solde:" is
  "Solde :" in French: the templates write ``{{ colon }}`` after a label);
- axe-core (npm, pinned in vendor/package.json, copied by ``make vendor`` into
  tests/e2e/vendor) run inside the page: no serious or critical violation.

:data:`PAGES` is the list: a page added to the area is one line there (its address, whether
one signs in first, what a person does on it before the check). And the composer used with
the keyboard alone: skip link, text, fix, schedule, each reached by Tab and pressed by Enter.

One server and one browser per module (SQLite; the pages' markup does not depend on the
backend, which tests/e2e/test_area_browser.py runs on both).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select

from stopsms.clock import FakeClock
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, set_role
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.builders import tuesday_ahead
from tests.e2e.support import database
from tests.e2e.test_area_browser import CHROMIUM, SIZES
from tests.e2e.test_serve import _process, _wait_for
from tests.integration.test_stop_mention import NOW, PEOPLE, add_list, shop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "web"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
EDITOR = "editor@shop.fr"
PASSWORD = "correct horse battery"
PUBLIC = "https://sms.shop.fr"
#: What the check refuses (axe's impacts: minor, moderate, serious, critical). The pages have
#: no moderate one either today, but only these are the rule.
REFUSED = ("serious", "critical")


@dataclass(frozen=True)
class Site:
    base_url: str
    campaign: int
    token: str


def _type_a_curly_quote(page: Page) -> None:
    """The composer as it is used: a text with ’ (UCS-2), so the warning and the fix show."""
    page.locator("#text").press_sequentially("Soldes d’hiver : -30 % ce week-end")
    expect(page.locator("#encoding")).to_have_text("UCS-2")


def _unsubscribe(page: Page) -> None:
    page.fill("#number", "+33 6 12 34 00 09")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_be_visible()


@dataclass(frozen=True)
class Shown:
    """One page to check: ``path`` (``{campaign}``, ``{token}`` filled from the site)."""

    name: str
    path: str
    signed_in: bool = True
    then: Callable[[Page], None] | None = field(default=None, compare=False)


#: Every page of the area and the unsubscribe page; add yours here.
PAGES = (
    Shown("login", "/login", signed_in=False),
    Shown("dashboard", "/"),
    Shown("composer", "/campaigns/new", then=_type_a_curly_quote),
    Shown("campaigns", "/campaigns"),
    Shown("campaign", "/campaigns/{campaign}"),
    Shown("contacts", "/contacts"),
    Shown("blacklist", "/blacklist"),
    Shown("replies", "/replies"),
    Shown("credits", "/credits"),
    Shown("settings", "/settings"),
    Shown("not-found", "/campaigns/999999"),
    Shown("unsubscribe", "/u/{token}", signed_in=False),
    Shown("unsubscribe-number", "/u/a/shop", signed_in=False),
    Shown("unsubscribe-done", "/u/a/shop", signed_in=False, then=_unsubscribe),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``stopsms serve`` on SQLite with ``shop``: an editor (also owner of ``alerts``, so the
    header has its account select), a list of three, a prepared campaign (a British
    recipient: a hosted unsubscribe token), one opt-out."""
    folder = tmp_path_factory.mktemp("area-pages")
    url = f"sqlite:///{folder / 'stopsms.db'}"
    db = database(url)
    clock = FakeClock(NOW)
    with db.transaction() as conn:
        shop(conn)
        add_list(conn, "shop", "clients", ["FR", "RE", "GB"])
        create_user(conn, EDITOR, PASSWORD, account="shop", role=Role.EDITOR, actor="t", now=NOW)
        shop(conn, "alerts", type="notification")
        set_role(conn, EDITOR, "alerts", Role.OWNER, actor="t", now=NOW)
        campaign = create_campaign(
            conn,
            "shop",
            list_name="clients",
            text="Soldes d'hiver : -30 % ce week-end",
            sender="BOUTIQUE",
            clock=clock,
            name="Soldes d'hiver",
        ).campaign
    prepare_campaign(db, campaign.id, clock, public_url=PUBLIC)
    with db.transaction() as conn:
        record_optout(
            conn, "shop", PEOPLE["RE"], source="keyword", detail="STOP", campaign_id=campaign.id
        )
        m = t.messages.c
        token = conn.execute(
            select(m.unsubscribe_token).where(m.campaign_id == campaign.id, m.region == "GB")
        ).scalar_one()
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": url, "STOPSMS_HOME": str(folder)}
    with _process(["serve", "--port", "0"], env) as server:
        assert server.stdout is not None
        base = _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", []).group(1)
        yield Site(base, campaign.id, token)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, site: Site) -> dict[str, Any]:
    """The editor's cookies, signed in once for the module."""
    context = browser.new_context(base_url=site.base_url, locale="fr-FR")
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", EDITOR)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("header .role")).to_be_visible()
    page.select_option("#account", "shop")  # first by name: alerts
    page.click("#switch")
    expect(page.locator("h1")).to_have_text("shop")
    state: dict[str, Any] = dict(context.storage_state())
    context.close()
    return state


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations in ``page`` as it is now (its script injected into the page)."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    return found


@pytest.mark.parametrize("width", list(SIZES))
@pytest.mark.parametrize("shown", PAGES, ids=[p.name for p in PAGES])
def test_each_page_fits_the_screen_and_has_no_serious_accessibility_violation(
    browser: Browser, site: Site, signed_in: dict[str, Any], shown: Shown, width: str
) -> None:
    w, h = SIZES[width]
    context = browser.new_context(
        base_url=site.base_url,
        viewport={"width": w, "height": h},
        locale="fr-FR",
        storage_state=signed_in if shown.signed_in else None,  # type: ignore[arg-type]
        bypass_csp=True,  # axe is injected as an inline script; the pages' CSP forbids those
    )
    page = context.new_page()
    try:
        answer = page.goto(shown.path.format(campaign=site.campaign, token=site.token))
        assert answer is not None
        assert answer.status < 500
        if shown.then is not None:
            shown.then(page)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"{shown.name}-{width}.png"), full_page=True)
        wider = page.evaluate(
            """() => [...document.querySelectorAll("body, body *")]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                .filter(e => !e.parentElement?.closest(".scroll, table, .chart"))
                .map(e => e.tagName + (e.id ? "#" + e.id : ""))"""
        )
        assert wider == [], f"wider than the {width} screen: {wider}"
        askew = page.evaluate(
            """() => [...document.querySelectorAll("table")].flatMap(table => {
                const heads = [...table.querySelectorAll("thead th")];
                const row = table.querySelector("tbody tr");
                if (!row) return [];
                const align = e => getComputedStyle(e).textAlign;
                return heads.filter((th, i) => row.cells[i] && row.cells[i].colSpan === 1
                        && align(th) !== align(row.cells[i]))
                    .map(th => (table.id || "table") + ": " + th.textContent.trim());
            })"""
        )
        assert askew == [], f"headings aligned apart from their column: {askew}"
        small = page.evaluate(
            """() => [...document.querySelectorAll("th")].map(th => th.textContent.trim())
                .filter(text => /^\\p{Ll}/u.test(text))"""
        )
        assert small == [], f"headings starting with a small letter: {small}"
        raw, bare = page.evaluate(
            """() => {
                const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
                const raw = [], bare = [];
                while (walk.nextNode()) {
                    const text = walk.currentNode;
                    if (text.parentElement.closest("code, pre, script, #audit-log")) continue;
                    raw.push(...(text.data.match(/\\b[a-z]+(?:_[a-z]+)+\\b/g) || []));
                    const colon = (text.data + " " + (text.nextSibling?.textContent || "")).trim();
                    if (/[\\p{L})]:(\\s|$)/u.test(text.data)) bare.push(colon.slice(0, 40));
                }
                return [raw, bare];
            }"""
        )
        assert raw == [], f"values shown as the code names them, not in French: {raw}"
        assert bare == [], f"a colon without the space French sets before it: {bare}"
        serious = [v for v in violations(page) if v["impact"] in REFUSED]
        assert serious == [], serious
    finally:
        context.close()


def test_the_checker_finds_a_serious_violation(browser: Browser, site: Site) -> None:
    """The check can fail: an image without text and an unlabelled field are reported."""
    page = browser.new_page(base_url=site.base_url, bypass_csp=True)
    page.goto("/login")
    page.evaluate(
        """() => { document.querySelector("main").insertAdjacentHTML("beforeend",
            '<img src="/static/none.png"><input id="nameless" type="text">'); }"""
    )
    found = {v["id"] for v in violations(page) if v["impact"] in REFUSED}
    assert {"image-alt", "label"} <= found
    page.close()


def _tab_to(page: Page, selector: str, most: int = 15) -> int:
    """Press Tab until ``selector`` has the focus; how many presses (fails past ``most``)."""
    target = page.locator(selector)
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            return presses
    raise AssertionError(f"{selector} not reached in {most} Tab presses")


def test_the_composer_with_the_keyboard_alone(
    browser: Browser, site: Site, signed_in: dict[str, Any]
) -> None:
    """Skip link → text → type → the fix → Enter → the date → Schedule → Enter: the campaign's
    page, scheduled, with the fixed text. Each control is reached by Tab in a sensible order
    and shows where the focus is."""
    context = browser.new_context(
        base_url=site.base_url,
        locale="fr-FR",
        storage_state=signed_in,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto("/campaigns/new")
    assert _tab_to(page, "a.skip", 1) == 1  # the first stop: past the header in one key
    expect(page.locator("a.skip")).to_be_visible()  # shown once focused
    page.keyboard.press("Enter")
    _tab_to(page, "#text", 2)
    page.keyboard.type("Soldes d’hiver : -30 % ce week-end")
    expect(page.locator("#encoding")).to_have_text("UCS-2")
    outline = page.locator("#text").evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline != "none"  # the focus is visible
    _tab_to(page, "#fix")
    page.keyboard.press("Enter")
    expect(page.locator("#encoding")).to_have_text("GSM-7")
    expect(page.locator("#text")).to_have_value("Soldes d'hiver : -30 % ce week-end")
    page.keyboard.press("Tab")  # after the reload, the skip link again
    page.keyboard.press("Enter")
    _tab_to(page, "#list")
    page.keyboard.press("Tab")
    at = page.locator("#at")
    assert at.evaluate("e => e === document.activeElement")
    # Headless Chromium lays the field out in the US order (month, day, year, hour, minute,
    # AM/PM) whatever the page's language or --lang; a 24-hour layout ignores the "AM".
    day = tuesday_ahead(time(10, 0))
    page.keyboard.type(f"{day:%m%d%Y}")
    page.keyboard.press("Tab")
    page.keyboard.type("1000AM")
    expect(at).to_have_value(f"{day:%Y-%m-%dT%H:%M}")
    _tab_to(page, "#schedule", 6)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{site.base_url}/campaigns/{site.campaign + 1}")
    expect(page.locator("#status")).to_have_text("programmée")
    expect(page.locator("pre.sms")).to_have_text("Soldes d'hiver : -30 % ce week-end")
    context.close()
