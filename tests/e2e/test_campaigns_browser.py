"""The campaign pages in a real browser (Playwright on Debian's Chromium) against ``stopsms
serve`` and the SMSC simulator (``stopsms smsc``), both started as a user starts them.

Journey: a marketing campaign scheduled at night shows "held until" the morning; a
notification account's campaign sent now (informative messages are never held, so the test
passes at any hour of the real clock) is delivered by the simulator; a STOP reply injected at
the simulator (its ``mo`` command) makes the campaign page's STOP count rise without a reload
(htmx polls the progress fragment; a marker set in the page survives); the CSV export
downloaded from the page says STOPPED for that number. The pause / resume / cancel buttons
follow the status on the open page (gone once it finished or was cancelled elsewhere) and a
poll never replaces one under a click held 150 ms.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time as time_of_day
from datetime import timedelta
from pathlib import Path
from subprocess import Popen
from typing import IO

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, set_role
from stopsms.services.accounts.accounts import create_account
from tests.builders import add_contacts, ready_account, tuesday_ahead
from tests.e2e.support import TUESDAY_10H, database, fr
from tests.e2e.test_area_browser import _shot, _sign_in, browser
from tests.e2e.test_serve import _process, _wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

__all__ = ["browser"]  # the fixture, used here


@dataclass
class Served:
    base_url: str
    smsc: Popen[str]
    seen: list[str]


@pytest.fixture
def served(database_url: str) -> Iterator[Served]:
    """``shop`` (marketing) and ``alerts`` (notification), each with a list ``clients`` of two
    consenting numbers; an editor of both; the simulator delivering everything."""
    db = database(database_url)
    with db.transaction() as connection:
        for name, kind in (("shop", "marketing"), ("alerts", "notification")):
            create_account(connection, name, now=TUESDAY_10H)
            ready_account(connection, name, now=TUESDAY_10H, type=kind)
        people = [{"phone_e164": fr(1)}, {"phone_e164": fr(2)}]
        add_contacts(connection, "clients", people, now=TUESDAY_10H, account="shop")
        add_contacts(connection, "clients", people, now=TUESDAY_10H, account="alerts")
        create_user(
            connection,
            "editor@shop.fr",
            "correct horse battery",
            account="shop",
            role=Role.EDITOR,
            actor="test",
            now=TUESDAY_10H,
        )
        set_role(connection, "editor@shop.fr", "alerts", Role.EDITOR, actor="test", now=TUESDAY_10H)
    db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOPSMS_")}
    env |= {"STOPSMS_DATABASE_URL": database_url, "STOPSMS_HOME": os.environ["STOPSMS_HOME"]}
    seen: list[str] = []
    smsc_args = ["smsc", "--port", "0", "--deliver-ratio", "1", "--receipt-delay", "0.05"]
    with _process(smsc_args, env) as smsc:
        assert smsc.stdout is not None
        port = _wait_for(smsc.stdout, r"listening on [\d.]+:(\d+)", seen).group(1)
        env["STOPSMS_PROVIDER_URL"] = f"smpp://stopsms:pw@127.0.0.1:{port}"
        serve = ["serve", "--port", "0"]
        if database_url.startswith("postgresql"):
            serve.append("--with-worker")
        with _process(serve, env) as server:
            assert server.stdout is not None
            base = _wait_for(server.stdout, r"running on (http://[\d.]+:\d+)", seen).group(1)
            for stream in (server.stdout, smsc.stdout):  # drained: a full pipe would block
                threading.Thread(target=_drain, args=(stream, seen), daemon=True).start()
            with httpx.Client(base_url=base, timeout=60) as http:
                for _ in range(200):
                    if http.get("/readyz").json()["checks"].get("provider") == "bound":
                        break
                    time.sleep(0.1)
            yield Served(base, smsc, seen)


def _drain(stream: IO[str], seen: list[str]) -> None:
    for line in stream:
        seen.append(line)


def _switch(page: Page, account: str) -> None:
    page.select_option("#account", account)
    page.click("#switch")


def test_held_then_sent_then_a_stop_rises_live_and_the_export_says_stopped(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    page = _sign_in(browser, served.base_url, "editor@shop.fr")  # alerts first, by name
    _switch(page, "shop")
    page.goto("/campaigns/new")
    expect(page.locator("#audience-ready")).to_have_text("2")  # counted when the page loads
    page.locator("#text").fill("Soldes d'hiver : -30 % ce week-end")
    night = tuesday_ahead(time_of_day(22, 30))  # a Tuesday, 22:30 in Paris: marketing waits
    page.fill("#at", f"{night:%Y-%m-%dT%H:%M}")
    page.click("#schedule")
    expect(page.locator("#held")).to_contain_text(f"{night + timedelta(days=1):%d/%m/%Y} ")
    _shot(page, "campaign-held-desktop")

    _switch(page, "alerts")
    page.goto("/campaigns/new")
    page.locator("#text").fill("Votre colis arrive demain")
    page.click("#send")
    expect(page.locator("#status")).to_be_visible()
    address = page.url
    try:
        expect(page.locator("#delivered")).to_contain_text("2 ", timeout=60_000)
    except AssertionError:
        raise AssertionError(page.content() + "".join(served.seen)) from None
    expect(page.locator("#stops")).to_have_text("0")
    # It finished while the page was open (it opened scheduled, with a cancel button): the
    # buttons follow the status without a reload.
    expect(page.locator("#status")).to_have_text("terminée", timeout=30_000)
    expect(page.locator("#actions button")).to_have_count(0)
    page.evaluate("window.__still_this_page = true")
    assert served.smsc.stdin is not None
    served.smsc.stdin.write(f"mo {fr(1)} STOP\n")
    served.smsc.stdin.flush()
    expect(page.locator("#stops")).to_have_text("1", timeout=30_000)
    assert page.evaluate("window.__still_this_page === true"), "the page was reloaded"
    assert page.url == address
    _check_chart(page, "#campaign-chart", "Heure", 3600)  # one hour of data, most likely
    _shot(page, "campaign-report-desktop")
    page.goto("/")
    _check_chart(page, "#days-chart", "Jour", 86400)  # 30 days
    _shot(page, "dashboard-sent-desktop")
    page.goto(address)

    with page.expect_download() as download:
        page.click("#export-csv")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    rows = [line.split(";") for line in saved.read_text(encoding="utf-8-sig").splitlines()]
    assert {row[0]: row[3] for row in rows[1:]} == {fr(1): "STOPPED", fr(2): "delivered"}


def _check_chart(page: Page, selector: str, time_label: str, step: int) -> None:
    """The chart uPlot drew at ``selector``: its time range around the data (one step on each
    side of a single bucket, not years), whole counts on the y axis, its legend and time ticks
    in French (uPlot's own are English and American: "Time", "11/6"). ``_splits`` and
    ``_values`` are the axes' ticks in uPlot 1.6.32 (pinned in vendor/package.json)."""
    chart = page.locator(selector)
    expect(chart.locator("canvas")).to_have_count(1)
    drawn = chart.evaluate(
        """e => ({
            min: e.uplot.scales.x.min, max: e.uplot.scales.x.max, x: e.uplot.data[0],
            counts: e.uplot.axes[1]._splits, times: e.uplot.axes[0]._values,
            legend: [...e.querySelectorAll(".u-legend .u-label")].map(l => l.textContent),
        })"""
    )
    first, last = drawn["x"][0], drawn["x"][-1]
    assert drawn["min"] <= first
    assert drawn["max"] >= last
    assert drawn["max"] - drawn["min"] <= last - first + 2 * step, drawn
    assert drawn["counts"], drawn
    assert all(v == int(v) for v in drawn["counts"]), drawn["counts"]
    assert drawn["legend"] == [time_label, "Envoyés", "Remis", "STOP"]
    months = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.")
    written = " ".join(drawn["times"])
    assert "/" not in written, written
    assert any(m in written for m in (*months, "nov.", "déc.")), written


def _schedule_at_night(page: Page) -> str:
    """A marketing campaign of shop scheduled a Tuesday ahead at 22:30: its page's address
    (it stays scheduled, polled every 2 s, with its cancel button)."""
    page.goto("/campaigns/new")
    expect(page.locator("#audience-ready")).to_have_text("2")
    page.locator("#text").fill("Soldes d'hiver : -30 % ce week-end")
    page.fill("#at", f"{tuesday_ahead(time_of_day(22, 30)):%Y-%m-%dT%H:%M}")
    page.click("#schedule")
    expect(page.locator("#status")).to_have_text("programmée")
    return page.url


def test_the_buttons_follow_the_status_and_a_poll_never_takes_one_from_under_a_click(
    browser: Browser, served: Served
) -> None:
    """Polls leave the buttons alone (the very element stays, so a click held 150 ms across a
    poll is not lost); a campaign cancelled elsewhere loses its buttons on the open page at
    the next poll, without a reload; without JavaScript the cancel form works."""
    page = _sign_in(browser, served.base_url, "editor@shop.fr")
    _switch(page, "shop")
    _schedule_at_night(page)
    expect(page.locator("#pause")).to_have_count(0)  # a scheduled campaign is not paused
    page.evaluate(
        """() => { window.__polls = 0;
            document.body.addEventListener("htmx:afterSwap", () => window.__polls++);
            document.querySelector("#cancel").__kept = true; }"""
    )
    page.wait_for_function("() => window.__polls >= 2", timeout=15_000)
    assert page.locator("#cancel").evaluate("b => b.__kept === true"), "a poll replaced it"
    page.click("#cancel", delay=150)
    expect(page.locator("#status")).to_have_text("annulée")
    expect(page.locator("#actions button")).to_have_count(0)
    expect(page.locator("#decisions")).to_have_count(0)  # nobody "will receive" it any more

    address = _schedule_at_night(page)
    page.evaluate("window.__still_this_page = true")
    plain = browser.new_context(
        base_url=served.base_url,
        locale="fr-FR",
        java_script_enabled=False,
        storage_state=page.context.storage_state(),
    )
    elsewhere = plain.new_page()
    elsewhere.goto(address)
    elsewhere.click("#cancel")
    expect(elsewhere.locator("#status")).to_have_text("annulée")
    expect(elsewhere.locator("#actions button")).to_have_count(0)
    plain.close()
    expect(page.locator("#status")).to_have_text("annulée", timeout=10_000)  # the next poll
    expect(page.locator("#actions button")).to_have_count(0)
    assert page.evaluate("window.__still_this_page === true"), "the page was reloaded"
    _shot(page, "campaign-cancelled-desktop")
