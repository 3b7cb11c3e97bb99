"""Every test runs with its own stopsms home: the suite never touches a user's database.

``STOPSMS_HOME`` points to a session temporary folder and ``STOPSMS_DATABASE_URL`` is unset,
so a command that falls back on the default database (``config.default_database_path``)
writes there, never to ``~/.local/share/stopsms``; tests that need a database set its URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _stopsms_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOPSMS_HOME", str(tmp_path_factory.mktemp("stopsms-home")))
        patch.delenv("STOPSMS_DATABASE_URL", raising=False)
        yield
