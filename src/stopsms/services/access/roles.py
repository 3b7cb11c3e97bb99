"""Roles in one account: ``owner`` (everything, settings and keys included), ``editor``
(sends, campaigns, contacts), ``viewer`` (reads only)."""

from __future__ import annotations

from enum import Enum

from stopsms.errors import InvalidInput

__all__ = ["Role", "parse_role"]


class Role(Enum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        """Higher may do more: viewer 0, editor 1, owner 2."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def parse_role(value: str, field: str = "role") -> Role:
    """The role named ``value`` (any case), else :class:`InvalidInput` naming ``field``."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput(field, value, "one of owner, editor, viewer") from None
