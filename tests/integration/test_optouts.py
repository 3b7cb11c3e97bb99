"""The opt-out registry, blacklist files and erasure — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import typer
from sqlalchemy import insert, select
from typer.testing import CliRunner

from stopsms.cli.optouts import erase, optouts_app
from stopsms.domain.errors import InvalidPhoneNumber
from stopsms.errors import EvidenceRequired, InvalidInput, NotFound, UnreadableFile
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.contacts import erasure
from stopsms.services.contacts.consent import record_consent
from stopsms.services.optouts import files as optout_files
from stopsms.services.optouts import optouts, suppression
from stopsms.services.optouts import review as optout_review
from stopsms.store import tables as t
from stopsms.store.database import Database

NOW = datetime(2024, 11, 29, 9, 0, tzinfo=UTC)
ALICE = "+33612345678"
BOB = "+33698765432"


def test_record_and_check(database: Database) -> None:
    with database.transaction() as conn:
        recorded = optouts.record_optout(
            conn, "default", "06 12 34 56 78", source="keyword", detail="STOP", now=NOW
        )
        assert recorded.created
        again = optouts.record_optout(conn, "default", ALICE, source="web_form", detail="trop")
        assert not again.created
        assert again.optout.id == recorded.optout.id
    with database.reader() as conn:
        found = optouts.is_suppressed(conn, "default", "+33 6 12 34 56 78")
        assert optouts.is_suppressed(conn, "default", BOB) is None
    assert found is not None
    assert found.phone_e164 == ALICE
    assert (found.source, found.detail, found.scope, found.sender) == (
        "keyword",
        "STOP",
        "account",
        "",
    )
    assert found.recorded_at == NOW
    assert found.active


def test_invalid_inputs_named(database: Database) -> None:
    with database.transaction() as conn:
        with pytest.raises(InvalidPhoneNumber, match="12345"):
            optouts.record_optout(conn, "default", "12345", source="manual")
        with pytest.raises(InvalidInput, match="telepathy"):
            optouts.record_optout(conn, "default", ALICE, source="telepathy")
        with pytest.raises(InvalidInput, match="sender"):
            optouts.record_optout(conn, "default", ALICE, source="manual", scope="sender")


def test_sender_scope(database: Database) -> None:
    with database.transaction() as conn:
        accounts.update_account(conn, "default", AccountChanges(optout_scope="sender"))
        for sender in ("ShopA", "ShopB", "ShopC"):
            accounts.add_sender(conn, "default", sender)
        optouts.record_optout(conn, "default", ALICE, source="keyword", sender="ShopA")
        assert optouts.is_suppressed(conn, "default", ALICE, sender="ShopA") is not None
        assert optouts.is_suppressed(conn, "default", ALICE, sender="ShopB") is None
        # No sender given: the strict answer.
        assert optouts.is_suppressed(conn, "default", ALICE) is not None
        assert suppression.suppressed_among(conn, "default", [ALICE], sender="ShopB") == set()
        assert suppression.load_suppression(conn, "default", "ShopA").suppressed([ALICE, BOB]) == {
            ALICE
        }
        # An account-wide record covers every sender and wins.
        whole = optouts.record_optout(conn, "default", ALICE, source="manual", scope="account")
        assert whole.created
        assert optouts.is_suppressed(conn, "default", ALICE, sender="ShopB") == whole.optout
        assert not optouts.record_optout(
            conn, "default", ALICE, source="keyword", sender="ShopC"
        ).created


def test_uncertain_review(database: Database) -> None:
    with database.transaction() as conn:
        first = optouts.record_optout(
            conn, "default", ALICE, source="keyword", detail="merci stop", uncertain=True
        ).optout
        second = optouts.record_optout(
            conn, "default", BOB, source="keyword", detail="je stoppe", uncertain=True
        ).optout
        assert [o.id for o in optout_review.review_queue(conn, "default")] == [first.id, second.id]
        confirmed = optout_review.confirm_review(conn, "default", first.id, by="alice@ops", now=NOW)
        assert confirmed.reviewed_by == "alice@ops"
        assert confirmed.active
        with pytest.raises(InvalidInput):
            optout_review.dismiss_review(conn, "default", second.id, evidence=" ", by="ops")
        dismissed = optout_review.dismiss_review(
            conn, "default", second.id, evidence="asked to stop a delivery", by="ops"
        )
        assert not dismissed.active
        assert dismissed.revoke_evidence == "review: asked to stop a delivery"
        assert optout_review.review_queue(conn, "default") == []
        assert optouts.is_suppressed(conn, "default", BOB) is None


def test_certain_stop_clears_uncertainty(database: Database) -> None:
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", ALICE, source="keyword", uncertain=True)
        again = optouts.record_optout(conn, "default", ALICE, source="keyword")
        assert not again.optout.uncertain
        assert optout_review.review_queue(conn, "default") == []


def test_resubscribe_needs_evidence_and_keeps_history(database: Database) -> None:
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", ALICE, source="keyword", now=NOW)
        with pytest.raises(EvidenceRequired):
            optouts.resubscribe(conn, "default", ALICE, evidence="  ", by="ops")
        revoked = optouts.resubscribe(
            conn,
            "default",
            ALICE,
            evidence="email of 2024-12-01 from the customer",
            by="ops",
            now=NOW + timedelta(days=2),
        )
        assert [r.revoked_at for r in revoked] == [NOW + timedelta(days=2)]
        assert optouts.is_suppressed(conn, "default", ALICE) is None
        with pytest.raises(NotFound):
            optouts.resubscribe(conn, "default", ALICE, evidence="again", by="ops")
        # Opting out again makes a new record; both are kept.
        optouts.record_optout(conn, "default", ALICE, source="keyword")
        records = optouts.history(conn, "default", ALICE)
    assert [r.active for r in records] == [False, True]
    assert records[0].revoke_evidence == "email of 2024-12-01 from the customer"


def test_list_count_and_filters(database: Database) -> None:
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", ALICE, source="keyword")
        optouts.record_optout(conn, "default", BOB, source="provider_blocked", detail="061")
        optouts.resubscribe(conn, "default", ALICE, evidence="call", by="ops")
        assert [o.phone_e164 for o in optout_review.list_optouts(conn, "default")] == [BOB]
        assert len(optout_review.list_optouts(conn, "default", include_revoked=True)) == 2
        assert optout_review.list_optouts(conn, "default", source="keyword") == []
        assert optout_review.count_optouts(conn, "default") == 1
        assert optout_review.count_optouts(conn, "default", include_revoked=True) == 2


def test_bulk_checks_agree_with_single_checks(database: Database) -> None:
    numbers = [f"+336{n:08d}" for n in range(0, 3000, 3)]
    candidates = [f"+336{n:08d}" for n in range(3000)]
    with database.transaction() as conn:
        added, already = optouts.record_many(conn, "default", numbers, source="import")
        assert (added, already) == (1000, 0)
        assert optouts.record_many(conn, "default", numbers[:10] * 2, source="import") == (0, 10)
        expected = set(numbers)
        assert suppression.suppressed_among(conn, "default", candidates) == expected
        assert suppression.load_suppression(conn, "default").suppressed(candidates) == expected
        assert all(
            (optouts.is_suppressed(conn, "default", n) is not None) == (n in expected)
            for n in candidates[:60]
        )


def test_bulk_check_large_path(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suppression, "_INDEX_LOOKUP_LIMIT", 10)
    with database.transaction() as conn:
        optouts.record_many(conn, "default", [ALICE], source="import")
        assert suppression.suppressed_among(conn, "default", [ALICE, BOB] * 10) == {ALICE}


def test_attribution(database: Database) -> None:
    with database.transaction() as conn:
        other = accounts.create_account(conn, "other")
        campaign = conn.execute(
            # Direct insert, not tests.builders: two campaigns (one of another account) to
            # attribute to; a list and a text do not matter here.
            insert(t.campaigns)
            .values(account_id=1, name="BF", body="Promo", created_at=NOW)
            .returning(t.campaigns.c.id)
        ).scalar_one()
        foreign = conn.execute(
            insert(t.campaigns)
            .values(account_id=other.id, name="X", body="x", created_at=NOW)
            .returning(t.campaigns.c.id)
        ).scalar_one()
        optout = optouts.record_optout(conn, "default", ALICE, source="keyword").optout
        assert optouts.attribute(conn, "default", optout.id, campaign).campaign_id == campaign
        with pytest.raises(NotFound):
            optouts.attribute(conn, "default", optout.id, foreign)
        with pytest.raises(NotFound):
            optouts.attribute(conn, other, optout.id, foreign)


# -- files ----------------------------------------------------------------------------------


def test_import_plain_list(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "stop.txt"
    path.write_text(
        "# blacklist\n06 12 34 56 78\n\n+33698765432\n0612345678\nnot a number\n12\n",
        encoding="utf-8",
    )
    with database.transaction() as conn:
        result = optout_files.import_optouts(conn, "default", path)
        assert suppression.suppressed_among(conn, "default", [ALICE, BOB]) == {ALICE, BOB}
        record = optouts.is_suppressed(conn, "default", ALICE)
    assert (result.rows, result.added, result.already, result.duplicates) == (5, 2, 0, 1)
    assert [(r.line, r.value) for r in result.rejected] == [(6, "not a number"), (7, "12")]
    assert all(r.reason for r in result.rejected)
    assert record is not None
    assert (record.source, record.detail) == ("import", "import stop.txt")


def test_import_csv_with_header_latin1_and_reason(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "stop.csv"
    path.write_bytes(
        "Nom;Téléphone;Motif\nDupont;06 12 34 56 78;ne veut plus\nX;;\n".encode("cp1252")
    )
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", BOB, source="manual")
        result = optout_files.import_optouts(conn, "default", path)
        record = optouts.is_suppressed(conn, "default", ALICE)
    assert (result.rows, result.added) == (2, 1)
    assert [(r.line, r.reason) for r in result.rejected] == [(3, "empty")]
    assert record is not None
    assert record.detail == "ne veut plus"


def test_import_xlsx(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "stop.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["mobile"])
    sheet.append([33612345678])
    sheet.append(["+33698765432"])
    workbook.save(path)
    with database.transaction() as conn:
        result = optout_files.import_optouts(conn, "default", path)
    assert (result.added, result.rejected) == (2, [])


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.txt", None, "no such file"),
        ("binary.txt", b"\x00\x01\x02PK", "binary"),
        ("noheader.csv", b"Nom;Ville\nDupont;Paris\n", "no phone number column"),
        ("broken.xlsx", b"PK not really a zip", "xlsx"),
    ],
)
def test_unreadable_file_changes_nothing(
    database: Database, tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason), database.transaction() as conn:
        optout_files.import_optouts(conn, "default", path)
    with database.reader() as conn:
        assert optout_review.count_optouts(conn, "default", include_revoked=True) == 0


def test_export_csv_and_xlsx(database: Database, tmp_path: Path) -> None:
    with database.transaction() as conn:
        optouts.record_optout(conn, "default", ALICE, source="keyword", detail="STOP", now=NOW)
        optouts.record_optout(conn, "default", BOB, source="manual")
        optouts.resubscribe(conn, "default", BOB, evidence="letter", by="ops")
        stream = io.StringIO()
        assert optout_files.export_optouts(conn, "default", stream) == 1
        xlsx = tmp_path / "out.xlsx"
        assert (
            optout_files.export_optouts(conn, "default", xlsx, fmt="xlsx", include_revoked=True)
            == 2
        )
        with pytest.raises(InvalidInput):
            optout_files.export_optouts(conn, "default", stream, fmt="pdf")
    rows = list(csv.DictReader(io.StringIO(stream.getvalue()), delimiter=";"))
    assert rows == [
        {
            "phone": ALICE,
            "scope": "account",
            "sender": "",
            "source": "keyword",
            "detail": "STOP",
            "uncertain": "",
            "campaign_id": "",
            "recorded_by": "system",
            "recorded_at": "2024-11-29T09:00:00+00:00",
            "revoked_at": "",
            "revoke_evidence": "",
            "revoked_by": "",
        }
    ]
    sheet = openpyxl.load_workbook(xlsx, read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == optout_files.EXPORT_COLUMNS
    assert {v[0] for v in values[1:]} == {ALICE, BOB}


# -- erasure --------------------------------------------------------------------------------


def test_erasure_keeps_suppression(database: Database) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, "opt_in", source="web", evidence="form #12")
        conn.execute(
            t.contacts.update()
            .where(t.contacts.c.phone_e164 == ALICE)
            .values(first_name="Alice", email="a@example.org")
        )
        optouts.record_optout(conn, "default", ALICE, source="keyword", detail="STOP merci")
        conn.execute(
            # Direct insert, not tests.builders: a pending message to ALICE, which erasure cancels.
            insert(t.messages).values(
                account_id=1,
                phone_e164=ALICE,
                kind="marketing",
                text="Bonjour Alice",
                status="pending",
                created_at=NOW,
            )
        )
        done = erasure.erase_contact(conn, "default", ALICE, by="dpo")
        # Two ledger rows: the opt-in, and the withdrawal the STOP wrote (its text included).
        assert (done.contacts, done.consents, done.messages, done.cancelled) == (1, 2, 1, 1)
        # Still suppressed, by hash, on every path.
        assert optouts.is_suppressed(conn, "default", ALICE) is not None
        assert suppression.suppressed_among(conn, "default", [ALICE, BOB]) == {ALICE}
        assert suppression.load_suppression(conn, "default").suppressed([ALICE, BOB]) == {ALICE}
        assert ALICE in suppression.load_suppression(conn, "default")
        # No trace of the person left in clear.
        contact = conn.execute(select(t.contacts)).mappings().one()
        assert contact["phone_e164"] is None
        assert contact["first_name"] is None
        assert contact["email"] is None
        assert contact["erased_at"] is not None
        assert set(conn.execute(select(t.consents.c.evidence)).scalars()) == {None}
        message = conn.execute(select(t.messages)).mappings().one()
        assert (message["phone_e164"], message["text"], message["status"]) == (
            None,
            None,
            "cancelled",
        )
        record = optout_review.list_optouts(conn, "default")[0]
        assert (record.phone_e164, record.detail) == (None, None)
        with pytest.raises(NotFound):
            erasure.erase_contact(conn, "default", BOB)


def test_erasure_of_a_person_who_never_said_stop_suppresses(database: Database) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", BOB, "customer", source="shop")
        done = erasure.erase_contact(conn, "default", BOB, by="dpo")
        assert done.suppressed
        record = optouts.is_suppressed(conn, "default", BOB)
    assert record is not None
    assert (record.source, record.phone_e164) == ("manual", None)


# -- command line ---------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(optouts_app, name="optouts")
    contacts = typer.Typer()
    contacts.command("erase")(erase)
    contacts.command("noop")(lambda: None)
    app.add_typer(contacts, name="contacts")
    return app


def test_cli_add_check_remove(cli: CliRunner) -> None:
    app = _app()
    added = cli.invoke(app, ["optouts", "add", "06 12 34 56 78", "--reason", "phoned"])
    assert added.exit_code == 0, added.output
    assert "+33612345678 opted out" in added.output
    checked = cli.invoke(app, ["optouts", "check", "0612345678", "--json"])
    assert checked.exit_code == 0
    answer = json.loads(checked.stdout)
    assert answer["suppressed"]
    assert answer["by"]["detail"] == "phoned"
    refused = cli.invoke(app, ["optouts", "remove", "0612345678", "--evidence", " "])
    assert refused.exit_code == 2
    assert "evidence" in refused.output
    assert "Traceback" not in refused.output
    removed = cli.invoke(app, ["optouts", "remove", "0612345678", "--evidence", "SMS START"])
    assert removed.exit_code == 0, removed.output
    checked = cli.invoke(app, ["optouts", "check", "0612345678"])
    assert "not suppressed" in checked.output
    assert "revoked" in checked.output


def test_cli_bad_number_is_one_line(cli: CliRunner) -> None:
    result = cli.invoke(_app(), ["optouts", "add", "12ab"])
    assert result.exit_code == 2
    assert "12ab" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_unknown_account(cli: CliRunner) -> None:
    result = cli.invoke(_app(), ["optouts", "list", "--account", "ghost"])
    assert result.exit_code == 2
    assert "ghost" in result.output


def test_cli_import_list_export(cli: CliRunner, tmp_path: Path) -> None:
    app = _app()
    source = tmp_path / "stop.csv"
    source.write_text("numero;motif\n0612345678;x\n0698765432;\nabc;\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    imported = cli.invoke(app, ["optouts", "import", str(source), "--rejects", str(rejects)])
    assert imported.exit_code == 0, imported.output
    assert "2 added" in imported.output
    assert rejects.read_text(encoding="utf-8-sig").splitlines()[1].startswith("4;abc;")
    listed = cli.invoke(app, ["optouts", "list", "--json"])
    assert {r["phone_e164"] for r in json.loads(listed.stdout)} == {ALICE, BOB}
    exported = cli.invoke(app, ["optouts", "export"])
    assert exported.exit_code == 0
    assert len(exported.stdout.splitlines()) == 3
    xlsx = tmp_path / "out.xlsx"
    written = cli.invoke(app, ["optouts", "export", "--output", str(xlsx)])
    assert written.exit_code == 0, written.output
    assert xlsx.read_bytes()[:2] == b"PK"
    missing = cli.invoke(app, ["optouts", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "nothing was changed" in missing.output


def test_cli_review(cli: CliRunner, database: Database) -> None:
    with database.transaction() as conn:
        first = optouts.record_optout(
            conn, "default", ALICE, source="keyword", detail="ok stop", uncertain=True
        ).optout
        second = optouts.record_optout(
            conn, "default", BOB, source="keyword", detail="stop la livraison", uncertain=True
        ).optout
    app = _app()
    queue = cli.invoke(app, ["optouts", "review", "--json"])
    assert [r["id"] for r in json.loads(queue.stdout)] == [first.id, second.id]
    assert cli.invoke(app, ["optouts", "review", "--confirm", str(first.id)]).exit_code == 0
    no_evidence = cli.invoke(app, ["optouts", "review", "--dismiss", str(second.id)])
    assert no_evidence.exit_code == 2
    dismissed = cli.invoke(
        app, ["optouts", "review", "--dismiss", str(second.id), "--evidence", "delivery"]
    )
    assert dismissed.exit_code == 0, dismissed.output
    assert "nothing to review" in cli.invoke(app, ["optouts", "review"]).output


def test_cli_erase(cli: CliRunner, database: Database) -> None:
    with database.transaction() as conn:
        record_consent(conn, "default", ALICE, "opt_in", source="form")
    result = cli.invoke(_app(), ["contacts", "erase", "0612345678"])
    assert result.exit_code == 0, result.output
    assert "erased" in result.output
    with database.reader() as conn:
        assert optouts.is_suppressed(conn, "default", ALICE) is not None
