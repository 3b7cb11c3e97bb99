"""Preview, report and export of a campaign, on both backends."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update
from typer.testing import CliRunner

from stopsms.app import provider_rate
from stopsms.cli.campaigns import campaign_app
from stopsms.clock import FakeClock
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.campaigns.reports import (
    DEFAULT_RATE,
    EXPORT_COLUMNS,
    campaign_report,
    export_campaign,
    preview_campaign,
    safe_cell,
)
from stopsms.services.optouts import optouts
from stopsms.store import tables as t
from stopsms.store.database import Database
from tests.builders import add_contacts
from tests.integration.test_preparation import NOW, fr, setup_account

SATURDAY_1750 = datetime(2024, 11, 30, 16, 50, tzinfo=UTC)  # 17:50 in Paris


def _campaign(database: Database, people: int = 6) -> int:
    with database.transaction() as c:
        setup_account(c)
        add_contacts(
            c,
            "l",
            [
                {"phone_e164": fr(i), "first_name": '=HYPERLINK("x")' if i == 0 else "Léa"}
                for i in range(people)
            ]
            + [{"phone_e164": fr(90), "consent": None}],
            now=NOW,
        )
        optouts.record_optout(c, "default", fr(1), source="manual", now=NOW)
        created = create_campaign(
            c,
            "default",
            list_name="l",
            text="Bonjour {prenom}, -20% ce week-end",
            sender="MaBoutique",
            clock=FakeClock(NOW),
        )
        return created.campaign.id


def test_preview_agrees_with_preparation(database: Database) -> None:
    campaign_id = _campaign(database)
    clock = FakeClock(NOW)
    with database.reader() as c:
        before = preview_campaign(c, "default", campaign_id, clock)
    assert not before.prepared
    with database.reader() as c:
        assert c.execute(select(t.messages.c.id)).first() is None  # nothing written
    summary = prepare_campaign(database, campaign_id, clock)
    with database.reader() as c:
        after = preview_campaign(c, "default", campaign_id, clock)
    assert after.prepared
    for result in (before, after):
        s = result.summary
        assert (s.targeted, s.ready, s.excluded) == (
            summary.targeted,
            summary.ready,
            summary.excluded,
        )
        assert (s.parts, s.credits_millicredits, s.encodings) == (
            summary.parts,
            summary.credits_millicredits,
            summary.encodings,
        )
        assert result.sample is not None
        assert result.sample.composed.text.endswith("STOP 36034")
        assert result.plan.now == summary.ready  # Tuesday 10:00: all leave now
        assert result.rate == DEFAULT_RATE
    assert summary.excluded == {"opted_out": 1, "no_consent": 1}
    assert before.sample is not None
    assert before.sample.composed.text == 'Bonjour =HYPERLINK("x"), -20% ce week-end STOP 36034'


def test_preview_holds_what_overflows_saturday_18h(database: Database) -> None:
    campaign_id = _campaign(database, people=30)
    with database.reader() as c:
        result = preview_campaign(c, "default", campaign_id, FakeClock(SATURDAY_1750), rate=0.05)
    # 29 ready; 17:50 → 18:00 at 0.05/s is room for 30: all leave now.
    assert (result.plan.now, result.plan.held) == (29, 0)
    with database.reader() as c:
        slow = preview_campaign(c, "default", campaign_id, FakeClock(SATURDAY_1750), rate=0.01)
    assert (slow.plan.now, slow.plan.held) == (6, 23)
    assert slow.plan.held_until == datetime(2024, 12, 2, 7, 0, tzinfo=UTC).timestamp()
    assert slow.plan.finish == pytest.approx(slow.plan.held_until + 2_300)


def test_provider_rate() -> None:
    assert provider_rate(None) == DEFAULT_RATE
    assert provider_rate("smpp://id:pw@127.0.0.1:2775?tps=250") == 250.0
    assert provider_rate("smpp://id:pw@127.0.0.1:2775") == DEFAULT_RATE  # tps 0: unlimited


def _simulate_sending(database: Database, campaign_id: int) -> None:
    """What the dispatcher and inbound side would record (set directly here)."""
    m = t.messages.c
    with database.transaction() as c:
        ids = list(
            c.execute(
                select(m.id)
                .where(m.campaign_id == campaign_id, m.decision == "ready")
                .order_by(m.contact_id)
            ).scalars()
        )
        sent = NOW + timedelta(minutes=1)
        states = [
            {"status": "delivered", "submitted_at": sent, "delivered_at": sent},
            {"status": "delivered", "submitted_at": sent, "delivered_at": sent},
            {"status": "failed", "submitted_at": sent, "error_code": "=cmd|' /C calc'!A0"},
            {"status": "unknown", "submitted_at": sent},
            {"status": "held", "not_before": datetime(2024, 12, 4, 7, 0, tzinfo=UTC)},
        ]
        for message_id, values in zip(ids, states, strict=True):
            c.execute(update(t.messages).where(m.id == message_id).values(**values))
        # fr(2) answered STOP after this campaign: attributed to it.
        optouts.record_optout(
            c, "default", fr(2), source="keyword", campaign_id=campaign_id, now=sent
        )


def test_report_and_export_agree(database: Database, tmp_path: Path) -> None:
    campaign_id = _campaign(database)
    prepare_campaign(database, campaign_id, FakeClock(NOW))
    _simulate_sending(database, campaign_id)
    with database.reader() as c:
        report = campaign_report(c, "default", campaign_id)
        buffer = io.StringIO()
        count = export_campaign(c, "default", campaign_id, buffer)
        export_campaign(c, "default", campaign_id, tmp_path / "x.xlsx", format="xlsx")
    assert (report.targeted, report.ready, report.excluded) == (
        7,
        5,
        {"opted_out": 1, "no_consent": 1},
    )
    # unknown: in doubt, counted apart, never as sent (nor charged)
    assert (report.sent, report.delivered, report.failed, report.unknown) == (3, 2, 1, 1)
    assert (report.held, report.waiting) == (1, 1)
    assert report.held_until == datetime(2024, 12, 4, 7, 0, tzinfo=UTC)
    assert report.stops == 1
    assert report.stop_rate == pytest.approx(100 / 3)
    assert report.credits_millicredits == 3_000
    assert report.accounted == report.targeted

    rows = list(csv.reader(io.StringIO(buffer.getvalue()), delimiter=";"))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert count == len(rows) - 1 == report.targeted
    by_number = {r[0]: dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]}
    assert by_number[fr(2)]["status"] == "STOPPED"  # rule 14
    assert by_number[fr(0)]["status"] == "delivered"
    assert by_number[fr(1)]["reason"] == "opted_out"
    assert by_number[fr(3)]["error_code"].startswith("'=cmd")  # formula injection escaped
    assert by_number[fr(0)]["parts"] == "1"
    statuses = [r["status"] for r in by_number.values()]
    assert statuses.count("STOPPED") == report.stops
    assert sum(s in ("delivered", "failed", "STOPPED") for s in statuses) == report.sent
    assert statuses.count("unknown") == report.unknown == 1

    workbook = load_workbook(tmp_path / "x.xlsx", read_only=True)
    try:
        sheet = workbook.active
        assert sheet is not None
        cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    assert tuple(cells[0]) == EXPORT_COLUMNS
    assert [c[3] for c in cells[1:]] == [r[3] for r in rows[1:]]


def test_safe_cell() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("+33612345678") == "+33612345678"
    assert safe_cell("Marie") == "Marie"
    assert safe_cell(3) == 3


def test_cli_preview_report_export(
    database: Database, cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STOPSMS_PROVIDER_URL", "smpp://id:pw@127.0.0.1:2775?tps=500")
    campaign_id = _campaign(database)
    runner = cli
    result = runner.invoke(campaign_app, ["preview", str(campaign_id), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["ready"], data["rate_per_second"], data["excluded"]) == (
        5,
        500.0,
        {"opted_out": 1, "no_consent": 1},
    )
    assert data["sample"]["text"].endswith("STOP 36034")
    result = runner.invoke(campaign_app, ["preview", str(campaign_id)])
    assert result.exit_code == 0, result.output
    assert "expected finish" in result.output
    prepare_campaign(database, campaign_id, FakeClock(NOW))
    _simulate_sending(database, campaign_id)
    result = runner.invoke(campaign_app, ["report", str(campaign_id), "--json"])
    report = json.loads(result.stdout)
    assert (report["sent"], report["stops"], report["stop_rate_percent"]) == (3, 1, 33.33)
    assert (report["unknown"], report["closed"]) == (1, 0)
    result = runner.invoke(campaign_app, ["report", str(campaign_id)])
    assert "STOPs" in result.output
    # the message in doubt is listed with what to do about it
    assert f"resolve-unknown {campaign_id} --requeue" in result.output
    out = tmp_path / "e.csv"
    result = runner.invoke(campaign_app, ["export", str(campaign_id), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "STOPPED" in out.read_text()
    result = runner.invoke(campaign_app, ["export", str(campaign_id), "--format", "xlsx"])
    assert result.exit_code == 2
    assert "needs an output file" in result.output
