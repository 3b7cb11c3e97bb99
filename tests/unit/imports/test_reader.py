"""Reading contact files: encodings, delimiters, line numbers, hostile input, workbooks."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from stopsms.errors import UnreadableFile
from stopsms.imports.reader import open_table, parse_delimiter, sniff_delimiter


def _write(tmp_path: Path, data: bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _all(path: Path, **kwargs: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    with open_table(path, **kwargs) as table:
        rows = [
            (line, row)
            for chunk in table.chunks(2)
            for line, row in zip(chunk.lines, chunk.rows, strict=True)
        ]
        return table.header, rows


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Prénom;Mobile\nHélène;0612345678\n".encode(), "utf-8"),
        ("Prénom;Mobile\nHélène;0612345678\n".encode("utf-8-sig"), "utf-8-sig"),
        ("Prénom;Mobile\nHélène;0612345678\n".encode("cp1252"), "cp1252"),
        ("Prénom;Mobile\nHélène;0612345678\n".encode("utf-16"), "utf-16"),
        ("Prénom;Mobile\nHélène;0612345678\n".encode("utf-16-le"), "utf-16-le"),
    ],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = _write(tmp_path, data)
    with open_table(path) as table:
        assert table.encoding == encoding
        assert table.header == ["Prénom", "Mobile"]
        assert [c.rows for c in table.chunks(10)] == [[["Hélène", "0612345678"]]]


def test_cp1252_euro_and_latin1_holes(tmp_path: Path) -> None:
    path = _write(tmp_path, "Société;tel\nCafé €;0612345678\n".encode("cp1252"))
    assert _all(path)[1] == [(2, ["Café €", "0612345678"])]
    hole = _write(tmp_path, b"nom;tel\nA\x81;0612345678\n", "hole.csv")
    with open_table(hole) as table:
        assert table.encoding == "latin-1"


def test_mixed_utf8_and_cp1252_lines(tmp_path: Path) -> None:
    data = "nom;tel\nHélène;1\n".encode() + "Chloé;2\n".encode("cp1252")
    path = _write(tmp_path, data)
    with open_table(path) as table:
        assert table.encoding == "mixed utf-8/cp1252"
        assert [r[0] for c in table.chunks(10) for r in c.rows] == ["Hélène", "Chloé"]


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiters_are_sniffed(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["nom", "prénom", "mobile"]) + "\n"
    text += delimiter.join(['"Dupont; Martin, fils"', "Jean", "06 12 34 56 78"]) + "\n"
    path = _write(tmp_path, text.encode())
    header, rows = _all(path)
    assert header == ["nom", "prénom", "mobile"]
    assert rows == [(2, ["Dupont; Martin, fils", "Jean", "06 12 34 56 78"])]


def test_sniffing_prefers_the_consistent_split() -> None:
    # Decimal commas in every row, semicolons between fields.
    assert sniff_delimiter("a;b;c\n1,5;2,5;x\n3,5;4,5;y\n") == ";"
    assert sniff_delimiter("mobile\n0612345678\n") is None


def test_given_delimiter_wins(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a,b;c\n1,2;3\n")
    assert _all(path, delimiter=",")[0] == ["a", "b;c"]


def test_parse_delimiter() -> None:
    assert parse_delimiter("tab") == "\t"
    assert parse_delimiter("\\t") == "\t"
    assert parse_delimiter(";") == ";"
    with pytest.raises(ValueError, match="one character"):
        parse_delimiter(";;")
    with pytest.raises(ValueError, match="one character"):
        parse_delimiter('"')


def test_line_numbers_count_header_blank_and_multiline_rows(tmp_path: Path) -> None:
    data = b'\n\nmobile;note\n0612345678;a\n\n0612345679;"two\nlines"\n0612345670;b\n'
    header, rows = _all(_write(tmp_path, data))
    assert header == ["mobile", "note"]
    assert [(line, row[0] if row else None) for line, row in rows] == [
        (4, "0612345678"),
        (5, None),
        (6, "0612345679"),
        (8, "0612345670"),
    ]


def test_ragged_rows_are_kept_as_they_are(tmp_path: Path) -> None:
    _, rows = _all(_write(tmp_path, b"mobile;nom;prenom\n0612345678\n0612345679;a;b;c;d\n"))
    assert [row for _, row in rows] == [["0612345678"], ["0612345679", "a", "b", "c", "d"]]


def test_nul_bytes_are_dropped(tmp_path: Path) -> None:
    _, rows = _all(_write(tmp_path, b"mobile;nom\n06123\x0045678;Du\x00pont\n"))
    assert rows == [(2, ["0612345678", "Dupont"])]


def test_a_huge_field_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, b"mobile;nom\n0612345678;a\n0612345679;" + b"x" * 200_000 + b"\n")
    with open_table(path) as table, pytest.raises(UnreadableFile, match=r"line 3: field larger"):
        list(table.chunks(10))


def test_a_10mb_single_line_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = _write(tmp_path, b"x" * 10_000_000)
    with pytest.raises(UnreadableFile, match=r"contacts.csv.*line 1"):
        open_table(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "no rows"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "legacy Excel .xls"),
        (b"%PDF-1.4\n", "PDF"),
        (bytes(range(256)) * 10, "binary file"),
    ],
)
def test_unreadable_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(UnreadableFile, match=message) as caught:
        open_table(path)
    assert str(path) in str(caught.value)
    assert "nothing was changed" in str(caught.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="no such file"):
        open_table(tmp_path / "absent.csv")
    with pytest.raises(UnreadableFile, match="is a directory"):
        open_table(tmp_path)


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UnreadableFile, match=r"ZIP archive, not an \.xlsx"):
        open_table(path)


def test_corrupt_workbook(tmp_path: Path) -> None:
    good = tmp_path / "good.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["mobile"])
    workbook.save(good)
    broken = _write(tmp_path, good.read_bytes()[:400], "broken.xlsx")
    with pytest.raises(UnreadableFile, match=r"broken.xlsx.*(not a readable|ZIP)"):
        open_table(broken)


def test_workbook_rows_numbers_and_floats(tmp_path: Path) -> None:
    path = tmp_path / "contacts.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Mobile", "Nom", "Inscrit"])
    sheet.append([33612345678.0, "Dupont", datetime(2024, 1, 2, 3, 4, 5)])
    sheet.append([])
    sheet.append([612345678, None, 1.5])
    workbook.save(path)
    with open_table(path) as table:
        assert table.kind == "xlsx"
        assert table.header == ["Mobile", "Nom", "Inscrit"]
        rows = [
            (line, row) for c in table.chunks(2) for line, row in zip(c.lines, c.rows, strict=True)
        ]
    assert rows == [
        (2, ["33612345678", "Dupont", "2024-01-02 03:04:05"]),
        (3, ["", "", ""]),
        (4, ["612345678", "", "1.5"]),
    ]


def test_unknown_encoding_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="unknown encoding"):
        open_table(_write(tmp_path, b"mobile\n1\n"), encoding="klingon")
