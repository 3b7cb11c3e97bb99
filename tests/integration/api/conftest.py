"""The API's fixtures: a server on ``database`` (SQLite and PostgreSQL), two accounts, keys.

The routes run on the server's worker threads, so the database is a committed one (the test
takes ``database_url``: see ``tests/integration/conftest.py``). Requests go through
Starlette's ``TestClient`` (real HTTP semantics over ASGI, no socket); the end-to-end test
starts ``stopsms serve`` for real (``tests/e2e/test_serve.py``).

The server's clock is a :class:`~stopsms.clock.FakeClock` on a Tuesday at 10:00 in Paris,
inside every legal window, unless a test moves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from stopsms.api.limits import Limits
from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.server import create_server
from stopsms.services.access.keys import create_key
from stopsms.services.access.roles import Role
from stopsms.services.accounts.accounts import create_account
from tests.builders import ready_account

#: Tuesday 1 December 2026, 10:00 in Paris.
OPEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
#: The same Tuesday, 23:00 in Paris: marketing is held.
NIGHT = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
#: Limits no test reaches (the rate-limit tests build their own server).
UNLIMITED = Limits(per_key=0, per_ip=0)


@dataclass(frozen=True)
class Keys:
    owner: str
    editor: str
    viewer: str
    other: str  # the owner of another account


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPEN)


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = App(Settings(database_url=database_url), actor="test")
    yield application
    application.close()


@pytest.fixture
def keys(app: App) -> Keys:
    """``shop`` (validated, sender MaBoutique, domain shop.fr, 1,000 credits) with a key of
    each role, and ``rival`` with an owner key."""
    with app.transaction() as connection:
        create_account(connection, "shop", now=OPEN)
        ready_account(connection, "shop", now=OPEN, domains=["shop.fr"])
        create_account(connection, "rival", now=OPEN)
        ready_account(connection, "rival", now=OPEN)
        made = {
            role: create_key(connection, "shop", role.value, role, actor="test", now=OPEN).key
            for role in Role
        }
        other = create_key(connection, "rival", "owner", Role.OWNER, actor="test", now=OPEN)
    return Keys(made[Role.OWNER], made[Role.EDITOR], made[Role.VIEWER], other.key)


@pytest.fixture
def client(app: App, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_server(app, limits=UNLIMITED, clock=clock)) as test_client:
        yield test_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
