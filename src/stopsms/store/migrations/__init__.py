"""Alembic migrations, shipped in the package; applied by ``store.database.migrate``."""
