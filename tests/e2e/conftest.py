"""The end-to-end tests run on SQLite *and* PostgreSQL.

``database_url`` is the URL of a database of the test's own, not yet created (SQLite: a file
in ``tmp_path``) or empty (PostgreSQL: a new database on the server of
:mod:`tests.postgres`, dropped after the test); :func:`tests.e2e.support.database` opens it
as every command does (migrations, seed). A database of its own per test, because the code
under test opens its own connections — the worker's thread, ``stopsms`` subprocesses — and
each test is seconds long: creating a database (0.2 s) is small beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import new_database


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of the test's own database, on each backend (module doc)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stopsms.db'}"
    else:
        with new_database("e2e") as url:
            yield url
