r"""Bulk writes on PostgreSQL without one foreign-key trigger call per row, where the role may.

PostgreSQL checks a foreign key by a trigger per inserted row: a query on the parent through
the server's SPI, which locks the parent row ``FOR KEY SHARE``. Measured (``EXPLAIN ANALYZE``
of the 1,000,000-row ``--list --consent`` import, 940,000 contacts, load 11–14 on 2 cores):
78.6 s of the import's 128.8 s of merges were these calls — 12.6 s for ``contacts.account_id``,
14.3 s and 21.3 s for the ledger's two keys, 17.8 s and 12.6 s for the list's — five per
contact, each proving what the statement already knows (it read or wrote every parent in the
same transaction). SQLite's preparation switches its checks off the same way
(``parents_known`` in ``services/campaigns/preparation_sets.py``).

:func:`parents_held` does the checks' work once per statement instead of once per row:

1. it locks the parents the rows name by a constant — the account, the list, the campaign —
   ``FOR KEY SHARE``, as the checks would (a concurrent delete of one waits for our commit);
2. it sets ``session_replication_role = replica`` for the bulk statements (``SET LOCAL``:
   the transaction's, reset on leaving the block, and by the rollback of a failed one). In
   that role PostgreSQL fires no ordinary trigger — the foreign-key checks included; this
   schema has no trigger of its own on the tables written;
3. the caller's statements must make the other parents certain themselves: every row they
   write names only rows they inserted or updated in the transaction (locked by it), or rows
   they lock as they read them (``FOR KEY SHARE`` in their ``SELECT``).

Setting the role needs a superuser, or (PostgreSQL 15 and later) the grant
``GRANT SET ON PARAMETER session_replication_role TO <role>`` (docs/deploy.md). Without it the
block changes nothing and the checks run, as before: the same rows, slower. Other backends:
nothing is done (SQLite checks a key by an index look-up in the same process).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from sqlalchemy import Connection

__all__ = ["may_hold_parents", "parents_held"]

_INFO_KEY = "stopsms_may_set_replication_role"
#: The parent tables a bulk write may lock (the names go into SQL).
_PARENTS = frozenset({"accounts", "lists", "campaigns"})


def may_hold_parents(connection: Connection) -> bool:
    """Whether this PostgreSQL role may set ``session_replication_role`` (asked once per
    database connection: a superuser, or PostgreSQL 15+'s ``SET`` privilege on it)."""
    if connection.dialect.name != "postgresql":
        return False
    info = connection.connection.info
    if _INFO_KEY not in info:
        allowed = bool(
            connection.exec_driver_sql(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).scalar()
        )
        version = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one())
        if not allowed and version >= 150_000:
            allowed = bool(
                connection.exec_driver_sql(
                    "SELECT has_parameter_privilege('session_replication_role', 'SET')"
                ).scalar()
            )
        info[_INFO_KEY] = allowed
    return bool(info[_INFO_KEY])


@contextmanager
def parents_held(
    connection: Connection, parents: Sequence[tuple[str, int | None]]
) -> Iterator[bool]:
    """Lock ``parents`` (``(table, id)``; ``None`` ids skipped) ``FOR KEY SHARE`` and write
    without per-row trigger calls inside the block; yields whether it did (module doc).

    Yields ``False`` and changes nothing when the backend is not PostgreSQL or the role may
    not set ``session_replication_role``: the per-row checks then run as usual.
    """
    if not may_hold_parents(connection):
        yield False
        return
    for table, key in parents:
        if table not in _PARENTS:
            raise ValueError(f"not a parent table of a bulk write: {table}")
        if key is not None:
            connection.exec_driver_sql(
                f"SELECT 1 FROM {table} WHERE id = %(id)s FOR KEY SHARE", {"id": key}
            )
    connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
    try:
        yield True
    except BaseException:
        # The transaction is failed (then its rollback resets the role) or the caller goes on
        # after a savepoint: reset it where the connection still can.
        with suppress(Exception):  # a failed transaction: its rollback resets it
            connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
        raise
    connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
