"""The PostgreSQL server of the tests: where it is, and databases of one session or one test.

The server comes from ``STOPSMS_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). If it cannot be reached the PostgreSQL
tests FAIL — in CI (``CI=true``) always; elsewhere they are skipped only when
``STOPSMS_SKIP_POSTGRES=1`` is set explicitly. Every database made here has a unique name
(``stopsms_<kind>_<pid>_<hex>``), so parallel runs never collide, and is dropped after use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

POSTGRES_URL = os.environ.get(
    "STOPSMS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SKIP_POSTGRES = not IN_CI and os.environ.get("STOPSMS_SKIP_POSTGRES") == "1"


def admin_url() -> URL:
    """The server's URL, with the driver stopsms runs on."""
    return make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")


@contextmanager
def new_database(kind: str) -> Iterator[str]:
    """An empty database (no schema) on the server; yields its URL, drops it after."""
    if SKIP_POSTGRES:
        pytest.skip("STOPSMS_SKIP_POSTGRES=1: PostgreSQL tests skipped on request")
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    name = f"stopsms_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any failure to reach the server is a failure, never a skip
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is required at {admin_url().render_as_string()}"
            f" ({exc.__class__.__name__}: {exc}); set STOPSMS_SKIP_POSTGRES=1 to skip it"
            " outside CI",
            pytrace=False,
        )
    try:
        yield admin_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
