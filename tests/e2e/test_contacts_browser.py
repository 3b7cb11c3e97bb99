"""The contacts pages in a real browser: Playwright drives Debian's Chromium against
``stopsms serve`` started as a user starts it (on PostgreSQL with ``stopsms jobs worker``
beside it, which runs the import there).

Journey: sign in → upload a messy CSV (a header "Téléphone", a ’, a French 06…, a number
with +33 and spaces, a bad number, a formula cell) → the columns as guessed, the formula shown
as text → fix a column's mapping ("Contact" holds first names) → import → the progress
fragment gives way to the result with 1 rejected, without a reload → the reject report
downloads → the search finds the contact by the first name the fix mapped → its page shows
the consent recorded by the import. Screenshots go to ``test-artefacts/web/``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, expect

from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user
from stopsms.services.accounts.accounts import create_account
from tests.builders import ready_account
from tests.e2e.support import TUESDAY_10H, database
from tests.e2e.test_area_browser import _shot, _sign_in, browser  # noqa: F401 (a fixture)
from tests.e2e.test_serve import _process, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MESSY = (
    "Téléphone;Contact;Nom;Remarque\n"
    '06 12 34 56 78;Zoé;L’Hôte;=HYPERLINK("http://evil.example","clic")\n'
    "+33 6 98 76 54 32;Marc;Durand;fidèle\n"
    "pas un numéro;Bad;Row;\n"
).encode()


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    """``stopsms serve`` on ``database_url`` with ``shop`` (marketing) and its editor; on
    PostgreSQL ``stopsms jobs worker`` too (``serve`` runs no job there)."""
    db = database(database_url)
    with db.transaction() as connection:
        create_account(connection, "shop", now=TUESDAY_10H)
        ready_account(connection, "shop", now=TUESDAY_10H)
        create_user(
            connection,
            "editor@shop.fr",
            "correct horse battery",
            account="shop",
            role=Role.EDITOR,
            actor="test",
            now=TUESDAY_10H,
        )
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": database_url, "STOPSMS_HOME": os.environ["STOPSMS_HOME"]}
    seen: list[str] = []
    with contextlib.ExitStack() as stack:
        if database_url.startswith("postgresql"):
            worker = stack.enter_context(_process(["jobs", "worker"], env))
            assert worker.stdout is not None
            _wait_for(worker.stdout, r"jobs worker: running jobs", seen)
        server = stack.enter_context(_process(["serve", "--port", "0"], env))
        assert server.stdout is not None
        yield _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", seen).group(1)


def test_import_a_messy_file_then_find_the_contact(browser: Browser, base_url: str) -> None:  # noqa: F811
    page = _sign_in(browser, base_url, "editor@shop.fr")
    page.click("nav >> text=Mes contacts")
    expect(page.locator("h1")).to_have_text("Mes contacts")
    upload: FilePayload = {"name": "clients hiver.csv", "mimeType": "text/csv", "buffer": MESSY}
    page.set_input_files("#file", files=[upload])
    page.click("#upload")
    # The columns as the import recognises them; the first rows, the formula as text.
    expect(page.locator("#column-1")).to_have_value("phone")
    expect(page.locator("#column-2")).to_have_value("custom")
    expect(page.locator("#column-3")).to_have_value("last_name")
    expect(page.locator("#preview")).to_contain_text("L’Hôte")
    expect(page.locator("#preview")).to_contain_text('=HYPERLINK("http://evil.example","clic")')
    expect(page.locator("#preview a")).to_have_count(0)
    _shot(page, "contacts-upload-desktop")
    page.select_option("#column-2", "first_name")  # "Contact" holds first names
    page.select_option("#column-4", "ignore")
    page.fill("#new_list", "hiver")
    page.select_option("#consent", "opt-in")
    page.fill("#consent_source", "formulaire de fidélité")
    page.click("#import")
    expect(page.locator("h1")).to_contain_text("clients hiver.csv")
    shown_progress = page.locator("#progress").count() == 1
    page.evaluate("window.stillHere = true")
    expect(page.locator("#rejected")).to_have_text("1", timeout=60_000)
    expect(page.locator("#imported")).to_have_text("2")
    if shown_progress:  # htmx replaced the progress by the result: the page never reloaded
        assert page.evaluate("window.stillHere === true")
    _shot(page, "contacts-import-desktop")
    with page.expect_download() as download:
        page.click("#rejects")
    report = download.value
    assert report.suggested_filename == "clients hiver.rejects.csv"
    text = Path(report.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("line;value;reason")
    assert "4;pas un numéro;invalid_phone" in text
    page.click("nav >> text=Mes contacts")
    page.fill("#q", "zoé")
    page.click("#search")
    expect(page.locator("#found")).to_contain_text("+33612345678")
    page.click("#found >> text=+33612345678")
    expect(page.locator("#phone")).to_have_text("+33612345678")
    expect(page.locator("#first-name")).to_have_text("Zoé")
    expect(page.locator("#consent")).to_have_text("accord (opt-in)")
    expect(page.locator("#consents")).to_contain_text("formulaire de fidélité")
    expect(page.locator("body")).not_to_contain_text("HYPERLINK")  # the ignored column
    _shot(page, "contact-desktop")
