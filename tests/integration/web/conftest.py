"""The customer area's accounts for the blacklist, credits, replies and settings pages.

``shop`` (marketing) with an owner, an editor and a viewer and a draft campaign; ``alerts``
(notification) also owned by shop's owner; ``rival`` with its own owner and one of each
record a page acts on by id (an API key, a webhook endpoint and a delivery, an uncertain
opt-out), so every route can be tried with another account's ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stopsms.api.limits import Limits
from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.server import create_server
from stopsms.services.access.keys import create_key
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, find_user, set_role
from stopsms.services.accounts.accounts import create_account, get_account
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.optouts.optouts import record_optout
from stopsms.services.webhooks.endpoints import add_endpoint
from stopsms.services.webhooks.events import record_event
from stopsms.store import tables as t
from tests.builders import add_contacts, ready_account

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass(frozen=True, slots=True)
class Rival:
    """The ids of another account's records."""

    key_id: int
    endpoint_id: int
    delivery_id: int
    optout_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class World:
    app: App
    campaign_id: int
    rival: Rival


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    application = App(
        Settings(database_url=database_url, webhooks_allow_private=True), actor="test"
    )
    with application.transaction() as connection:
        for name in ("shop", "alerts", "rival"):
            create_account(connection, name, now=NOW)
        ready_account(connection, "shop", now=NOW)
        ready_account(connection, "alerts", now=NOW, type="notification")
        ready_account(connection, "rival", now=NOW)
        people = [{"phone_e164": "+33612345678"}, {"phone_e164": "+33612345679"}]
        add_contacts(connection, "clients", people, now=NOW, account="shop")
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes",
            sender=None,
            clock=FakeClock(NOW),
        ).campaign
        for email, account, role in (
            ("owner@shop.fr", "shop", Role.OWNER),
            ("editor@shop.fr", "shop", Role.EDITOR),
            ("viewer@shop.fr", "shop", Role.VIEWER),
            ("owner@rival.fr", "rival", Role.OWNER),
        ):
            create_user(
                connection, email, PASSWORD, account=account, role=role, actor="test", now=NOW
            )
        set_role(connection, "owner@shop.fr", "alerts", Role.OWNER, actor="test", now=NOW)
        rival = get_account(connection, "rival")
        key = create_key(connection, rival, "rival key", Role.EDITOR, actor="test", now=NOW)
        endpoint = add_endpoint(
            connection, rival.id, "http://127.0.0.1:9/hook", ["*"], NOW, allow_private=True
        )
        record_event(connection, rival.id, "credits.low", {"n": 1}, NOW)
        delivery_id = (
            connection.execute(
                t.webhook_deliveries.select().where(t.webhook_deliveries.c.account_id == rival.id)
            )
            .one()
            .id
        )
        optout = record_optout(
            connection, rival, "+33699999999", source="keyword", detail="merci stop", uncertain=True
        ).optout
        user_id = find_user(connection, "owner@rival.fr")
        assert user_id is not None
        ids = Rival(key.api_key.id, endpoint.id, delivery_id, optout.id, user_id)
    yield World(application, campaign.id, ids)
    application.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_server(world.app, limits=Limits(per_key=0, per_ip=0))) as test_client:
        yield test_client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def sign_in(client: TestClient, email: str, account: str | None = None) -> str:
    """Sign ``email`` in (acting in ``account`` when given); returns a form value to post."""
    client.cookies.clear()
    page = client.get("/login")
    answer: Response = client.post(
        "/login",
        data={"csrf": csrf(page.text), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    home = client.get("/")
    if account is not None:
        client.post("/account", data={"csrf": csrf(home.text), "account": account})
        home = client.get("/")
    return csrf(home.text)
