"""The pure compliance core: rules only, no I/O, no database, no network.

Every interface (CLI, API, workers) reaches these rules through services; nothing in
this package imports from the rest of stopsms except :mod:`stopsms.domain.errors`.
"""
