"""The campaign pages over HTTP (TestClient on the real server and database, both backends):
the list, a campaign's progress and report, pause / resume / cancel by role, the export with
STOPPED, bad ids, another account's campaign, the tallies of a settled campaign, the composer's
recipients by decision, the dashboard's chart and review queue."""

# ruff: noqa: F811 (the tests take test_area's fixtures `app` and `client`, imported below)
from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, insert, select, update

from stopsms.app import App
from stopsms.app import campaigns as campaigns_app
from stopsms.clock import FakeClock
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import finals_rows
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.builders import add_contacts
from tests.integration.web.test_area import (  # app, client: its fixtures
    NOW,
    _csrf,
    _sign_in,
    app,  # noqa: F401
    client,  # noqa: F401
)


def _shop_editor(client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    home = client.get("/")
    client.post("/account", data={"csrf": _csrf(home.text), "account": "shop"})


def _prepared(app: App, *, sent_at: datetime = NOW, status: str = "sending") -> int:
    """A campaign of ``shop`` to ``clients`` (2 numbers), prepared; +33612345678 delivered and
    opted out (attributed), +33612345679 failed; the campaign in ``status``."""
    with app.transaction() as connection:
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes",
            sender=None,
            clock=FakeClock(NOW),
        ).campaign
    prepare_campaign(app.database, campaign.id, FakeClock(NOW))
    m = t.messages.c
    with app.transaction() as connection:
        connection.execute(
            update(t.messages)
            .where(m.campaign_id == campaign.id, m.phone_e164 == "+33612345678")
            .values(status="delivered", submitted_at=sent_at, delivered_at=sent_at)
        )
        connection.execute(
            update(t.messages)
            .where(m.campaign_id == campaign.id, m.phone_e164 == "+33612345679")
            .values(status="failed", submitted_at=sent_at, failed_at=sent_at)
        )
        connection.execute(
            update(t.campaigns).where(t.campaigns.c.id == campaign.id).values(status=status)
        )
        record_optout(
            connection,
            "shop",
            "+33612345678",
            source="keyword",
            detail="STOP",
            campaign_id=campaign.id,
            now=sent_at,
        )
    return campaign.id


def _cell(html: str, name: str) -> str:
    found = re.search(rf'id="{name}">([^<]*)<', html)
    assert found is not None, (name, html)
    return found.group(1).strip()


def _credits(cell: str) -> float:
    """A French-formatted amount (``1\u202f234,50``) as a number."""
    return float(cell.replace("\u202f", "").replace("\xa0", "").replace(",", "."))


def test_the_list_is_newest_first_paged_with_its_rates(app: App, client: TestClient) -> None:
    first = _prepared(app, status="completed")
    with app.transaction() as connection:
        for n in range(24):
            create_campaign(
                connection,
                "shop",
                list_name="clients",
                text=f"Draft {n}",
                sender=None,
                clock=FakeClock(NOW),
                name=f"draft {n}",
            )
    _sign_in(client, "viewer@shop.fr")
    page = client.get("/campaigns")
    assert page.status_code == 200
    assert "draft 23" in page.text
    assert f'id="campaign-{first}"' not in page.text  # the oldest is on page 2
    assert page.text.count('<tr id="campaign-') == 20
    assert 'id="new"' not in page.text  # a viewer does not compose
    second = client.get("/campaigns?page=2")
    row = second.text.split(f'id="campaign-{first}"')[1].split("</tr>")[0]
    assert '<td class="targeted">2</td>' in row
    assert '<td class="sent">2</td>' in row
    assert '<td class="delivered-percent">50,0\u00a0%</td>' in row
    assert '<td class="stops">1</td>' in row
    assert '<td class="stop-percent">50,0\u00a0%</td>' in row
    assert second.text.count('<tr id="campaign-') == 5
    assert client.get("/campaigns?page=abc").status_code == 200  # the first page


def test_a_sending_campaign_s_progress_and_report(app: App, client: TestClient) -> None:
    campaign_id = _prepared(app)
    _sign_in(client, "viewer@shop.fr")
    page = client.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert f'hx-get="/campaigns/{campaign_id}/progress"' in page.text  # polled while it sends
    assert '<noscript><meta http-equiv="refresh"' in page.text  # reloads without JavaScript
    fragment = client.get(f"/campaigns/{campaign_id}/progress")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert _cell(fragment.text, "targeted") == "2"
    assert _cell(fragment.text, "sent") == "2"
    assert _cell(fragment.text, "delivered").startswith("1 (50,0\u00a0%)")
    assert _cell(fragment.text, "failed") == "1"
    assert _cell(fragment.text, "stops") == "1"
    assert _cell(fragment.text, "stop-percent") == "50,0\u00a0%"
    series = re.search(r'data-series="([^"]+)"', fragment.text)
    assert series is not None
    data = json.loads(series.group(1).replace("&#34;", '"'))
    assert sum(data["sent"]) == 2
    assert sum(data["delivered"]) == 1
    assert sum(data["stops"]) == 1
    assert data["x"] == [int(NOW.timestamp())]
    with app.transaction() as connection:  # another STOP arrives: the fragment counts it
        record_optout(
            connection,
            "shop",
            "+33612345679",
            source="keyword",
            detail="STOP",
            campaign_id=campaign_id,
            now=NOW,
        )
    assert _cell(client.get(f"/campaigns/{campaign_id}/progress").text, "stops") == "2"


def test_pause_resume_cancel_by_an_editor_only(app: App, client: TestClient) -> None:
    campaign_id = _prepared(app)
    address = f"/campaigns/{campaign_id}"
    _sign_in(client, "viewer@shop.fr")
    page = client.get(address)
    assert 'id="pause"' not in page.text
    assert 'id="cancel"' not in page.text
    refused = client.post(f"{address}/actions", data={"csrf": _csrf(page.text), "action": "pause"})
    assert refused.status_code == 403
    client.cookies.clear()
    _shop_editor(client)
    page = client.get(address)
    assert 'id="pause"' in page.text
    assert 'id="resume"' not in page.text
    forged = client.post(f"{address}/actions", data={"action": "pause"})
    assert forged.status_code == 403
    csrf = _csrf(page.text)
    paused = client.post(f"{address}/actions", data={"csrf": csrf, "action": "pause"})
    assert paused.status_code == 200
    assert _cell(paused.text, "status") == "en pause"
    assert 'id="resume"' in paused.text
    resumed = client.post(f"{address}/actions", data={"csrf": csrf, "action": "resume"})
    assert _cell(resumed.text, "status") == "en cours d’envoi"
    unknown = client.post(f"{address}/actions", data={"csrf": csrf, "action": "delete"})
    assert unknown.status_code == 422
    cancelled = client.post(f"{address}/actions", data={"csrf": csrf, "action": "cancel"})
    assert _cell(cancelled.text, "status") == "annulée"
    assert 'id="pause"' not in cancelled.text
    again = client.post(f"{address}/actions", data={"csrf": csrf, "action": "pause"})
    assert again.status_code == 409  # the transition's refusal, on the page
    assert _cell(again.text, "status") == "annulée"
    client.cookies.clear()
    _sign_in(client, "owner@rival.fr")
    rival = client.get("/campaigns")
    other = client.post(f"{address}/actions", data={"csrf": _csrf(rival.text), "action": "pause"})
    assert other.status_code == 404
    with app.reader() as connection:
        status = connection.execute(
            select(t.campaigns.c.status).where(t.campaigns.c.id == campaign_id)
        ).scalar_one()
    assert status == "cancelled"


def test_the_export_says_stopped_in_csv_and_excel(app: App, client: TestClient) -> None:
    campaign_id = _prepared(app, status="completed")
    _sign_in(client, "viewer@shop.fr")
    page = client.get(f"/campaigns/{campaign_id}")
    assert f'href="/campaigns/{campaign_id}/export?format=csv"' in page.text
    answer = client.get(f"/campaigns/{campaign_id}/export?format=csv")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    by_number = {row[0]: row[3] for row in rows[1:]}
    assert by_number == {"+33612345678": "STOPPED", "+33612345679": "failed"}
    excel = client.get(f"/campaigns/{campaign_id}/export?format=xlsx")
    assert excel.status_code == 200
    sheet = load_workbook(io.BytesIO(excel.content), read_only=True).active
    assert sheet is not None
    values = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert ("+33612345678", "STOPPED") in [(row[0], row[3]) for row in values]
    assert client.get(f"/campaigns/{campaign_id}/export?format=pdf").status_code == 404
    client.cookies.clear()
    _sign_in(client, "owner@rival.fr")
    other = client.get(f"/campaigns/{campaign_id}/export?format=csv")
    assert other.status_code == 404
    assert "+33612345678" not in other.text


def test_bad_ids_and_another_account_s_campaign_are_not_found(app: App, client: TestClient) -> None:
    campaign_id = _prepared(app)
    _sign_in(client, "owner@rival.fr")
    for address in (
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}/progress",
        "/campaigns/abc",
        "/campaigns/0",
        "/campaigns/-1",
        "/campaigns/99999999999999999999999",
        "/campaigns/1e3/progress",
    ):
        answer = client.get(address)
        assert answer.status_code == 404, address
        assert "Soldes" not in answer.text
    page = client.get("/campaigns")
    assert f"/campaigns/{campaign_id}" not in page.text
    bad = client.post("/campaigns/abc/actions", data={"csrf": _csrf(page.text), "action": "pause"})
    assert bad.status_code == 404
    client.cookies.clear()
    assert client.get(f"/campaigns/{campaign_id}", follow_redirects=False).status_code == 303


def test_a_settled_campaign_is_counted_once_its_stops_always(app: App, client: TestClient) -> None:
    campaign_id = _prepared(app, status="completed")
    _sign_in(client, "viewer@shop.fr")
    first = client.get(f"/campaigns/{campaign_id}")
    assert _cell(first.text, "sent") == "2"
    assert 'hx-get="/campaigns/' not in first.text  # settled: nothing to poll
    with app.reader() as connection:
        kept = connection.execute(
            select(func.count()).where(t.campaign_tallies.c.campaign_id == campaign_id)
        ).scalar_one()
    assert kept == 1
    m = t.messages.c
    with app.transaction() as connection:  # behind the tally's back: the page keeps its count
        connection.execute(
            update(t.messages).where(m.campaign_id == campaign_id).values(status="delivered")
        )
        record_optout(
            connection,
            "shop",
            "+33612345679",
            source="keyword",
            detail="STOP",
            campaign_id=campaign_id,
            now=NOW,
        )
    again = client.get(f"/campaigns/{campaign_id}")
    assert _cell(again.text, "delivered").startswith("1 ")
    assert _cell(again.text, "stops") == "2"  # STOPs are counted live
    with app.transaction() as connection:  # a status change: counted again
        connection.execute(
            update(t.campaigns).where(t.campaigns.c.id == campaign_id).values(status="cancelled")
        )
    assert _cell(client.get(f"/campaigns/{campaign_id}").text, "delivered").startswith("2 ")


def test_the_composer_counts_the_list_by_decision(app: App, client: TestClient) -> None:
    with app.transaction() as connection:
        people: list[dict[str, Any]] = [
            {"phone_e164": "+33612000001", "consent": "opt_in", "custom": {"ville": "Lyon"}},
            {"phone_e164": "+33612000002", "consent": "opt_in"},
            {"phone_e164": "+33612000003", "consent": None},
            {"phone_e164": "+33612000004", "consent": "opt_in"},
        ]
        add_contacts(connection, "mixed", people, now=NOW, account="shop")
        record_optout(connection, "shop", "+33612000004", source="manual", detail="")
    _shop_editor(client)
    page = client.get("/campaigns/new")
    assert 'hx-get="/campaigns/new/audience"' in page.text
    answer = client.get("/campaigns/new/audience", params={"list": "mixed", "text": "Soldes"})
    assert answer.status_code == 200
    assert _cell(answer.text, "audience-targeted") == "4"
    assert _cell(answer.text, "audience-ready") == "2"
    assert _cell(answer.text, "audience-opted_out") == "1"
    assert _cell(answer.text, "audience-no_consent") == "1"
    assert "{ville}" in answer.text
    assert _cell(answer.text, "audience-cost") != ""
    # The keystroke preview reads the kept counts: the cost follows the text's parts.
    csrf = _csrf(page.text)
    short = client.post(
        "/campaigns/new/preview", data={"csrf": csrf, "text": "Soldes", "list": "mixed"}
    )
    long = client.post(
        "/campaigns/new/preview", data={"csrf": csrf, "text": "Soldes " * 40, "list": "mixed"}
    )
    assert _credits(_cell(long.text, "cost")) > _credits(_cell(short.text, "cost")) > 0
    links = client.post(
        "/campaigns/new/preview", data={"csrf": csrf, "text": "Voir https://ailleurs.example/x"}
    )
    assert "ailleurs.example" in links.text.split('id="links"')[1]
    missing = client.get("/campaigns/new/audience", params={"list": "nope"})
    assert missing.status_code == 404
    client.cookies.clear()
    _sign_in(client, "owner@rival.fr")
    other = client.get("/campaigns/new/audience", params={"list": "mixed"})
    assert other.status_code == 404  # the rival has no such list: shop's is not read


def test_the_dashboard_chart_and_review_queue(app: App, client: TestClient) -> None:
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    _prepared(app, sent_at=today, status="completed")
    with app.transaction() as connection:
        account_id = connection.execute(
            select(t.accounts.c.id).where(t.accounts.c.name == "shop")
        ).scalar_one()
        connection.execute(
            insert(t.optouts).values(
                account_id=account_id,
                phone_key="k-uncertain",
                phone_e164="+33612999999",
                source="keyword",
                detail="arrêtez svp",
                uncertain=True,
                recorded_by="test",
                recorded_at=today,
            )
        )
    _sign_in(client, "viewer@shop.fr")
    home = client.get("/")
    assert _cell(home.text, "review-queue") == "1"
    series = re.search(r'id="days-chart"[^>]*data-series="([^"]+)"', home.text)
    assert series is not None
    data = json.loads(series.group(1).replace("&#34;", '"'))
    assert len(data["x"]) == 30
    assert sum(data["sent"]) == 2
    assert sum(data["delivered"]) == 1
    assert sum(data["stops"]) == 2
    assert client.get("/static/uPlot.iife.min.js").status_code == 200
    assert "uPlot" in client.get("/static/charts.js").text


def test_a_running_campaign_s_hours_come_from_one_read_of_its_messages(
    app: App, client: TestClient
) -> None:
    """Sent, delivered and failed per hour are read at once (one grouped read): a
    receipt arriving two hours after the send lands in its own hour, at the next refresh."""
    campaign_id = _prepared(app)
    _sign_in(client, "viewer@shop.fr")
    later = NOW + timedelta(hours=2)
    m = t.messages.c
    with app.transaction() as connection:
        connection.execute(
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.phone_e164 == "+33612345678")
            .values(delivered_at=later)
        )
    fragment = client.get(f"/campaigns/{campaign_id}/progress")
    series = re.search(r'data-series="([^"]+)"', fragment.text)
    assert series is not None
    data = json.loads(series.group(1).replace("&#34;", '"'))
    assert data["x"] == [int(NOW.timestamp()), int(later.timestamp())]
    assert data["sent"] == [2, 0]
    assert data["delivered"] == [0, 1]
    assert data["stops"] == [1, 0]


def test_a_running_campaign_s_kept_rows_are_folded_by_its_page(
    app: App, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL keeps a delta row per statement; the page that finds more than FOLD_ABOVE
    of them folds them into their sums, and the figures stay (SQLite: one row per key)."""
    monkeypatch.setattr(campaigns_app, "FOLD_ABOVE", 0)
    campaign_id = _prepared(app)
    m = t.messages.c
    with app.transaction() as connection:  # the failed one delivered after all
        connection.execute(
            update(t.messages)
            .where(m.campaign_id == campaign_id, m.phone_e164 == "+33612345679")
            .values(status="delivered", failed_at=None, delivered_at=NOW)
        )
    _sign_in(client, "viewer@shop.fr")
    assert _cell(client.get(f"/campaigns/{campaign_id}").text, "delivered").startswith("2 ")
    with app.reader() as connection:
        rows = finals_rows(connection, campaign_id)
        postgresql = connection.dialect.name == "postgresql"
    # PostgreSQL: delivered +1, failed +1, then failed -1 and delivered +1, folded into one
    # row; SQLite: the delivered row and the failed one at zero.
    assert rows == (1 if postgresql else 2)
    assert _cell(client.get(f"/campaigns/{campaign_id}").text, "delivered").startswith("2 ")
