"""The unsubscribe page's parts: languages, catalogues, anti-forgery values, the rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

import stopsms.web
from stopsms.web.i18n import LANGUAGES, negotiate, translations
from stopsms.web.security import Forms, RateLimiter


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("en-GB,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,en;q=0.5,fr;q=0.4", "en"),
        ("fr;q=0.2,en;q=0.8", "en"),
        ("en;q=0,fr-CA", "fr"),
        ("de", "fr"),
        ("", "fr"),
        (None, "fr"),
        ("en;q=abc,fr", "fr"),
    ],
)
def test_the_language_is_negotiated(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_every_text_of_the_pages_is_translated() -> None:
    """A text added to a template or to the router without its French is caught here."""
    folder = Path(stopsms.web.__file__).parent
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    texts = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(folder), method_map, options)
    }
    assert len(texts) > 20
    for language in LANGUAGES:
        catalogue = translations(language)
        missing = [text for text in texts if language == "fr" and catalogue.gettext(text) == text]
        assert missing == []


def test_forms_accept_only_their_own_signed_value_twice_submitted() -> None:
    forms = Forms("k" * 32)
    value = forms.issue(None)
    assert forms.issue(value) == value  # the browser's own value is kept
    assert forms.accepts(value, value)
    assert not forms.accepts(value, None)
    assert not forms.accepts(None, value)
    other = forms.issue(None)
    assert not forms.accepts(value, other)
    forged = Forms("x" * 32).issue(None)
    assert not forms.accepts(forged, forged)
    assert forms.issue(forged) != forged
    # No secret key: one per process, still signed.
    assert Forms(None).accepts(*[Forms(None).issue(None)] * 2) is False


def test_the_rate_limit_slides_per_address() -> None:
    now = [0.0]
    limiter = RateLimiter(limit=2, window=60, max_keys=2, clock=lambda: now[0])
    assert limiter.hit("a") is None
    assert limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(60)
    assert limiter.hit("b") is None  # another address has its own count
    now[0] = 30
    assert limiter.hit("a") == pytest.approx(30)
    now[0] = 61
    assert limiter.hit("a") is None
    assert limiter.hit("c") is None  # past max_keys, the stale "b" is forgotten
    assert set(limiter._hits) == {"a", "c"}
