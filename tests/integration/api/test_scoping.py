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

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.server import create_server
from tests.integration.api.conftest import UNLIMITED, Keys, bearer

#: A body each route with one accepts (the rival's own request: a valid one, so the route
#: really runs); a route with a body and no entry here is sent ``{}``.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/messages"): {"to": "0699887766", "text": "Bonjour", "type": "informative"},
    ("post", "/v1/preview"): {"text": "Bonjour", "to": "0699887766"},
    ("patch", "/v1/account"): {"brand": "Rival"},
    ("post", "/v1/apikeys"): {"name": "rival's"},
}
#: Query strings a route needs to run at all.
QUERIES: dict[tuple[str, str], str] = {("get", "/v1/window"): "?to=0699887766"}


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
    resources = {"message_id": sent["id"], "key_id": shop_key["id"]}
    shop_data = ["+33612345678", "Secret du shop", '"shop"', shop_key["prefix"]]
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
    # The rival's DELETE did not revoke the shop's key.
    still = client.get("/v1/messages", headers=bearer(keys.viewer))
    assert still.status_code == 200
