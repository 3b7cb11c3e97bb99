"""Opt-outs: the registry of who must never be messaged again (rules 3–5), read and written.

:mod:`.optouts` (the registry: record, revoke, check one number), :mod:`.suppression` (many
numbers at once), :mod:`.review` (listings and the review of uncertain records),
:mod:`.files` (blacklist files in, the registry out) and :mod:`.consent` (the registry's side of
the consent ledger: an opt-out withdraws, a re-subscription restores). Uses accounts only.
"""
