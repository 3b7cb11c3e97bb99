from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopsms.domain.keywords import (
    OPT_OUT_KEYWORDS,
    Classification,
    Classifier,
    Intent,
    classify,
    normalize,
)

OUT, IN, HELP, OTHER = Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP, Intent.OTHER


def test_intent_values() -> None:
    assert [i.value for i in Intent] == ["opt_out", "opt_in", "help", "other"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Stop36034", ["STOP", "36034"]),
        ("36034stop", ["36034", "STOP"]),
        ("Stop!!!", ["STOP"]),
        ("  «stop»  ", ["STOP"]),
        ("Désabonner", ["DESABONNER"]),
        ("ＳＴＯＰ", ["STOP"]),
        ("🛑STOP🛑", ["STOP"]),
        ("opt-out", ["OPT", "OUT"]),
        ("straße", ["STRASSE"]),
        ("", []),
        ("😀 👍", []),
    ],
)
def test_normalize(text: str, words: list[str]) -> None:
    assert normalize(text) == words


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "STOP"),
        ("stop", "STOP"),
        ("Stop!!!", "STOP"),
        ("STOP.", "STOP"),
        ("STOP 36034", "STOP"),
        ("Stop36034", "STOP"),
        ("36034 STOP", "STOP"),  # a copied shortcode before the keyword is not a word
        ("stop svp", "STOP"),
        ("Stop merci, bonne journée", "STOP"),
        ("  stop  ", "STOP"),
        ("STOPALL", "STOPALL"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("Unsub", "UNSUB"),
        ("cancel", "CANCEL"),
        ("END", "END"),
        ("quit", "QUIT"),
        ("optout", "OPTOUT"),
        ("Opt-Out", "OPT-OUT"),
        ("OPT OUT please", "OPT-OUT"),
        ("revoke", "REVOKE"),
        ("Remove me", "REMOVE"),
        ("Arrêt", "ARRET"),
        ("arrêtez svp", "ARRETEZ"),
        ("ARRETER", "ARRETER"),
        ("Désabonnement", "DESABONNEMENT"),
        ("désabonnez-moi", "DESABONNEZ"),
        ("désinscrire", "DESINSCRIRE"),
        ("desinscription", "DESINSCRIPTION"),
        ("unsubscribed", "UNSUBSCRIBED"),
        ("afmelden", "AFMELDEN"),
        ("uitschrijven", "UITSCHRIJVEN"),
        ("ＳＴＯＰ", "STOP"),
        ("SТОР", "STOP"),  # Cyrillic Т, О, Р
    ],
)
def test_first_word_opt_out_is_certain(text: str, keyword: str) -> None:
    assert classify(text) == Classification(OUT, True, keyword)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STPO", "STOP"),
        ("TSOP", "STOP"),
        ("SOTP", "STOP"),
        ("STOPP", "STOP"),
        ("SSTOP", "STOP"),
        ("stpo!", "STOP"),
        ("STPO 36034", "STOP"),
        ("QIUT", "QUIT"),
        ("cancle", "CANCEL"),
        ("UNSBU", "UNSUB"),
        ("REMOEV", "REMOVE"),
        ("ARRTE", "ARRTE"),
    ],
)
def test_lone_typo_of_a_keyword_is_a_certain_opt_out(text: str, keyword: str) -> None:
    assert classify(text) == Classification(OUT, True, keyword)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("Merci, stop", "STOP"),
        ("Je veux pas arrêter", "ARRETER"),
        ("Bonjour je souhaite me désinscrire", "DESINSCRIRE"),
        ("Please remove me", "REMOVE"),
        ("the end", "END"),
        ("Vous pouvez opt out ?", "OPT-OUT"),
        ("START STOP", "STOP"),  # opt-out wins over opt-in
        ("info stop", "STOP"),
        ("STOOOOP", "STOP"),  # more than one letter repeated: our wider net
        ("DESABONER", "DESABONER"),  # a doubled letter typed once
        ("S T O P", "STOP"),  # spelled out
        ("S.T.O.P.", "STOP"),
        ("s-t-p-o", "STOP"),
        ("STOPSMS", "STOPSMS"),
        ("Stoppez les sms", "STOPPEZ"),
    ],
)
def test_opt_out_elsewhere_is_uncertain(text: str, keyword: str) -> None:
    assert classify(text) == Classification(OUT, False, keyword)


@pytest.mark.parametrize(
    "text",
    [
        "TOP",  # short words are never fuzzy-matched
        "SHOP",
        "POST",
        "SPOT",
        "ENDS",
        "DNE",
        "Merci beaucoup !",
        "Quelle est l'adresse du magasin ?",
        "Super offre, j'arrive",
        "",
        "   ",
        "😀😀😀",
        "!!!",
        "36034",
        "STRAT",
        "HLEP",
    ],
)
def test_replies_are_other(text: str) -> None:
    assert classify(text) == Classification(OTHER, True, None)


@pytest.mark.parametrize(
    ("text", "intent", "keyword"),
    [
        ("START", IN, "START"),
        ("start svp", IN, "START"),
        ("Unstop", IN, "UNSTOP"),
        ("subscribe", IN, "SUBSCRIBE"),
        ("HELP", HELP, "HELP"),
        ("aide ?", HELP, "AIDE"),
        ("Info", HELP, "INFO"),
    ],
)
def test_opt_in_and_help_on_the_first_word(text: str, intent: Intent, keyword: str) -> None:
    assert classify(text) == Classification(intent, True, keyword)


def test_opt_in_and_help_elsewhere_are_replies() -> None:
    assert classify("Merci pour l'info").intent is OTHER
    assert classify("je veux start").intent is OTHER


def test_opt_in_is_never_fuzzy() -> None:
    assert classify("SATRT").intent is OTHER
    assert classify("STARTT").intent is OTHER


def test_very_long_texts() -> None:
    assert classify("bla " * 50_000 + "stop") == Classification(OUT, False, "STOP")
    assert classify("stop " + "bla " * 50_000) == Classification(OUT, True, "STOP")
    long_word = classify("STOP" * 10_000)
    assert long_word.intent is OUT
    assert long_word.keyword == "STOP"
    assert classify("x" * 100_000).intent is OTHER


def test_extra_keywords_of_an_account() -> None:
    classifier = Classifier(
        extra_opt_out=["Stop Pub", "NOMORE"], extra_opt_in=["Reprendre"], extra_help=["Contact"]
    )
    assert classifier.classify("stop pub") == Classification(OUT, True, "STOP PUB")
    assert classifier.classify("nomore") == Classification(OUT, True, "NOMORE")
    assert classifier.classify("NOMROE") == Classification(OUT, True, "NOMORE")
    assert classifier.classify("ok nomore") == Classification(OUT, False, "NOMORE")
    assert classifier.classify("reprendre") == Classification(IN, True, "REPRENDRE")
    assert classifier.classify("contact") == Classification(HELP, True, "CONTACT")
    # The default classifier does not know them.
    assert classify("nomore").intent is OTHER
    # Built-in keywords still apply.
    assert classifier.classify("STOP").intent is OUT


def test_opt_out_wins_over_an_extra_opt_in_keyword() -> None:
    classifier = Classifier(extra_opt_in=["STOP"])
    assert classifier.classify("STOP").intent is OUT


def test_extra_keyword_must_have_letters_or_digits() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        Classifier(extra_opt_out=["🙂"])


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_classify_never_raises(text: str) -> None:
    result = classify(text)
    assert isinstance(result.intent, Intent)
    assert result.keyword is None or result.intent is not OTHER


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(OPT_OUT_KEYWORDS),
    st.sampled_from(["", " ", "!", ".", "  ", "🛑 ", "«"]),
    st.text(),
)
def test_a_leading_keyword_always_opts_out(keyword: str, prefix: str, rest: str) -> None:
    result = classify(prefix + keyword.lower() + " " + rest)
    assert result.intent is OUT
    assert result.certain


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(OPT_OUT_KEYWORDS), st.text())
def test_a_keyword_anywhere_opts_out(before: str, keyword: str, after: str) -> None:
    assert classify(f"{before} {keyword} {after}").intent is OUT
