"""Campaigns: a text from one sender to one list, from creation to its report.

:mod:`.campaigns` (creation with its checks, the lifecycle commands), :mod:`.stop_mention` and
:mod:`.lengths` (what is refused up front), :mod:`.decisions` (one decision per recipient,
shared by preview and preparation), :func:`.preparation.prepare_campaign` (the one entry point
that writes the outbox; it picks the set-based path of :mod:`.preparation_sets` (both backends) when
that path can decide the campaign, else the loop), :mod:`.shortfall` (credits that cannot pay),
:mod:`.holds` (when held messages leave) and :mod:`.reports` (preview, report, export). Uses
accounts and opt-outs.
"""
