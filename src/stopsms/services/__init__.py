"""Use cases every interface calls (CLI now, API and workers later): plain data in and out.

Grouped by feature, one package each, so that the folder shows the product:

- :mod:`~stopsms.services.accounts`: accounts, their credits, the names users give things;
- :mod:`~stopsms.services.optouts`: the opt-out registry, its files and review;
- :mod:`~stopsms.services.contacts`: contacts and lists, the import, consent, erasure;
- :mod:`~stopsms.services.campaigns`: campaigns, preparation, preview and report;
- :mod:`~stopsms.services.messages`: the outbox, delivery receipts, replies (MO);
- :mod:`~stopsms.services.compliance`: questions about one message, number or reply;
- :mod:`~stopsms.services.exports`: the one CSV dialect of every export.

A feature uses only the features below it (``accounts`` none; ``optouts`` accounts;
``contacts``, ``campaigns`` and ``messages`` those two and not each other), checked by
``lint-imports`` (``pyproject.toml``). Callers import the module, never the package: a
package's ``__init__`` re-exports nothing.
"""
