"""The reject report and spreadsheet-safe cells."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from stopsms.imports.cells import neutralise
from stopsms.imports.rejects import RejectReason, RejectReport, default_report_path


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("\tx", "'\tx"),
        ("+33612345678", "+33612345678"),
        ("-12,5", "-12,5"),
        ("Jean", "Jean"),
        ("", ""),
    ],
)
def test_neutralise(value: str, safe: str) -> None:
    assert neutralise(value) == safe


def test_report_appears_only_on_commit(tmp_path: Path) -> None:
    source = tmp_path / "clients.csv"
    report = RejectReport(default_report_path(source), delimiter=",")
    assert report.path == tmp_path / "clients.rejects.csv"
    report.add(3, "=1+1", RejectReason.INVALID_PHONE, "not a phone number")
    report.add(7, "", RejectReason.MISSING_PHONE, "no phone number")
    report.add(9, "x" * 500, RejectReason.INVALID_PHONE, "too long")
    assert not report.path.exists()
    assert report.commit() == report.path
    with report.path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "value", "reason", "detail"]
    assert rows[1] == ["3", "'=1+1", "invalid_phone", "not a phone number"]
    assert rows[2] == ["7", "", "missing_phone", "no phone number"]
    assert len(rows[3][1]) == 201
    assert dict(report.counts) == {"invalid_phone": 2, "missing_phone": 1}
    assert len(report) == 3
    assert list(tmp_path.iterdir()) == [source.with_name("clients.rejects.csv")]


def test_discarded_report_leaves_nothing(tmp_path: Path) -> None:
    report = RejectReport(tmp_path / "r.csv")
    report.add(2, "x", RejectReason.INVALID_PHONE, "not a phone number")
    report.discard()
    assert list(tmp_path.iterdir()) == []


def test_no_rejects_no_file(tmp_path: Path) -> None:
    report = RejectReport(tmp_path / "r.csv")
    assert report.commit() is None
    assert list(tmp_path.iterdir()) == []
