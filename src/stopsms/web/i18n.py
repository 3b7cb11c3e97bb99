"""The pages' languages: French and English, chosen by the ``lang`` cookie (the switch in the
page header sets it) or else ``Accept-Language``; dates, times and numbers in that language.

The texts are Babel gettext catalogues, ``locales/<lang>/LC_MESSAGES/messages.po`` in this
package (English is the source language: its catalogue is empty and every text is its own
``msgid``). They are compiled when first used, in memory (``read_po`` → ``write_mo``): no
build step, so a fresh ``pip install -e .`` serves both languages. Extract new texts with
``pybabel extract -F src/stopsms/web/babel.cfg -o messages.pot src/stopsms/web`` and merge
them with ``pybabel update -i messages.pot -d src/stopsms/web/locales``.

Negotiation: the ``lang`` cookie when it names French or English (a choice made on the page
beats the browser's); else the first language of the header (by ``q``, then order) that is
French or English (``fr-CA`` is French); none of them, or no header: French, the language of
the installations stopsms serves.

Formats: the templates' filters ``datetime`` (an instant, as the language writes a short date
and time: ``04/12/2026 22:49``, ``12/4/26, 10:49 PM``), ``date``, ``number`` (``12 345``,
``12,345``), ``decimal(digits)`` (``1 234,50``) and ``percent(digits)`` (a number of hundredths:
``1,2 %``, ``1.2%``), all Babel's with the language's CLDR data; ``{{ colon }}`` after a label
(``Solde : 12``, ``Balance: 12``). Times are shown in the
account's zone (its ``time_zone`` setting, :data:`ZONE` Europe/Paris until it sets one): a
page's templates come from :func:`environment` for its language *and* that zone, so no
template converts or formats an instant itself. ``datetime(zone=True)`` adds the zone's name
where a reader could take the time for another zone's ("held until 08/12/2026 09:00
(Europe/Paris)"), and ``datetime(zone="Indian/Reunion")`` writes the instant in another zone
(a recipient's: sending hours are the recipients' local hours, not the account's).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = [
    "COLONS",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_COOKIE",
    "ZONE",
    "choose",
    "environment",
    "formats",
    "negotiate",
    "translations",
]

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
#: The cookie the header's language switch sets (a year, every path).
LANGUAGE_COOKIE: Final = "lang"
#: The zone the pages show times in for an account that has not set its own (see the module doc).
ZONE: Final = ZoneInfo("Europe/Paris")
#: What follows a label before its value, by language (French typography: U+202F before ":").
COLONS: Final = {"fr": "\u202f:", "en": ":"}
_LOCALES: Final = Path(__file__).parent / "locales"
_TEMPLATES: Final = Path(__file__).parent / "templates"


@cache
def translations(language: str) -> Translations:
    """The compiled catalogue of ``language`` (one of :data:`LANGUAGES`)."""
    path = _LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


class Formats:
    """Dates, times and numbers written as ``language`` writes them, instants in ``zone``
    (an IANA name, checked when the account set it): the templates' filters."""

    def __init__(self, language: str, zone: str = ZONE.key) -> None:
        self.language = language
        self.zone = ZoneInfo(zone)
        percent = Locale.parse(language).percent_formats[None].pattern
        self._percent = percent.split(";")[0].replace("#,##0", "#,##0.{}", 1)

    def datetime(self, value: datetime | float | None, zone: bool | str = False) -> str:
        """An instant (aware, naive UTC as the store keeps some, or seconds since the epoch)
        as a short date and time in the account's zone; None: empty. ``zone=True`` adds the
        zone's name in brackets; ``zone="America/Martinique"`` writes it in that zone, named."""
        if value is None:
            return ""
        if not isinstance(value, datetime):
            value = datetime.fromtimestamp(value, UTC)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the store's naive instants are UTC
        shown = self.zone if zone is True or zone is False else ZoneInfo(zone)
        written = format_datetime(value, "short", tzinfo=shown, locale=self.language)
        return f"{written} ({shown.key})" if zone is not False else written

    def date(self, value: date | None) -> str:
        return "" if value is None else format_date(value, "medium", locale=self.language)

    def number(self, value: int | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.language)

    def decimal(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return ""
        return format_decimal(value, format="#,##0." + "0" * digits, locale=self.language)

    def percent(self, value: float | None, digits: int = 1) -> str:
        """``value`` hundredths (``1.26`` → ``1,3 %`` in French)."""
        if value is None:
            return ""
        pattern = self._percent.format("0" * digits)
        return format_percent(value / 100, format=pattern, locale=self.language)


@lru_cache(maxsize=128)
def formats(language: str, zone: str = ZONE.key) -> Formats:
    """The formats of ``language`` (one of :data:`LANGUAGES`) with instants in ``zone``."""
    return Formats(language, zone)


@lru_cache(maxsize=32)
def environment(language: str, zone: str = ZONE.key) -> Environment:
    """The pages' Jinja2 templates (autoescaped) speaking ``language``, instants in ``zone``.

    One environment per language and zone in use (its filters are bound to both), each with
    its own compiled templates: 32 kept, beyond which the least used is compiled again
    (a few milliseconds per template on its next page)."""
    templates = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
    )
    templates.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    written = formats(language, zone)
    templates.filters.update(
        datetime=written.datetime,
        date=written.date,
        number=written.number,
        decimal=written.decimal,
        percent=written.percent,
    )
    # "Solde : 12" in French (a narrow no-break space before the colon), "Balance: 12" in
    # English: a label's colon is the template global ``colon``, never a bare ":".
    templates.globals["colon"] = COLONS.get(language, ":")
    return templates


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the ``lang`` cookie's if it is one of ours, else the header's."""
    if cookie in LANGUAGES:
        return str(cookie)
    return negotiate(accept_language)


def negotiate(accept_language: str | None) -> str:
    """The page's language for an ``Accept-Language`` header (see the module doc)."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, index, tag.strip().lower().split("-")[0]))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE
