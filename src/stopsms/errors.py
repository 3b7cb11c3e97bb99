"""Errors a request is refused with (what the CLI, API and workers catch and show).

Raised by the services and by the layers below them that read what a person gave (the file
readers of :mod:`stopsms.imports`), so this module sits below both: the class a test or an
interface catches is the same wherever the refusal was found.

StopsmsError (stopsms.domain.errors)
 └── ServiceError                a use case refuses the request
      ├── NotFound               a named thing does not exist in this account
      │    └── UnknownAccount    no account has that name
      ├── AlreadyExists          a unique name or value is taken
      ├── InvalidInput           a field value is unusable (names the field and the value)
      ├── EvidenceRequired       a re-subscription without the person's own request on record
      └── UnreadableFile         an import file cannot be read at all (nothing was changed)

Each message is one line that names the offending value and speaks of values and fields
(``rate``, ``sender``, ``shortcode``), never of one interface's flags or commands. What would
let the request through is data, :class:`Fix` (the use case to run and its values), which each
interface words its own way: the CLI as the command to type (:mod:`stopsms.cli.hints`), the
API as the request to send. Errors of one use case that need its own code to be worded live
beside it (``InsufficientCredit`` in :mod:`stopsms.services.accounts.credits`, which formats
amounts).
"""

from __future__ import annotations

from dataclasses import dataclass

from stopsms.domain.errors import StopsmsError

__all__ = [
    "AlreadyExists",
    "EvidenceRequired",
    "Fix",
    "InvalidInput",
    "NotFound",
    "ServiceError",
    "UnknownAccount",
    "UnreadableFile",
]


@dataclass(frozen=True, slots=True)
class Fix:
    """What would let a refused request through: the use case to run (``action``, e.g.
    ``"set_account"``, ``"add_credits"``) and the values to give it, in order (a value in
    capitals, ``NNNNN``, is for the person to fill in)."""

    action: str
    values: tuple[tuple[str, str], ...] = ()

    def value(self, name: str, default: str = "") -> str:
        return dict(self.values).get(name, default)


class ServiceError(StopsmsError):
    """A use case refuses the request (``fix``: what would let it through, if one thing does)."""

    def __init__(self, *args: object, fix: Fix | None = None) -> None:
        super().__init__(*args)
        self.fix = fix


class NotFound(ServiceError):
    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"no {what} {value!r}")
        self.what = what
        self.value = value


class UnknownAccount(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__("account", name)
        self.name = name


class AlreadyExists(ServiceError):
    def __init__(self, what: str, value: object) -> None:
        super().__init__(f"{what} {value!r} already exists")
        self.what = what
        self.value = value


class InvalidInput(ServiceError):
    def __init__(self, field: str, value: object, reason: str, *, fix: Fix | None = None) -> None:
        super().__init__(f"invalid {field} {value!r}: {reason}", fix=fix)
        self.field = field
        self.value = value
        self.reason = reason


class EvidenceRequired(ServiceError):
    def __init__(self, phone: str) -> None:
        super().__init__(
            f"re-subscribing {phone} needs evidence of the person's own request (evidence)"
        )
        self.phone = phone


class UnreadableFile(ServiceError):
    def __init__(self, path: str, reason: str, *, fix: Fix | None = None) -> None:
        super().__init__(f"cannot read {path}: {reason} (nothing was changed)", fix=fix)
        self.path = path
        self.reason = reason
