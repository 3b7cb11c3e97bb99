"""Every ``/v1`` route, taken from the server's route table: no key is 401, another account's
key gets 404 for this account's resources and never a byte of its data.

The routes come from the OpenAPI document the server builds from its route table, so a new
route is checked as soon as it exists; a path parameter this test has no resource for fails
the test with a sentence saying where to add one.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.server import create_server
from stopsms.services.accounts.accounts import add_sender
from stopsms.services.webhooks.deliveries import list_deliveries
from stopsms.services.webhooks.endpoints import add_endpoint
from stopsms.services.webhooks.events import record_event
from stopsms.store import tables as t
from tests.builders import add_contacts, draft_campaign
from tests.integration.api.conftest import OPEN, UNLIMITED, Keys, bearer

#: A body each route with one accepts (the rival's own request: a valid one, so the route
#: really runs); a route with a body and no entry here is sent ``{}``.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/messages"): {"to": "0699887766", "text": "Bonjour", "type": "informative"},
    ("post", "/v1/preview"): {"text": "Bonjour", "to": "0699887766"},
    ("patch", "/v1/account"): {"brand": "Rival"},
    ("post", "/v1/apikeys"): {"name": "rival's"},
    ("post", "/v1/lists"): {"name": "rival's"},
    ("post", "/v1/contacts/erasures"): {"number": "0699887766"},
    ("post", "/v1/contacts/consents"): {"number": "0699887766", "kind": "opt_in", "source": "x"},
    ("post", "/v1/campaigns"): {"list": "clients", "text": "Promo", "sender": "MaBoutique"},
    ("post", "/v1/campaigns/{campaign_id}/schedule"): {"at": "2026-12-02T10:00:00+01:00"},
    ("post", "/v1/optouts"): {"number": "0699887766"},
    ("post", "/v1/optouts/removals"): {"number": "0699887766", "evidence": "asked"},
    ("post", "/v1/optouts/{optout_id}/dismiss"): {"evidence": "not a STOP"},
    ("post", "/v1/senders"): {"sender": "Rival"},
    ("post", "/v1/domains"): {"domain": "rival.fr"},
    ("post", "/v1/webhooks"): {"url": "http://127.0.0.1:9/rival", "events": ["*"]},
    ("patch", "/v1/webhooks/{endpoint_id}"): {"enabled": False},
    ("patch", "/v1/campaigns/{campaign_id}"): {"name": "rival's"},
    ("patch", "/v1/contacts/{contact_id}"): {"last_name": "Rival"},
    ("post", "/v1/credits/transfers"): {"target": "shop", "credits": "1"},
}
#: Query strings a route needs to run at all.
QUERIES: dict[tuple[str, str], str] = {
    ("get", "/v1/window"): "?to=0699887766",
    ("get", "/v1/contacts"): "?number=0699887766",
    ("get", "/v1/contacts/consents"): "?number=0699887766",
    ("get", "/v1/optouts/check"): "?number=0699887766",
}


def _routes(app: App, clock: FakeClock) -> list[tuple[str, str]]:
    schema = create_server(app, limits=UNLIMITED, clock=clock).openapi()
    return [
        (method, path)
        for path, operations in schema["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    ]


def test_the_route_table_is_read(app: App, clock: FakeClock) -> None:
    """The routes below are the real ones (a broken discovery would check nothing)."""
    found = _routes(app, clock)
    assert ("post", "/v1/messages") in found
    assert ("delete", "/v1/apikeys/{key_id}") in found
    assert len(found) >= 8


def test_every_route_needs_a_key_and_shows_nothing_of_another_account(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    sent = client.post(
        "/v1/messages",
        json={"to": "06 12 34 56 78", "text": "Secret du shop", "sender": "MaBoutique"},
        headers=bearer(keys.editor),
    ).json()
    listed = client.get("/v1/apikeys", headers=bearer(keys.owner)).json()
    shop_key = next(k for k in listed if k["role"] == "viewer")
    with app.transaction() as connection:
        add_contacts(
            connection, "clients", [{"phone_e164": "+33612345678"}], now=OPEN, account="shop"
        )
        campaign = draft_campaign(connection, "clients", "Secret du shop", now=OPEN, account="shop")
        add_sender(connection, "shop", "ShopOnly", now=OPEN)
        shop_id = connection.execute(select(t.accounts.c.id).where(t.accounts.c.name == "shop"))
        account_id = shop_id.scalar_one()
        hook = add_endpoint(
            connection, account_id, "http://127.0.0.1:9/shop", ["*"], OPEN, allow_private=True
        )
        record_event(connection, account_id, "optout.created", {"secret": "Secret du shop"}, OPEN)
        delivery = list_deliveries(connection, account_id)[0]
        contact = connection.execute(
            select(t.contacts.c.id).where(t.contacts.c.phone_e164 == "+33612345678")
        ).scalar_one()
    editor = bearer(keys.editor)
    job = client.post(f"/v1/campaigns/{campaign}/exports", headers=editor).json()
    optout = client.post("/v1/optouts", json={"number": "0612345678"}, headers=editor).json()
    resources = {
        "message_id": sent["id"],
        "key_id": shop_key["id"],
        "campaign_id": campaign,
        "job_id": job["id"],
        "role": "output",
        "optout_id": optout["id"],
        "sender": "ShopOnly",
        "domain": "shop.fr",
        "endpoint_id": hook.id,
        "delivery_id": delivery.id,
        "contact_id": contact,
        "field": "first_name",
    }
    shop_data = [
        "+33612345678",
        "Secret du shop",
        '"shop"',
        shop_key["prefix"],
        "127.0.0.1:9/shop",
    ]
    for method, path in _routes(app, clock):
        names = re.findall(r"{(\w+)}", path)
        missing = [n for n in names if n not in resources]
        if missing:
            pytest.fail(f"{path}: add a resource of this account for {missing[0]} in this test")
        url = path.format(**resources) + QUERIES.get((method, path), "")
        body = BODIES.get((method, path), {}) if method in ("post", "put", "patch") else None
        for headers, code in (({}, "missing_api_key"), (bearer("ssk_nope"), "invalid_api_key")):
            answer = client.request(method, url, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["code"] == code
            assert answer.headers["www-authenticate"] == "Bearer"
        answer = client.request(method, url, json=body, headers=bearer(keys.other))
        assert answer.status_code < 500, (method, path, answer.text)
        if names:
            assert answer.status_code == 404, (method, path, answer.text)
        for value in shop_data:
            assert value not in answer.text, (method, path, value)
    # The rival's DELETE did not revoke the shop's key, nor remove its sender or domain.
    still = client.get("/v1/messages", headers=bearer(keys.viewer))
    assert still.status_code == 200
    assert "ShopOnly" in client.get("/v1/senders", headers=bearer(keys.viewer)).text
    assert "shop.fr" in client.get("/v1/domains", headers=bearer(keys.viewer)).text
    # Nor did it change the shop's endpoint, campaign or contact.
    mine = client.get(f"/v1/webhooks/{hook.id}", headers=bearer(keys.viewer)).json()
    assert mine["enabled"] is True
    with app.reader() as connection:
        name = connection.execute(select(t.contacts.c.last_name).where(t.contacts.c.id == contact))
        assert name.scalar_one() is None
