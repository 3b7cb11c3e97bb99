"""Alembic migrations, shipped in the package; applied by ``store.database.migrate``.

:data:`HEAD` names the newest one, so that opening a database can tell whether it is current
without importing Alembic (``tests/integration/test_migrations.py`` checks it against the
migration files: a new migration must update it).
"""

#: The revision of the newest migration in ``versions/``.
HEAD = "0015"


def ours(name: str | None, type_: str, _parents: object) -> bool:
    """Whether Alembic's comparison covers this object (its ``include_name``): not
    procrastinate's tables, which migration 0008 creates on PostgreSQL from procrastinate's own
    schema file and our metadata does not describe."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))
