"""Who may do what in the customer area's use cases: the role check every change makes.

The pages check the role before they call (to answer 403 without reading the form further);
the use cases check it again (:func:`require`), so no interface can forget it: a viewer's
request never reaches a write, whichever page or test calls the use case.
"""

from __future__ import annotations

from stopsms.errors import ServiceError
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role

__all__ = ["NotAllowed", "require"]


class NotAllowed(ServiceError):
    """The acting role may not do this in this account."""

    def __init__(self, who: Principal, needed: Role) -> None:
        super().__init__(
            f"the role {who.role.value} in account {who.account!r} may not do this"
            f" ({needed.value} needed)"
        )
        self.needed = needed


def require(who: Principal, needed: Role) -> None:
    """Raise :class:`NotAllowed` unless ``who``'s role may do what ``needed`` may."""
    if not who.role.allows(needed):
        raise NotAllowed(who, needed)
