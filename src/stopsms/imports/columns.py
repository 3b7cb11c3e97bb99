"""Which column of a contact file is the phone number, the first name, the company…

Headers are compared in a canonical form (accents off, case folded, punctuation as spaces:
``Téléphone portable`` → ``telephone portable``), first against a list of usual French and
English names, then by their words (``N° de portable`` → a phone column). Columns nobody
recognises are kept as custom fields under their own header. ``COLUMN=FIELD`` overrides
(the column map) win over recognition: ``FIELD`` is a standard field or one of its names
(``mobile``, ``prénom``…), ``ignore``, ``custom:NAME`` for a custom field called ``NAME``
whatever it is (``Nom=custom:Nom`` keeps a column named like a standard field as a custom
one), or any other name for a custom field. ``COLUMN`` is a header or ``#N``, the N-th
column (what a form sends: two columns may share a header).

When several columns look like phone numbers, the most mobile-like wins (``portable`` over
``téléphone`` over ``numéro``); a column marked as a landline or fax (``téléphone fixe``) is
never taken for the phone. The other candidates are kept as custom fields and said so in
:attr:`ColumnPlan.notes`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from stopsms.errors import Fix, ServiceError

__all__ = [
    "CUSTOM_PREFIX",
    "IGNORE",
    "ColumnError",
    "ColumnPlan",
    "Field",
    "canonical",
    "field_for",
    "headerless_plan",
    "parse_overrides",
    "recognise",
]


class Field(StrEnum):
    """The standard contact fields an import fills."""

    PHONE = "phone"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    EMAIL = "email"
    COMPANY = "company"


IGNORE = "ignore"
#: A column map's target forcing a custom field of the name that follows.
CUSTOM_PREFIX = "custom:"
_IGNORE_NAMES = frozenset({"ignore", "skip", "none", "-", "ignorer"})


class ColumnError(ServiceError):
    """The columns of a file cannot be used (no phone column, a column map naming nothing…)."""


_EXACT: dict[str, Field] = {}
for _field, _names in {
    Field.PHONE: (
        "mobile portable telephone tel tele phone numero num number msisdn gsm cellulaire cell "
        "cellphone cellular mobilephone phonenumber telephonenumber mobilenumber cellnumber "
        "numerodetelephone numerotelephone numerodetel numerotel numeromobile numeroportable "
        "numerodeportable numerodemobile numerogsm telportable telmobile telephoneportable "
        "telephonemobile ntel ntelephone nportable nmobile notel nodetelephone "
        "destinataire recipient contactnumber smartphone"
    ),
    Field.FIRST_NAME: (
        "prenom prenoms firstname first givenname forename prenomclient prenomcontact "
        "prenomduclient clientfirstname contactfirstname"
    ),
    Field.LAST_NAME: (
        "nom lastname last surname familyname nomdefamille nomdusage nomclient nomcontact "
        "nomduclient clientlastname contactlastname patronyme"
    ),
    Field.EMAIL: (
        "email emails mail courriel adresseemail adressemail adressecourriel emailaddress "
        "mailaddress adresseelectronique emailclient mailclient emailcontact"
    ),
    Field.COMPANY: (
        "societe entreprise company companyname organisation organization organisme "
        "raisonsociale compagnie etablissement enseigne business firm nomsociete "
        "nomdelasociete nomentreprise nomdelentreprise employeur employer"
    ),
}.items():
    for _name in _names.split():
        _EXACT[_name] = _field

_MOBILE_WORDS = frozenset(
    {"mobile", "portable", "gsm", "cellulaire", "cell", "cellphone", "msisdn"}
)
_PHONE_WORDS = frozenset({"telephone", "phone", "tel", "tele", "telefon", "telefono"})
_NUMBER_WORDS = frozenset({"numero", "num", "number"})
#: Words saying a column is not a mobile number (a landline, a consent flag, a date…).
_NOT_PHONE = frozenset(
    {"fixe", "fix", "fax", "landline", "home", "domicile", "optin", "opt", "consentement",
     "consent", "date", "statut", "status"}
)  # fmt: skip
#: Words turning "numéro" into some other number (customer, order, account…).
_OTHER_NUMBER = frozenset(
    {"client", "commande", "order", "compte", "account", "siret", "siren", "tva", "vat",
     "carte", "card", "rue", "voie", "postal", "fidelite", "facture", "invoice", "id"}
)  # fmt: skip
_NOT_OTHER = frozenset(
    {"optin", "opt", "consentement", "consent", "date", "statut", "status", "complet", "full",
     "newsletter", "valide", "valid"}
)  # fmt: skip
_COMPANY_WORDS = frozenset(
    {"societe", "entreprise", "company", "organisation", "organization", "compagnie", "employeur"}
)
_EMAIL_WORDS = frozenset({"email", "mail", "courriel"})
_WORD = re.compile(r"[a-z0-9]+")


def canonical(name: str) -> str:
    """``name`` without accents, case folded, punctuation turned to single spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_WORD.findall(plain.replace("°", "o")))


def _phone_rank(words: Sequence[str]) -> int:
    """How mobile-like a phone header is (3 mobile, 2 phone, 1 number), 0 when not a phone."""
    found = set(words)
    if found & _NOT_PHONE:
        return 0
    if found & _MOBILE_WORDS:
        return 3
    if found & _PHONE_WORDS:
        return 2
    if (
        len(words) <= 3
        and found & _NUMBER_WORDS
        and not found & _OTHER_NUMBER
        and (len(words) == 1 or {"de", "du", "n", "no"} & found)
    ):
        return 1
    return 0


def field_for(name: str) -> tuple[Field, int] | None:
    """The standard field a header names and, for phones, its rank (higher is more mobile)."""
    words = canonical(name).split()
    if not words:
        return None
    compact = "".join(words)
    exact = _EXACT.get(compact)
    if exact is Field.PHONE:
        return Field.PHONE, max(_phone_rank(words), 1) if compact not in _MOBILE_WORDS else 3
    if exact is not None:
        return exact, 0
    if len(words) > 5:
        return None
    found = set(words)
    rank = _phone_rank(words)
    if rank:
        return Field.PHONE, rank
    if found & _NOT_OTHER:
        return None
    if found & _COMPANY_WORDS or {"raison", "sociale"} <= found:
        return Field.COMPANY, 0
    if found & _EMAIL_WORDS or "e mail" in " ".join(words):
        return Field.EMAIL, 0
    if "prenom" in found or "firstname" in found or {"first", "name"} <= found:
        return Field.FIRST_NAME, 0
    if found & {"nom", "lastname", "surname"} or {"last", "name"} <= found:
        return Field.LAST_NAME, 0
    return None


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """What each column of a file becomes.

    ``fields`` maps each standard field found to its column index (the phone is always
    there); ``custom`` lists ``(name, index)`` of the custom fields; ``ignored`` the indexes
    mapped to ``ignore``; ``notes`` says what a person may want to check.
    """

    headers: tuple[str, ...]
    fields: Mapping[Field, int]
    custom: tuple[tuple[str, int], ...]
    ignored: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    has_header: bool = True

    @property
    def phone(self) -> int:
        return self.fields[Field.PHONE]

    @property
    def width(self) -> int:
        """Columns a row must have for every used index to exist."""
        used = [*self.fields.values(), *(i for _, i in self.custom)]
        return max(used) + 1

    def describe(self) -> dict[str, str]:
        """``{field: header}`` for a summary (custom fields as ``custom:NAME``)."""
        out = {f.value: self._label(i) for f, i in self.fields.items()}
        out.update({f"custom:{name}": self._label(i) for name, i in self.custom})
        return out

    def _label(self, index: int) -> str:
        return self.headers[index] if self.has_header else f"column {index + 1}"


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``["Tel 2=phone", "Ville=city"]`` → ``{"Tel 2": "phone", "Ville": "city"}``."""
    overrides: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise ColumnError(
                f"column map {item!r}: expected COLUMN=FIELD, e.g. 'GSM client=phone'"
            )
        overrides[column.strip()] = target.strip()
    return overrides


def _target_field(target: str) -> Field | None:
    """The standard field a column map's target names (``first_name``, ``prénom``, ``mobile``…)."""
    if target in {f.value for f in Field}:
        return Field(target)
    return _EXACT.get(canonical(target).replace(" ", ""))


def _find_column(headers: Sequence[str], column: str) -> int | None:
    stripped = [h.strip() for h in headers]
    if column in stripped:
        return stripped.index(column)
    wanted = canonical(column)
    for i, header in enumerate(headers):
        if wanted and canonical(header) == wanted:
            return i
    digits = column.removeprefix("#")
    if digits.isdigit() and 1 <= int(digits) <= len(headers):
        return int(digits) - 1
    return None


def _custom_names(
    headers: Sequence[str], indexes: Iterable[int], taken: set[str]
) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for i in indexes:
        base = " ".join(headers[i].split()) or f"column_{i + 1}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        out.append((name, i))
    return out


def recognise(headers: Sequence[str], overrides: Mapping[str, str] | None = None) -> ColumnPlan:
    """The :class:`ColumnPlan` of a header row, ``overrides`` (the column map) applied first.

    Raises :class:`ColumnError` when an override names no column, or no column is a phone
    (the message lists the columns found).
    """
    fields: dict[Field, int] = {}
    forced_custom: dict[int, str] = {}
    ignored: set[int] = set()
    notes: list[str] = []
    for column, target in (overrides or {}).items():
        index = _find_column(headers, column)
        if index is None:
            raise ColumnError(
                f"column map {column}={target}: no column {column!r} (columns: {_listing(headers)})"
            )
        if canonical(target) in _IGNORE_NAMES or target.strip() == "-":
            ignored.add(index)
            continue
        if target.startswith(CUSTOM_PREFIX):
            forced_custom[index] = target.removeprefix(CUSTOM_PREFIX).strip() or (
                f"column_{index + 1}"
            )
            continue
        known = _target_field(target)
        if known is not None:
            fields[known] = index
        else:
            forced_custom[index] = target
    claimed = set(fields.values()) | ignored | set(forced_custom)
    candidates: dict[Field, list[tuple[int, int]]] = {}
    for i, header in enumerate(headers):
        if i in claimed:
            continue
        found = field_for(header)
        if found is not None and found[0] not in fields:
            candidates.setdefault(found[0], []).append((found[1], i))
    for wanted, found_columns in candidates.items():
        # Highest rank wins; among equals the leftmost.
        best = max(found_columns, key=lambda c: (c[0], -c[1]))
        fields[wanted] = best[1]
        others = [i for _, i in found_columns if i != best[1]]
        if others:
            notes.append(
                f"{len(others) + 1} columns look like {wanted.value}: using {headers[best[1]]!r}, "
                f"keeping {', '.join(repr(headers[i]) for i in others)} as custom fields "
                f"(map COLUMN={wanted.value} to choose)"
            )
    if Field.PHONE not in fields:
        raise ColumnError(
            f"no phone column among {_listing(headers)}; name it 'mobile' or 'téléphone', "
            "or say which column is the phone",
            fix=Fix("map_column", (("field", Field.PHONE.value),)),
        )
    used = set(fields.values()) | ignored
    taken: set[str] = set()
    custom = [(name, i) for i, name in sorted(forced_custom.items())]
    taken.update(name for name, _ in custom)
    rest = [i for i in range(len(headers)) if i not in used and i not in forced_custom]
    custom.extend(_custom_names(headers, rest, taken))
    custom.sort(key=lambda c: c[1])
    return ColumnPlan(
        headers=tuple(headers),
        fields=dict(sorted(fields.items(), key=lambda f: f[1])),
        custom=tuple(custom),
        ignored=tuple(sorted(ignored)),
        notes=tuple(notes),
    )


def headerless_plan(width: int, phone: int) -> ColumnPlan:
    """The plan of a file without a header: the phone at ``phone``, the rest custom."""
    headers = tuple(f"column_{i + 1}" for i in range(width))
    custom = tuple((headers[i], i) for i in range(width) if i != phone)
    return ColumnPlan(headers=headers, fields={Field.PHONE: phone}, custom=custom, has_header=False)


def _listing(headers: Sequence[str]) -> str:
    shown = [
        repr(h.strip()) if h.strip() else f"(blank column {i + 1})"
        for i, h in enumerate(headers[:20])
    ]
    more = f" and {len(headers) - 20} more" if len(headers) > 20 else ""
    return ", ".join(shown) + more if shown else "(none)"
