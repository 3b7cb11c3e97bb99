"""A campaign's length in SMS parts, checked at create, preview and send.

The thresholds and their reasons are in :mod:`stopsms.domain.parts`.

The parts are those of the composed message for the text as written — its fields empty, with
the STOP mention of a French recipient (the mention every marketing message carries): a lower
bound of what any recipient receives. A field value can still lengthen one recipient's message:
preparation (and the preview) exclude such a recipient as ``too_long``
(:mod:`stopsms.services.campaigns.decisions`), and the dispatcher never submits a message above the
protocol's 255 parts.
"""

from __future__ import annotations

from stopsms.domain.compose import ComposedMessage
from stopsms.domain.parts import check_max_parts, parts_warning
from stopsms.domain.template import Template
from stopsms.services.accounts.accounts import Account
from stopsms.services.campaigns.campaigns import Campaign
from stopsms.services.campaigns.decisions import composer_for

__all__ = ["check_length", "shortest_message"]


def shortest_message(campaign: Campaign, account: Account) -> ComposedMessage:
    """The campaign's message with every field empty, for a French recipient."""
    template = Template.parse(campaign.body, None)
    return composer_for(campaign, account, template).compose({}, "FR")


def check_length(campaign: Campaign, account: Account, max_parts: int) -> str | None:
    """Refuse (:class:`~stopsms.domain.parts.TooManyParts`) a campaign longer than
    ``max_parts`` parts; return the warning for one above the warning threshold, or ``None``."""
    message = shortest_message(campaign, account)
    check_max_parts(message.segments, max_parts, len(message.text))
    return parts_warning(message.segments)
