"""Alembic migrations, shipped in the package; applied by ``store.database.migrate``.

:data:`HEAD` names the newest one, so that opening a database can tell whether it is current
without importing Alembic (``tests/integration/test_migrations.py`` checks it against the
migration files: a new migration must update it).
"""

#: The revision of the newest migration in ``versions/``.
HEAD = "0004"
