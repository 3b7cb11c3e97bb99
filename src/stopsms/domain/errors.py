"""Errors of the compliance core.

StopsmsError                 root of every error stopsms raises on purpose
 └── DomainError             a rule of the domain refuses the input
      ├── InvalidPhoneNumber     a value is not a usable phone number
      ├── UnknownPolicy          a sending-window policy name is not known
      ├── InvalidSender          a sender ID breaks rule 9
      └── InvalidTransition      a campaign state change the lifecycle forbids

Each carries the offending value so interfaces can name it in one clear line.
"""

from __future__ import annotations


class StopsmsError(Exception):
    """Root of every error stopsms raises on purpose (never a bug)."""


class DomainError(StopsmsError):
    """A rule of the compliance core refuses the input."""


class InvalidPhoneNumber(DomainError):
    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid phone number {value!r}: {reason}")
        self.value = value
        self.reason = reason


class UnknownPolicy(DomainError):
    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown sending-window policy {name!r} (known: {', '.join(known)})")
        self.name = name
        self.known = known


class InvalidSender(DomainError):
    """``unlisted``: a valid sender ID that is not on the account's list (adding it would do)."""

    def __init__(self, value: str, reason: str, *, unlisted: bool = False) -> None:
        super().__init__(f"invalid sender ID {value!r}: {reason}")
        self.value = value
        self.reason = reason
        self.unlisted = unlisted


class InvalidTransition(DomainError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a campaign cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target
