"""Every text the pages show has its French: extracted from the templates and the web code by
Babel with the project's own mapping (``web/babel.cfg``), then looked up in the French
catalogue as it is on disk — present, not empty, not fuzzy. A page added with a text but not
its translation fails here, whoever added it.

Texts chosen at run time (``_(campaign.status.value)``…) cannot be extracted: the values they
come from are listed from their enums and tables and checked the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import stopsms.web
from stopsms.domain.campaign import CampaignStatus, Exclusion
from stopsms.services.access.roles import Role
from stopsms.store.tables import OPTOUT_SOURCES
from stopsms.web.i18n import formats, translations

WEB = Path(stopsms.web.__file__).parent


def _catalogue(language: str) -> Catalog:
    with (WEB / "locales" / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def _extracted() -> dict[str, list[str]]:
    """msgid → where it was found (file:line), as ``pybabel extract -F babel.cfg`` finds them."""
    with (WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: dict[str, list[str]] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options_map
    ):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault(msgid, []).append(f"{filename}:{line}")
    return found


def _untranslated(catalogue: Catalog, msgids: list[str]) -> list[str]:
    missing = []
    for msgid in msgids:
        entry = catalogue.get(msgid)
        strings = entry.string if entry is not None else ""
        texts = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(texts):
            missing.append(msgid)
    return missing


def test_every_extracted_text_has_a_french_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 50  # the templates and the routers were read
    assert "Sign in" in extracted  # a template's text
    assert "This form has expired: please send it again from the page." in extracted  # N_()
    missing = _untranslated(_catalogue("fr"), sorted(extracted))
    assert missing == [], "\n".join(f"{m!r} at {', '.join(extracted[m])}" for m in missing)


def test_the_french_catalogue_has_no_fuzzy_or_empty_entry() -> None:
    catalogue = _catalogue("fr")
    bad = [m.id for m in catalogue if m.id and (m.fuzzy or not m.string)]
    assert bad == []


@pytest.mark.parametrize(
    "values",
    [
        [role.value for role in Role],
        [status.value for status in CampaignStatus],
        [reason.value for reason in Exclusion],
        list(OPTOUT_SOURCES),
    ],
    ids=["roles", "campaign statuses", "exclusions", "opt-out sources"],
)
def test_the_values_shown_through_a_variable_are_translated(values: list[str]) -> None:
    assert _untranslated(_catalogue("fr"), values) == []
    assert translations("fr").gettext(values[0]) != values[0]  # the compiled catalogue too


def test_the_checker_sees_a_missing_a_fuzzy_and_an_empty_translation() -> None:
    catalogue = Catalog(locale="fr")
    catalogue.add("Present", "Présent")
    catalogue.add("Fuzzy", "Flou", flags=["fuzzy"])
    catalogue.add("Empty", "")
    assert _untranslated(catalogue, ["Present", "Fuzzy", "Empty", "Absent"]) == [
        "Fuzzy",
        "Empty",
        "Absent",
    ]


def test_dates_and_numbers_are_written_in_the_page_s_language() -> None:
    french, english = formats("fr"), formats("en")
    assert french.number(12345) == "12\u202f345"
    assert english.number(12345) == "12,345"
    assert french.decimal(1234.5) == "1\u202f234,50"
    assert english.decimal(1234.5) == "1,234.50"
    assert french.percent(1.26) == "1,3\u00a0%"
    assert english.percent(1.26) == "1.3%"
    assert french.percent(None) == ""
    instant = 1_796_893_200.0  # 2026-12-10 09:00 UTC: 10:00 in Paris (winter)
    assert french.datetime(instant) == "10/12/2026 10:00"
    assert english.datetime(instant) == "12/10/26, 10:00\u202fAM"
    assert french.datetime(None) == ""
