"""Sender IDs (rule 9): which "from" an SMS may show.

Three kinds of sender:

- **alphanumeric** (an "OADC" such as ``MaBoutique``): 3–11 characters, letters A–Z / a–z and
  digits only, at least one letter. Recipients cannot reply to it, so its messages carry the
  shortcode mention for STOP.
- **shortcode**: 3–8 digits (French shortcodes are 5: ``36034``). Accepted as a sender because
  it is what an unvalidated account falls back to and what a STOP reply goes to.
- **long number**: an international number, ``+`` then 8–15 digits (E.164), e.g. a virtual
  mobile number that can receive replies.

Refused unless the account holds a written authorisation for that sender
(``authorised=True``):

- **generic** senders ("SMS Info", ``INFO``, ``SMS``, ``NOREPLY``, ``TEST``…): they identify no
  one and are banned by the French operators (seed ``004_…``);
- **protected brands** (banks, public services, carriers… the usual smishing disguises) and
  anything that resembles one: the name is compared after folding case, removing separators and
  undoing digit-for-letter look-alikes (``AME1I`` → ``AMELI``), and a long brand found inside a
  longer sender counts (``AmeliInfo``).

An account that is not validated cannot choose its sender at all: whatever it asks for is
replaced by its default shortcode (:func:`effective_sender`).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

from stopsms.domain.errors import InvalidSender

__all__ = [
    "GENERIC_SENDERS",
    "PROTECTED_BRANDS",
    "SenderId",
    "SenderKind",
    "effective_sender",
    "generic_name",
    "parse_sender",
    "protected_brand",
]


class SenderKind(enum.Enum):
    ALPHANUMERIC = "alphanumeric"
    SHORTCODE = "shortcode"
    LONG_NUMBER = "long_number"


@dataclass(frozen=True, slots=True)
class SenderId:
    """A sender that passed rule 9. ``value`` is what goes on the wire."""

    value: str
    kind: SenderKind

    @property
    def numeric(self) -> bool:
        """Whether recipients can reply to it (STOP by SMS)."""
        return self.kind is not SenderKind.ALPHANUMERIC


#: Senders that say nothing about who sends (compared case- and separator-insensitively).
GENERIC_SENDERS = frozenset(
    {
        "SMS",
        "SMSINFO",
        "SMSINFOS",
        "INFO",
        "INFOS",
        "INFOSMS",
        "INFORMATION",
        "NOREPLY",
        "DONOTREPLY",
        "NEPASREPONDRE",
        "TEST",
        "TESTSMS",
        "ALERT",
        "ALERTE",
        "ALERTES",
        "ALERTSMS",
        "MESSAGE",
        "MESSAGES",
        "NOTIF",
        "NOTIFICATION",
        "SERVICE",
        "SERVICES",
        "SERVICECLIENT",
        "CLIENT",
        "CONTACT",
        "PROMO",
        "PROMOS",
        "OFFRE",
        "OFFRES",
        "BONPLAN",
        "MOBILE",
        "ADMIN",
        "SUPPORT",
        "VERIFY",
        "VERIFICATION",
        "SECURITE",
        "SECURITY",
        "CODE",
        "OTP",
        "BANK",
        "BANQUE",
        "LIVRAISON",
        "DELIVERY",
        "COLIS",
        "PARCEL",
        "AVIS",
        "RAPPEL",
    }
)

#: Brands smishing hides behind (seed ``004_…``: CPF, Ameli/CPAM, banks, Amazon, Chronopost…).
#: Not exhaustive: operators keep the real list; this one catches the obvious disguises.
PROTECTED_BRANDS = frozenset(
    {
        "AMELI",
        "CPAM",
        "CPF",
        "MONCOMPTEFORMATION",
        "CAF",
        "URSSAF",
        "IMPOTS",
        "DGFIP",
        "ANTAI",
        "ANTS",
        "GOUV",
        "FRANCETRAVAIL",
        "POLEEMPLOI",
        "POLICE",
        "GENDARMERIE",
        "LAPOSTE",
        "COLISSIMO",
        "CHRONOPOST",
        "DHL",
        "UPS",
        "FEDEX",
        "MONDIALRELAY",
        "AMAZON",
        "PAYPAL",
        "APPLE",
        "GOOGLE",
        "MICROSOFT",
        "NETFLIX",
        "VINTED",
        "LEBONCOIN",
        "ORANGE",
        "SFR",
        "BOUYGUES",
        "FREE",
        "EDF",
        "ENGIE",
        "BNP",
        "BNPPARIBAS",
        "SOCGEN",
        "SOCIETEGENERALE",
        "CREDITAGRICOLE",
        "CREDITMUTUEL",
        "LCL",
        "CIC",
        "BOURSORAMA",
        "BANQUEPOPULAIRE",
        "CAISSEEPARGNE",
        "HELLOBANK",
        "REVOLUT",
        "N26",
        "VISA",
        "MASTERCARD",
        "SNCF",
        "OUIGO",
        "CARTEVITALE",
        "ASSURANCEMALADIE",
    }
)

# Brands this long or longer count when found anywhere inside a longer sender ("AmeliInfo");
# shorter ones only when the rest is a generic word ("CPAMInfo", "SMSCAF"), so "Freedom" or
# "Cicada" are not mistaken for FREE or CIC.
_CONTAINMENT_MIN = 5
_AFFIXES = GENERIC_SENDERS | {"FR", "FRANCE", "SA", "SAS", "PRO", "ONLINE", "APP"}
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "3": "E", "4": "A", "5": "S", "7": "T", "8": "B"})
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]{3,11}")
_SHORTCODE = re.compile(r"[0-9]{3,8}")
_LONG_NUMBER = re.compile(r"\+[1-9][0-9]{7,14}")


def _fold(value: str) -> str:
    """Upper-case ASCII letters and digits only: ``"Sms-Info"`` → ``"SMSINFO"``."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).upper()


def generic_name(value: str) -> bool:
    """Whether ``value`` is a generic sender ("SMS Info", ``NOREPLY``…)."""
    return _fold(value) in GENERIC_SENDERS


def protected_brand(value: str) -> str | None:
    """The protected brand ``value`` is or resembles, if any."""
    folded = _fold(value)
    candidates = {folded, folded.translate(_LOOKALIKES), folded.replace("1", "L")}
    for candidate in candidates:
        if candidate in PROTECTED_BRANDS:
            return candidate
    for brand in PROTECTED_BRANDS:
        for candidate in candidates:
            if len(brand) >= _CONTAINMENT_MIN:
                if brand in candidate:
                    return brand
            elif (candidate.startswith(brand) and candidate[len(brand) :] in _AFFIXES) or (
                candidate.endswith(brand) and candidate[: -len(brand)] in _AFFIXES
            ):
                return brand
    return None


def parse_sender(value: str, *, authorised: bool = False) -> SenderId:
    """Check ``value`` against rule 9 and return it with its kind, or raise :class:`InvalidSender`.

    ``authorised``: the account holds a written authorisation to use this sender, which lifts
    the generic and protected-brand refusals (never the format rules).
    """
    stripped = value.strip()
    if not stripped:
        raise InvalidSender(value, "empty")
    if _LONG_NUMBER.fullmatch(stripped):
        return SenderId(stripped, SenderKind.LONG_NUMBER)
    if _SHORTCODE.fullmatch(stripped):
        return SenderId(stripped, SenderKind.SHORTCODE)
    if not authorised and generic_name(stripped):
        raise InvalidSender(value, "too generic to identify the sender (refused by operators)")
    if stripped.isdigit() or stripped.startswith("+"):
        raise InvalidSender(
            value, "a numeric sender is a 3–8 digit shortcode or +E.164 (8–15 digits)"
        )
    if not _ALPHANUMERIC.fullmatch(stripped):
        raise InvalidSender(
            value, "3 to 11 letters (A–Z, no accents) or digits, no spaces or punctuation"
        )
    if not authorised:
        brand = protected_brand(stripped)
        if brand is not None:
            raise InvalidSender(
                value, f"resembles the protected brand {brand} (needs an authorisation)"
            )
    return SenderId(stripped, SenderKind.ALPHANUMERIC)


def effective_sender(
    requested: str | None,
    *,
    validated: bool,
    allowed: Collection[str],
    shortcode: str,
) -> str:
    """The sender a message actually leaves with (rule 9).

    - no sender asked, or an unvalidated account: the account's default shortcode;
    - the shortcode itself is always allowed;
    - otherwise the sender must be on the account's list ``allowed`` (exact match, after
      trimming spaces), else :class:`InvalidSender` — an unknown sender is an error, never a
      silent substitution.
    """
    if requested is None or not requested.strip() or not validated:
        return shortcode
    wanted = requested.strip()
    if wanted == shortcode or wanted in allowed:
        return wanted
    raise InvalidSender(requested, "not on the account's list of senders", unlisted=True)
