"""Inbound text classification: is this reply a STOP, a START, a request for help, or a reply?

DESIGN.md "Inbound text classification" is the spec. "When in doubt, opt out": a missed STOP
risks a €20,000 fine, a wrong one costs a customer who can text START; so the net is wide and
what is not plainly a STOP is flagged ``certain=False`` for review — but still an opt-out.

Normalisation: Unicode NFKD, accents off, upper case, a few Cyrillic/Greek look-alike capitals
mapped to Latin, then words are runs of letters or runs of digits — so punctuation and emoji
never stick to a word (``"Stop!!!"`` → ``STOP``) and letters are split from digits
(``"Stop36034"`` → ``STOP 36034``). Multi-word keywords (``OPT-OUT`` → ``OPT OUT``) match a run
of words.

Decisions (in order, the first that applies wins):

1. The first word (digit-only words such as a copied shortcode are skipped) is an opt-out
   keyword, or starts with an opt-out stem (``ARRET…``, ``DESABONN…``): opt-out, certain.
2. The only word of letters (numbers aside: ``"STPO 36034"``) is an opt-out keyword with two
   adjacent letters swapped or one letter doubled (``STPO``, ``TSOP``, ``STOPP``): opt-out,
   certain — the spec lists these with the exact keywords, and a lone typo of STOP has no other
   reading. Short keywords and words (fewer than 4 letters: ``END``, ``TOP``) are never
   fuzzy-matched.
3. Our wider net, all opt-out but uncertain: that lone word with a letter repeated more
   (``STOOOP``); a keyword spelled out letter by letter (``S T O P``, ``S.T.O.P``); an opt-out
   keyword or stem anywhere after the first word (``"Merci, stop"``, ``"Je veux pas
   arrêter"``); a word that begins with ``STOP`` (``STOPSMS``, ``STOPPEZ``).
4. The first word is an opt-in keyword (START, UNSTOP, SUBSCRIBE): opt-in, certain. Only
   exact: a wrong opt-in is the costly mistake.
5. The first word is a help keyword (HELP, AIDE, INFO): help, certain.
6. Otherwise: other (a reply), certain; so is an empty or emoji-only text.

``Classification.keyword`` is the keyword as listed (``"STOP"``, ``"OPT-OUT"``, ``"STOP"`` for
``STPO``) or, for a stem or ``STOP…`` word, the word as normalised (``"ARRETER"``).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "HELP_KEYWORDS",
    "OPT_IN_KEYWORDS",
    "OPT_OUT_KEYWORDS",
    "OPT_OUT_STEMS",
    "Classification",
    "Classifier",
    "Intent",
    "classify",
    "normalize",
]

OPT_OUT_KEYWORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "UNSUB",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT-OUT",
    "REVOKE",
    "REMOVE",
)
OPT_OUT_STEMS = ("ARRET", "DESABONN", "DESINSCRI", "UNSUBSCRIB", "AFMELD", "UITSCHRIJ")
OPT_IN_KEYWORDS = ("START", "UNSTOP", "SUBSCRIBE")
HELP_KEYWORDS = ("HELP", "AIDE", "INFO")

FUZZY_MIN_LETTERS = 4
"""Keywords and words shorter than this are matched exactly only ("END", "TOP")."""

_FUZZY_MAX_LETTERS = 40  # a lone "word" longer than this is not a typo of a keyword
_WORD = re.compile(r"[^\W\d_]+|\d+")
# Capitals that look Latin in Cyrillic and Greek: "SТОР" typed on a Cyrillic layout is a STOP.
_LOOKALIKES = str.maketrans(
    "АВСЕНІЈКМОРЅТХУ" + "ΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
    "ABCEHIJKMOPSTXY" + "ABEHIKMNOPTYXZ",
)


class Intent(enum.Enum):
    """What an inbound text asks for."""

    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Classification:
    """The intent of an inbound text, whether it is certain (uncertain ones are listed for
    review, and an uncertain opt-out is still honoured), and the keyword found."""

    intent: Intent
    certain: bool
    keyword: str | None


def normalize(text: str) -> list[str]:
    """The words of ``text`` as the classifier sees them: ``"Stop36034 !"`` → ``["STOP",
    "36034"]``, ``"Désabonner"`` → ``["DESABONNER"]``."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
        text = text.upper().translate(_LOOKALIKES)
    else:
        text = text.upper()
    return _WORD.findall(text)


def _collapse(word: str) -> str:
    """``STOOOPP`` → ``STOP``: every run of one letter reduced to one."""
    return "".join(c for i, c in enumerate(word) if i == 0 or c != word[i - 1])


def _typos(word: str) -> set[str]:
    """``word`` with two adjacent letters swapped, or one letter doubled."""
    swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    doubled = {word[: i + 1] + word[i] + word[i + 1 :] for i in range(len(word))}
    return (swapped | doubled) - {word}


def _phrase(keyword: str) -> tuple[str, ...]:
    words = tuple(normalize(keyword))
    if not words:
        raise ValueError(f"keyword {keyword!r} has no letters or digits")
    return words


class _Phrases:
    """Keywords as runs of words, indexed by their first word."""

    __slots__ = ("by_first",)

    def __init__(self, keywords: Iterable[str]) -> None:
        self.by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for keyword in keywords:
            words = _phrase(keyword)
            display = keyword.strip().upper()
            self.by_first.setdefault(words[0], []).append((words, display))
        for entries in self.by_first.values():
            entries.sort(key=lambda entry: -len(entry[0]))  # longest phrase first

    def at(self, words: list[str], i: int) -> str | None:
        entries = self.by_first.get(words[i])
        if entries:
            for phrase, display in entries:
                if tuple(words[i : i + len(phrase)]) == phrase:
                    return display
        return None


class Classifier:
    """Classifies inbound texts; an account may add its own keywords.

    Extra opt-out keywords get the same treatment as the built-in ones (fuzzy lone-word
    matching included when 4 letters or more). Opt-out always wins: a word listed both as an
    opt-out and an opt-in keyword opts out.
    """

    __slots__ = (
        "_collapsed",
        "_collapsed_stem",
        "_help",
        "_opt_in",
        "_opt_out",
        "_stem",
        "_stem_typos",
        "_typo",
    )

    def __init__(
        self,
        extra_opt_out: Iterable[str] = (),
        extra_opt_in: Iterable[str] = (),
        extra_help: Iterable[str] = (),
    ) -> None:
        opt_out = (*OPT_OUT_KEYWORDS, *extra_opt_out)
        self._opt_out = _Phrases(opt_out)
        self._opt_in = _Phrases((*OPT_IN_KEYWORDS, *extra_opt_in))
        self._help = _Phrases((*HELP_KEYWORDS, *extra_help))
        self._stem = re.compile("|".join(OPT_OUT_STEMS))
        self._collapsed_stem = re.compile("|".join(_collapse(stem) for stem in OPT_OUT_STEMS))
        exact_elsewhere = set(self._opt_in.by_first) | set(self._help.by_first)
        # Typos of single-word keywords, computed once: a lone word is then one dict lookup.
        self._typo: dict[str, str] = {}
        self._collapsed: dict[str, str] = {}
        for keyword in opt_out:
            words = _phrase(keyword)
            if len(words) != 1 or len(words[0]) < FUZZY_MIN_LETTERS:
                continue
            word = words[0]
            display = keyword.strip().upper()
            for typo in _typos(word) - exact_elsewhere:
                self._typo.setdefault(typo, display)
            self._collapsed.setdefault(_collapse(word), display)
        self._stem_typos = tuple(sorted({t for stem in OPT_OUT_STEMS for t in _typos(stem)}))

    def classify(self, text: str) -> Classification:
        """Classify one inbound text; never raises on any string."""
        words = normalize(text)
        letters = [i for i, word in enumerate(words) if not word.isdigit()]
        if not letters:
            return Classification(Intent.OTHER, True, None)
        first = letters[0]
        found = self._opt_out_at(words, first)
        if found is not None:
            return Classification(Intent.OPT_OUT, True, found)
        uncertain = self._lone_or_spelled(words, letters)
        if uncertain is not None:
            return uncertain
        for i in letters:
            found = self._opt_out_at(words, i) or self._stop_prefixed(words[i])
            if found is not None:
                return Classification(Intent.OPT_OUT, False, found)
        found = self._opt_in.at(words, first)
        if found is not None:
            return Classification(Intent.OPT_IN, True, found)
        found = self._help.at(words, first)
        if found is not None:
            return Classification(Intent.HELP, True, found)
        return Classification(Intent.OTHER, True, None)

    def _opt_out_at(self, words: list[str], i: int) -> str | None:
        found = self._opt_out.at(words, i)
        if found is None:
            stem = self._stem.match(words[i])
            if stem is not None:
                return _shown(words[i], stem.group())
        return found

    @staticmethod
    def _stop_prefixed(word: str) -> str | None:
        return _shown(word, "STOP") if word.startswith("STOP") and word != "STOP" else None

    def _lone_or_spelled(self, words: list[str], letters: list[int]) -> Classification | None:
        """Rules 2 and 3 for a lone word of letters or a keyword spelled letter by letter."""
        if len(letters) == 1:
            word = words[letters[0]]
            spelled = False
        elif all(len(words[i]) == 1 for i in letters):
            word = "".join(words[i] for i in letters)
            spelled = True
            exact = self._opt_out_at([word], 0)
            if exact is not None:
                return Classification(Intent.OPT_OUT, False, exact)
        else:
            return None
        if not FUZZY_MIN_LETTERS <= len(word) <= _FUZZY_MAX_LETTERS:
            return None
        if self._opt_in.at([word], 0) or self._help.at([word], 0):
            return None
        found = self._typo.get(word)
        if found is None and word.startswith(self._stem_typos):
            found = word
        if found is not None:
            return Classification(Intent.OPT_OUT, not spelled, found)
        collapsed = _collapse(word)
        found = self._collapsed.get(collapsed)
        if found is None and self._collapsed_stem.match(collapsed):
            found = word
        if found is None:
            return None
        return Classification(Intent.OPT_OUT, False, found)


def _shown(word: str, stem: str) -> str:
    """The word found, as the keyword to show — or its stem when the word is absurdly long."""
    return word if len(word) <= _FUZZY_MAX_LETTERS else stem


_DEFAULT = Classifier()


def classify(text: str) -> Classification:
    """Classify ``text`` with the built-in keywords only (see the module docstring)."""
    return _DEFAULT.classify(text)
