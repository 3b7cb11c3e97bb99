"""The pages' languages: French and English, chosen by ``Accept-Language``.

The texts are Babel gettext catalogues, ``locales/<lang>/LC_MESSAGES/messages.po`` in this
package (English is the source language: its catalogue is empty and every text is its own
``msgid``). They are compiled when first used, in memory (``read_po`` → ``write_mo``): no
build step, so a fresh ``pip install -e .`` serves both languages. Extract new texts with
``pybabel extract -F src/stopsms/web/babel.cfg -o messages.pot src/stopsms/web`` and merge
them with ``pybabel update -i messages.pot -d src/stopsms/web/locales``.

Negotiation: the first language of the header (by ``q``, then order) that is French or English
wins (``fr-CA`` is French); none of them, or no header: French, the language of the
installations stopsms serves.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "environment", "negotiate", "translations"]

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
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


@cache
def environment(language: str) -> Environment:
    """The pages' Jinja2 templates (autoescaped) speaking ``language``."""
    templates = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
    )
    templates.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return templates


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
