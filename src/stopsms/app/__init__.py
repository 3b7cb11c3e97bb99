"""The application layer: what every interface stands on (the CLI now; API, web, workers next).

- :mod:`.application`: :class:`App`, one per process — the database opened once (migrated at
  start-up when behind, or by ``stopsms migrate``), transactions and read-only connections,
  the acting account and user, the provider wired from its URL.
- :mod:`.principals`: an API key turned into who acts (account, role), its last use noted.
- :mod:`.results`: the JSON form of every result, as ``--json`` prints it (and the API will).

Interfaces import this layer; it imports the engine and the services below it, never an
interface (``make lint``: the import-linter contract ``layers``).
"""

from stopsms.app.application import App, DatabaseFailed, Migrated, NoProvider, provider_rate

__all__ = ["App", "DatabaseFailed", "Migrated", "NoProvider", "provider_rate"]
