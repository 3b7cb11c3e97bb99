"""Contacts: importing a file, the contacts and their lists, consent, erasure (GDPR).

:func:`.importing.import_contacts` is the one entry point of an import; it picks its path
itself — :mod:`.columns` (Arrow, ranges staged by a thread) when that path is exact, else
:mod:`.rows` (the csv module, chunk by chunk) — and writes through :mod:`.writers`, side by
side with :mod:`.pipeline` (a forked worker, a staging thread). :mod:`.contacts` reads, exports
and groups contacts into lists; :mod:`.consent` is the ledger of why an account may send
marketing; :mod:`.erasure` forgets a person and keeps their STOP. Uses accounts and opt-outs.
"""
