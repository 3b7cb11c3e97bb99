"""The import summary says what was merged: how many numbers had several rows and which lines
were superseded by their number's last row — in words (capped), in ``--json`` and in the
reject report (every one) — the same on both import paths (issue 12, item 10)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app
from stopsms.services.accounts import accounts
from stopsms.store.database import Database

from .test_contact_import_columnar import _both, _same
from .test_import_merge_rule import DURAND

DETAIL = "superseded by line {} (the number's last row, kept whole)"


def _many_repeats(numbers: int) -> str:
    """``numbers`` (< 100) numbers on two rows each, written two ways (lines 2k+2 and 2k+3),
    then one number on three rows."""
    rows = [f"06 12 34 00 {k:02d};Old\n+33 6 12 34 00 {k:02d};New\n" for k in range(numbers)]
    return "Portable;Prénom\n" + "".join(rows) + "0798765432;a\n0798765432;b\n0798765432;c\n"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("STOPSMS_DATABASE_URL", database_url)
    return CliRunner()


def test_the_summary_names_the_superseded_lines_and_caps_them(
    database: Database, cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "repeats.csv"
    path.write_text(_many_repeats(24), encoding="utf-8")
    # The console's default width: a long tmp path (xdist's popen-gwN) must not break the line.
    result = cli.invoke(app, ["contacts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "26 duplicate row(s) merged" in result.output
    shown = ", ".join(f"{2 * k + 2} by {2 * k + 3}" for k in range(20))
    assert (
        f"merged: 25 number(s) had several rows, each kept as its last row whole; lines"
        f" superseded: {shown}, and 6 more — all in {tmp_path / 'repeats.rejects.csv'}"
    ) in result.output
    with (tmp_path / "repeats.rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        report = list(csv.reader(handle, delimiter=";"))
    expected = [(2 * k + 2, 2 * k + 3) for k in range(24)] + [(50, 52), (51, 52)]
    numbers = [f"+336123400{k:02d}" for k in range(24)] + ["+33798765432"] * 2
    assert report[1:] == [
        [str(line), number, "superseded", DETAIL.format(by)]
        for (line, by), number in zip(expected, numbers, strict=True)
    ]
    # --json: every superseded line, with the line that superseded it.
    path.write_text(_many_repeats(24), encoding="utf-8")
    result = cli.invoke(app, ["contacts", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["merged_numbers"], summary["duplicates"], summary["updated"]) == (25, 26, 25)
    assert summary["superseded"] == [{"line": a, "by_line": b} for a, b in expected]


def test_a_file_without_repeats_says_nothing_of_merging(
    database: Database, cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("Portable\n0612345678\n0698765432\n", encoding="utf-8")
    result = cli.invoke(app, ["contacts", "import", str(path), "--json"])
    summary = json.loads(result.stdout)
    assert (summary["merged_numbers"], summary["superseded"]) == (0, [])
    assert summary["rejects_path"] is None  # no report: nothing rejected, nothing superseded
    assert not (tmp_path / "plain.rejects.csv").exists()
    result = cli.invoke(app, ["contacts", "import", str(path)])
    assert "merged:" not in result.output


def test_brigitte_and_paul_are_named_alike_by_both_paths(
    database: Database, tmp_path: Path
) -> None:
    with database.transaction() as conn:
        for name in ("rows", "columns"):
            accounts.create_account(conn, name)
    rows, columns = _both(database, tmp_path, DURAND, chunk_rows=1)
    _same(database, rows, columns)  # summaries (superseded lines included) and reports alike
    assert rows.merged_numbers == 1
    assert [(s.line, s.by_line) for s in rows.superseded] == [(2, 3)]
    assert rows.rejects_path is not None
    lines = Path(rows.rejects_path).read_text(encoding="utf-8-sig").splitlines()
    assert lines == ["line;value;reason;detail", f"2;+33612345678;superseded;{DETAIL.format(3)}"]
