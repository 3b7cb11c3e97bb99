"""Column recognition: French and English names, priorities, overrides."""

from __future__ import annotations

import pytest

from stopsms.errors import Fix
from stopsms.imports.columns import (
    ColumnError,
    Field,
    canonical,
    field_for,
    headerless_plan,
    parse_overrides,
    recognise,
)


def test_canonical_form() -> None:
    assert canonical("  Téléphone-Portable ") == "telephone portable"
    assert canonical("N° de TÉL.") == "no de tel"
    assert canonical("E-mail") == "e mail"


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Mobile", Field.PHONE),
        ("PORTABLE", Field.PHONE),
        ("Téléphone", Field.PHONE),
        ("tel", Field.PHONE),
        ("Phone number", Field.PHONE),
        ("Numéro", Field.PHONE),
        ("MSISDN", Field.PHONE),
        ("N° de portable", Field.PHONE),
        ("GSM client", Field.PHONE),
        ("Numéro de téléphone", Field.PHONE),
        ("Prénom", Field.FIRST_NAME),
        ("First Name", Field.FIRST_NAME),
        ("firstname", Field.FIRST_NAME),
        ("Nom", Field.LAST_NAME),
        ("Last name", Field.LAST_NAME),
        ("Nom de famille", Field.LAST_NAME),
        ("E-mail", Field.EMAIL),
        ("Courriel", Field.EMAIL),
        ("Adresse e-mail", Field.EMAIL),
        ("Société", Field.COMPANY),
        ("Entreprise", Field.COMPANY),
        ("Company", Field.COMPANY),
        ("Raison sociale", Field.COMPANY),
        ("Nom de la société", Field.COMPANY),
    ],
)
def test_recognised_names(header: str, field: Field) -> None:
    found = field_for(header)
    assert found is not None
    assert found[0] is field


@pytest.mark.parametrize(
    "header",
    [
        "Ville",
        "Téléphone fixe",
        "Fax",
        "Numéro client",
        "Numéro de commande",
        "N° client",
        "Opt-in email",
        "Nom complet",
        "",
        "Date",
    ],
)
def test_not_recognised(header: str) -> None:
    assert field_for(header) is None


def test_plan_with_custom_fields_and_duplicates() -> None:
    plan = recognise(["Nom", "Téléphone", "Portable", "Email", "email", "Ville", "", "Ville"])
    assert plan.phone == 2  # the mobile-like column wins
    assert plan.fields[Field.LAST_NAME] == 0
    assert plan.fields[Field.EMAIL] == 3
    assert plan.custom == (
        ("Téléphone", 1),
        ("email", 4),
        ("Ville", 5),
        ("column_7", 6),
        ("Ville_2", 7),
    )
    assert len(plan.notes) == 2
    assert "using 'Portable'" in plan.notes[1] or "using 'Portable'" in plan.notes[0]
    assert plan.describe()["phone"] == "Portable"


def test_no_phone_column_names_the_columns_found() -> None:
    with pytest.raises(ColumnError, match=r"no phone column among 'Nom', 'Ville'") as raised:
        recognise(["Nom", "Ville"])
    # What would let it through is a column mapped to the phone, which each interface words.
    assert raised.value.fix == Fix("map_column", (("field", "phone"),))


def test_overrides() -> None:
    headers = ["GSM client", "Ville", "Tel", "Code"]
    plan = recognise(headers, parse_overrides(["Ville=prénom", "#3=ignore", "code=loyalty"]))
    assert plan.phone == 0
    assert plan.fields[Field.FIRST_NAME] == 1
    assert plan.ignored == (2,)
    assert plan.custom == (("loyalty", 3),)
    moved = recognise(headers, {"Code": "phone"})
    assert moved.phone == 3
    assert ("GSM client", 0) in moved.custom


def test_override_errors() -> None:
    with pytest.raises(ColumnError, match="expected COLUMN=FIELD"):
        parse_overrides(["Ville"])
    with pytest.raises(ColumnError, match=r"no column 'Pays' \(columns: 'mobile'\)"):
        recognise(["mobile"], {"Pays": "country"})


def test_headerless_plan() -> None:
    plan = headerless_plan(3, 1)
    assert plan.phone == 1
    assert not plan.has_header
    assert plan.custom == (("column_1", 0), ("column_3", 2))
    assert plan.describe()["phone"] == "column 2"


def test_a_column_map_reaches_a_column_by_its_position_and_forces_a_custom_field() -> None:
    headers = ["Tel", "Nom", "Nom"]
    plan = recognise(headers, {"#1": "phone", "#2": "custom:Nom", "#3": "custom:Nom_2"})
    assert plan.phone == 0
    assert plan.custom == (("Nom", 1), ("Nom_2", 2))
    assert Field.LAST_NAME not in plan.fields
