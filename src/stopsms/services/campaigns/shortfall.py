"""A campaign the credits cannot pay in full is refused before its first message (rule 12).

Preparation decides ``insufficient_credit`` as a strict prefix in list order
(:mod:`stopsms.services.campaigns.decisions`). Sending the paid prefix silently would give a user
who topped up too little a campaign that reached some of the list and not the rest without being
asked, so every path that starts a campaign — ``campaign send``, ``campaign resume`` and the
worker starting a scheduled campaign — refuses it with :class:`CreditShortfall`: the cost, what
the account can pay, the shortfall and the command that tops it up. A partial send happens only
when asked for (``allow_partial``); its recipients left for credit are decided again when the
campaign resumes (:func:`stopsms.services.campaigns.preparation.recheck_credit`).

The amount to add is rounded up to the credit's precision (a millicredit) and written without
thousands separators, so it can be pasted into ``stopsms credits add`` as is.
"""

from __future__ import annotations

from stopsms.errors import Fix, ServiceError
from stopsms.services.accounts.credits import format_credits
from stopsms.services.campaigns.decisions import PreparationSummary

__all__ = ["CreditShortfall", "plain_credits", "shortfall_of"]


def plain_credits(millicredits: int) -> str:
    """12,500 → ``"12.5"``, 1,000,000 → ``"1000"``: what ``credits add`` parses back."""
    whole, milli = divmod(millicredits, 1000)
    return f"{whole}" + (f".{milli:03d}".rstrip("0") if milli else "")


class CreditShortfall(ServiceError):
    """The credits available cannot pay every ready message of a campaign."""

    def __init__(self, campaign_id: int, account: str, summary: PreparationSummary) -> None:
        self.campaign_id = campaign_id
        self.account = account
        unpaid = summary.excluded.get("insufficient_credit", 0)
        self.recipients = summary.ready + unpaid
        self.payable = summary.ready
        self.cost_millicredits = summary.credits_millicredits + summary.unpaid_millicredits
        self.available_millicredits = summary.available_millicredits or 0
        self.short_millicredits = max(0, self.cost_millicredits - self.available_millicredits)
        super().__init__(
            f"campaign {campaign_id} costs {format_credits(self.cost_millicredits)} credits for "
            f"{self.recipients:,} messages but account {account!r} has "
            f"{format_credits(self.available_millicredits)} credits available (its balance less"
            f" what other campaigns still have to send): {format_credits(self.short_millicredits)}"
            f" credits short, nothing sent. Top up the account by "
            f"{plain_credits(self.short_millicredits)} credits and run it again, or send to the"
            f" first {self.payable:,} only (allow_partial)",
            fix=Fix(
                "add_credits",
                (("amount", plain_credits(self.short_millicredits)), ("account", account)),
            ),
        )


def shortfall_of(
    campaign_id: int, account: str, summary: PreparationSummary
) -> CreditShortfall | None:
    """The refusal for ``summary``, or ``None`` when the credits pay every ready message."""
    if not summary.excluded.get("insufficient_credit"):
        return None
    return CreditShortfall(campaign_id, account, summary)
