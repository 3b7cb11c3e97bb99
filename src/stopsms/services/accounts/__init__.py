"""Accounts: who sends, from which senders and domains, at what price, paid by what credits.

:mod:`.accounts` (the account and what it may do: type, shortcode and mention, senders,
domains, opt-out scope, prices, keywords), :mod:`.credits` (the balance, changed only through
the ledger), :mod:`.names` (the free-text names users give things). Every other feature builds
on accounts; accounts uses none of them.
"""
