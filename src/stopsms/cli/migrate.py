"""``stopsms migrate``: bring the database to this version's schema, explicitly.

Every command already does it on first use when the database is behind (one read tells), so
this is for an upgrade done on purpose — before starting workers, or with the output checked.
"""

from __future__ import annotations

from stopsms.cli.console import console, escape, handles_errors
from stopsms.cli.context import application

__all__ = ["migrate"]


@handles_errors
def migrate() -> None:
    """Apply the database migrations this version needs (commands also do it when needed)."""
    done = application().migrate()
    if done.before == done.after:
        console.print(f"{escape(done.database)}: already at revision {done.after}")
    else:
        console.print(
            f"{escape(done.database)}: migrated from revision {done.before or '(empty)'}"
            f" to {done.after}"
        )
