"""Alembic environment: runs on the connection handed over by ``stopsms.store.database``.

Migrations are applied programmatically (``migrate(engine)``); there is no ``alembic.ini``.
For a developer generating a new revision::

    python -c "from stopsms.store.database import autogenerate_revision as r; r(URL, MSG)"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from stopsms.store.migrations import ours
from stopsms.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - misuse
    raise RuntimeError("stopsms migrations run through stopsms.store.database.migrate(engine)")


context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite needs table rebuilds for most ALTERs; batch mode does them.
    render_as_batch=connection.dialect.name == "sqlite",
    # Our SQLite engine begins real transactions, so DDL is transactional on both backends.
    transactional_ddl=True,
    compare_type=True,
    include_name=ours,
)
with context.begin_transaction():
    context.run_migrations()
