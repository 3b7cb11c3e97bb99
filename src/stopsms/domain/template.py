"""Personalisation templates (DESIGN.md rule 11).

Syntax, decided here:

- ``{name}`` is a field: ``{first_name}``, ``{prenom}``, ``{Prénom}``, ``{ nom }`` or a custom
  field ``{code_promo}``. Names are normalised (case, accents, spaces and hyphens → ``_``).
- ``$name`` is a field only for the standard French/English names (``$prenom $nom $email
  $societe``, ``$first_name``…) or a declared custom field; any other ``$word`` is left as
  text, ``$`` being a currency sign too.
- ``{{`` and ``}}`` are literal braces; a lone ``}`` is literal; a ``{`` that opens no
  well-formed field is an error naming it.
- Unknown fields are an error listing every unknown name, unless the caller accepts any custom
  field (``custom_fields=None``). A typo such as ``{prenon}`` must not reach 300,000 people.

Standard fields have canonical names — ``first_name``, ``last_name``, ``email``, ``company``
— and :meth:`Template.render` looks values up by canonical name (then by the name as written).
A missing value renders as the empty string: whether a message with an empty first name is
acceptable is the campaign's decision, and the per-recipient length is computed after render.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from stopsms.domain.errors import DomainError

__all__ = [
    "FIELD_ALIASES",
    "STANDARD_FIELDS",
    "InvalidTemplate",
    "Template",
    "UnknownField",
    "normalise_field_name",
]

STANDARD_FIELDS: Final = ("first_name", "last_name", "email", "company")
FIELD_ALIASES: Final[dict[str, str]] = {
    "prenom": "first_name",
    "firstname": "first_name",
    "first_name": "first_name",
    "nom": "last_name",
    "nom_de_famille": "last_name",
    "lastname": "last_name",
    "last_name": "last_name",
    "email": "email",
    "e_mail": "email",
    "mail": "email",
    "courriel": "email",
    "societe": "company",
    "entreprise": "company",
    "company": "company",
}


class InvalidTemplate(DomainError):
    """A message template is ill-formed; ``fragment`` is the offending piece of text."""

    def __init__(self, fragment: str, reason: str) -> None:
        super().__init__(f"invalid template field {fragment!r}: {reason}")
        self.fragment = fragment
        self.reason = reason


class UnknownField(InvalidTemplate):
    """A template names fields that are neither standard nor declared; all are listed."""

    def __init__(self, names: tuple[str, ...], known: tuple[str, ...]) -> None:
        listed = ", ".join(names)
        DomainError.__init__(
            self, f"unknown template field(s): {listed} (known: {', '.join(known)})"
        )
        self.fragment = listed
        self.reason = "unknown field"
        self.names = names
        self.known = known


_TOKEN: Final = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}|\{|\$([^\W\d]\w*)")
_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*\Z")


def normalise_field_name(name: str) -> str:
    """``" Prénom "`` → ``"prenom"``: lower case, no accents, spaces and hyphens as ``_``."""
    folded = unicodedata.normalize("NFKD", name.strip().lower())
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[\s\-]+", "_", bare)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed message: static ``pieces`` around ``slots`` (one canonical field name each).

    ``len(pieces) == len(slots) + 1``; rendering is ``pieces[0] + v0 + pieces[1] + …``.
    """

    source: str
    pieces: tuple[str, ...]
    slots: tuple[str, ...]
    written: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _format: str = field(default="", repr=False, compare=False)  # printf-style, one %s a slot

    @classmethod
    def parse(cls, text: str, custom_fields: Iterable[str] | None = ()) -> Template:
        """Parse ``text``; ``custom_fields`` are the extra names allowed (``None``: any).

        Raises :class:`InvalidTemplate` for an ill-formed field and :class:`UnknownField`
        listing every unknown name.
        """
        custom = None if custom_fields is None else {normalise_field_name(n) for n in custom_fields}
        pieces: list[str] = []
        slots: list[str] = []
        written: list[str] = []
        unknown: list[str] = []
        current: list[str] = []
        last = 0
        for m in _TOKEN.finditer(text):
            current.append(text[last : m.start()])
            last = m.end()
            token = m.group(0)
            if token in ("{{", "}}"):
                current.append(token[0])
                continue
            if token == "{":
                raise InvalidTemplate(text[m.start() : m.start() + 20], "'{' opens no field")
            dollar = m.group(2)
            if dollar is not None:
                name = normalise_field_name(dollar)
                if name not in FIELD_ALIASES and (custom is None or name not in custom):
                    current.append(token)  # "$5", "$abc": plain text
                    continue
            else:
                name = normalise_field_name(m.group(1))
                if not _NAME.match(name):
                    raise InvalidTemplate(token, "a field name is letters, digits and '_'")
                allowed = name in FIELD_ALIASES or custom is None or name in custom
                if not allowed and name not in unknown:
                    unknown.append(name)
            pieces.append("".join(current))
            current = []
            slots.append(FIELD_ALIASES.get(name, name))
            written.append(name)
        if unknown:
            known = STANDARD_FIELDS + tuple(sorted(custom or ()))
            raise UnknownField(tuple(unknown), known)
        current.append(text[last:])
        pieces.append("".join(current))
        fmt = "%s".join(p.replace("%", "%%") for p in pieces)
        return cls(text, tuple(pieces), tuple(slots), tuple(written), fmt)

    @property
    def fields(self) -> tuple[str, ...]:
        """The distinct canonical field names used, in order of first appearance."""
        return tuple(dict.fromkeys(self.slots))

    @property
    def static_text(self) -> str:
        """The template with every field empty (what a recipient with no values gets)."""
        return "".join(self.pieces)

    def render(self, values: Mapping[str, str]) -> str:
        """The text for one recipient; a missing value renders as ``""``."""
        if not self.slots:
            return self.pieces[0]
        return self._format % tuple(self._value(values, i) for i in range(len(self.slots)))

    def _value(self, values: Mapping[str, str], i: int) -> str:
        """Slot ``i``'s value: by canonical name, else as written (``prenom``), else ``""``."""
        value = values.get(self.slots[i])
        if value is None:
            value = values.get(self.written[i])
        return "" if value is None else value
