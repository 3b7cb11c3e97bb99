"""An account ("licence") as the domain sees it: its settings and the rules read from them.

:class:`Account` is the stored record of one account (balance as of the read) with the rules
that follow from its settings alone: its STOP mention style (:meth:`Account.mention_style`, the
one place a :class:`~stopsms.domain.mention.MentionStyle` is built from an account), its
mention and its STOP confirmation text. :class:`PriceTable` is its price per SMS part by
region. Reading, creating and changing accounts (and checking new settings, which refuses with
the services' :class:`~stopsms.errors.InvalidInput`) are use cases:
:mod:`stopsms.services.accounts.accounts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from stopsms.domain.mention import MentionStyle
from stopsms.domain.unsubscribe import hosted_link

__all__ = ["Account", "PriceTable"]


@dataclass(frozen=True, slots=True)
class Account:
    """One account, as stored (balance as of the read)."""

    id: int
    name: str
    type: str
    validated: bool
    shortcode: str
    mention_format: str
    mention_enabled: bool
    unsubscribe_url: str | None
    optout_scope: str
    window_policy: str | None
    brand: str
    confirmation_text: str
    balance_millicredits: int
    alert_threshold_millicredits: int
    created_at: datetime
    #: IANA name: the zone its pages show times in and an offset-less schedule is read in.
    time_zone: str = "Europe/Paris"

    @property
    def zone(self) -> ZoneInfo:
        """The account's time zone (its name was checked when set)."""
        return ZoneInfo(self.time_zone)

    def mention_style(self, public_url: str | None = None) -> MentionStyle:
        """The account's STOP mention formats: the one place a :class:`MentionStyle` is built
        from an account (its shortcode mention, and its unsubscribe link).

        The link: the account's own ``unsubscribe_url`` when it has one; else, when the
        installation has a ``public_url`` (``STOPSMS_PUBLIC_URL``), the hosted page with the
        placeholder token (:func:`~stopsms.domain.unsubscribe.hosted_link`; preparation gives
        each message its own); else the placeholder link, which never leaves. An account
        chooses the hosted page by clearing its own URL."""
        if self.unsubscribe_url:
            url = self.unsubscribe_url
        elif public_url:
            url = hosted_link(public_url)
        else:
            return MentionStyle(format=self.mention_format, shortcode=self.shortcode)
        return MentionStyle(
            format=self.mention_format, shortcode=self.shortcode, unsubscribe_url=url
        )

    def hosted_page(self, public_url: str | None) -> bool:
        """Whether this account's link mention is the hosted page (tokens per message)."""
        return not self.unsubscribe_url and bool(public_url)

    @property
    def mention(self) -> str:
        """The STOP mention of this account, e.g. ``STOP 36034`` (filled as every message's)."""
        return self.mention_style().shortcode_mention()

    @property
    def confirmation(self) -> str:
        """The STOP confirmation text, brand filled in."""
        return self.confirmation_text.format(brand=self.brand)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Price of one SMS part by region: exact region, else the account's ``*``, else default."""

    by_region: dict[str, int]
    fallback_millicredits: int

    def per_part(self, region: str | None) -> int:
        if region is not None and region in self.by_region:
            return self.by_region[region]
        return self.fallback_millicredits
