"""Storage: SQLAlchemy Core tables, Alembic migrations, SQLite (WAL) and PostgreSQL engines."""
