"""An upload's preview (the first rows and the guessed columns) and the mapping a form posts
turned into the import's column map, refused with a sentence naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from stopsms.errors import InvalidInput, UnreadableFile
from stopsms.imports.columns import ColumnError, recognise
from stopsms.services.contacts.uploads import column_overrides, preview_file


def _file(tmp_path: Path, text: str, name: str = "clients.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_preview_shows_the_first_rows_and_the_guess(tmp_path: Path) -> None:
    rows = "".join(f"06123456{i:02d};Nom{i};Lyon\n" for i in range(10))
    shown = preview_file(_file(tmp_path, "Téléphone;Nom;Ville\n" + rows), rows=3)
    assert shown.headers == ("Téléphone", "Nom", "Ville")
    assert shown.guessed == ("phone", "last_name", "custom")
    assert shown.rows[0] == ("0612345600", "Nom0", "Lyon")
    assert shown.lines == (2, 3, 4)
    assert shown.has_header
    assert shown.problem is None


def test_a_file_of_bare_numbers_has_no_header_and_one_without_phone_says_so(
    tmp_path: Path,
) -> None:
    bare = preview_file(_file(tmp_path, "0612345678;a\n0698765432;b\n"))
    assert not bare.has_header
    assert bare.headers == ("column_1", "column_2")
    assert bare.guessed == ("phone", "custom")
    assert bare.rows[0] == ("0612345678", "a")
    named = preview_file(_file(tmp_path, "Ville;Code\nLyon;1\n", "villes.csv"))
    assert named.problem is not None
    assert "no phone column" in named.problem
    assert named.guessed == ("custom", "custom")


def test_a_binary_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(UnreadableFile, match="a PNG image"):
        preview_file(path)


def test_the_mapping_becomes_the_column_map_by_position() -> None:
    headers = ("Tel", "Nom", "Nom", "Note")
    overrides = column_overrides(headers, {0: "phone", 1: "custom", 2: "custom", 3: "ignore"})
    assert overrides == {"#1": "phone", "#2": "custom:Nom", "#3": "custom:Nom_2", "#4": "ignore"}
    plan = recognise(headers, overrides)
    assert plan.custom == (("Nom", 1), ("Nom_2", 2))
    assert plan.ignored == (3,)


@pytest.mark.parametrize(
    ("mapping", "error", "sentence"),
    [
        ({9: "phone"}, InvalidInput, "invalid mapping 'column 10': the file has 2 columns"),
        ({0: "phone", 1: "téléphone"}, InvalidInput, "invalid mapping of column 'Nom'"),
        ({0: "phone", 1: "phone"}, ColumnError, "phone is chosen for two columns"),
        ({0: "ignore", 1: "last_name"}, ColumnError, "no column is the phone"),
    ],
)
def test_a_wrong_mapping_names_the_field(
    mapping: dict[int, str], error: type[Exception], sentence: str
) -> None:
    with pytest.raises(error, match=sentence.replace("(", r"\(")):
        column_overrides(("Tel", "Nom"), mapping)
