"""``/v1/webhooks``: endpoints created, read, changed, rotated and removed by the owner only,
their deliveries paged with every attempt, a delivery replayed; the SSRF rule kept; every
change audited, never a secret in the audit log.

Endpoints point at loopback (the installation allows it here: ``webhooks_allow_private``); no
engine runs in these servers, so nothing is delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.server import create_server
from stopsms.services.webhooks.deliveries import Outcome, claim_due, record_outcomes
from stopsms.services.webhooks.events import record_event
from stopsms.store import tables as t
from tests.integration.api.conftest import OPEN, UNLIMITED, Keys, bearer

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    application = App(
        Settings(database_url=database_url, webhooks_allow_private=True), actor="test"
    )
    yield application
    application.close()


def _create(client: TestClient, keys: Keys, **body: object) -> dict[str, object]:
    answer = client.post(
        "/v1/webhooks",
        json={"url": HOOK, "events": ["optout.created"], **body},
        headers=bearer(keys.owner),
    )
    assert answer.status_code == 201, answer.text
    found: dict[str, object] = answer.json()
    return found


def test_an_endpoint_is_created_with_its_secret_once_then_changed_and_removed(
    client: TestClient, keys: Keys, app: App
) -> None:
    created = _create(client, keys, description="CRM", events=["optout.created", "*"])
    secret = created["secret"]
    assert isinstance(secret, str)
    assert secret.startswith("whsec_")
    assert created["description"] == "CRM"
    assert len(created["events"]) == 8  # type: ignore[arg-type]
    eid = created["id"]
    listed = client.get("/v1/webhooks", headers=bearer(keys.viewer))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()] == [eid]
    assert secret not in listed.text
    one = client.get(f"/v1/webhooks/{eid}", headers=bearer(keys.viewer)).json()
    assert "secret" not in one
    changed = client.patch(
        f"/v1/webhooks/{eid}",
        json={"events": ["message.failed", "optout.created"], "enabled": False},
        headers=bearer(keys.owner),
    ).json()
    assert changed["events"] == ["message.failed", "optout.created"]
    assert changed["enabled"] is False
    assert re.fullmatch(r"disabled by api_key:[0-9a-f]{12}", changed["disabled_reason"])
    again = client.patch(
        f"/v1/webhooks/{eid}", json={"enabled": True, "description": ""}, headers=bearer(keys.owner)
    ).json()
    assert (again["enabled"], again["disabled_at"], again["description"]) == (True, None, None)
    rotated = client.post(f"/v1/webhooks/{eid}/rotate-secret", headers=bearer(keys.owner)).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != secret
    assert rotated["previous_secret_expires_at"] is not None
    with app.reader() as connection:
        row = connection.execute(select(t.webhook_endpoints)).mappings().one()
    assert (row["secret"], row["previous_secret"]) == (rotated["secret"], secret)
    removed = client.delete(f"/v1/webhooks/{eid}", headers=bearer(keys.owner))
    assert removed.status_code == 200
    gone = client.get(f"/v1/webhooks/{eid}", headers=bearer(keys.viewer))
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    with app.reader() as connection:
        audit = connection.execute(
            select(t.audit_log.c.action, t.audit_log.c.detail).order_by(t.audit_log.c.id)
        ).all()
    actions = [a for a, _ in audit if a.startswith("webhook.")]
    assert actions == [
        "webhook.created",
        "webhook.updated",
        "webhook.updated",
        "webhook.secret_rotated",
        "webhook.removed",
    ]
    assert all(secret not in str(d) and rotated["secret"] not in str(d) for _, d in audit)


def test_changes_are_the_owners_and_bad_input_names_its_field(
    client: TestClient, keys: Keys, app: App
) -> None:
    for key in (keys.editor, keys.viewer):
        refused = client.post(
            "/v1/webhooks", json={"url": HOOK, "events": ["*"]}, headers=bearer(key)
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    eid = _create(client, keys)["id"]
    for method, path in (
        ("patch", f"/v1/webhooks/{eid}"),
        ("delete", f"/v1/webhooks/{eid}"),
        ("post", f"/v1/webhooks/{eid}/rotate-secret"),
    ):
        body = {"enabled": False} if method == "patch" else None
        answer = client.request(method, path, json=body, headers=bearer(keys.editor))
        assert answer.status_code == 403, (method, path)
    unknown = client.post(
        "/v1/webhooks",
        json={"url": HOOK, "events": ["message.sent", "nope"]},
        headers=bearer(keys.owner),
    )
    assert (unknown.status_code, unknown.json()["field"]) == (422, "events")
    ftp = client.post(
        "/v1/webhooks",
        json={"url": "ftp://127.0.0.1/x", "events": ["*"]},
        headers=bearer(keys.owner),
    )
    assert (ftp.status_code, ftp.json()["field"]) == (422, "url")
    missing = client.post("/v1/webhooks", json={"url": HOOK}, headers=bearer(keys.owner))
    assert (missing.status_code, missing.json()["field"]) == (422, "events")
    bad_patch = client.patch(
        f"/v1/webhooks/{eid}", json={"events": ["nope"]}, headers=bearer(keys.owner)
    )
    assert (bad_patch.status_code, bad_patch.json()["field"]) == (422, "events")
    with app.reader() as connection:
        assert connection.execute(select(t.webhook_endpoints.c.events)).scalar_one() == (
            "optout.created"
        )


def test_a_private_target_is_refused_unless_the_installation_allows_it(
    database_url: str, keys: Keys, clock: FakeClock
) -> None:
    strict = App(Settings(database_url=database_url), actor="test")
    try:
        with TestClient(create_server(strict, limits=UNLIMITED, clock=clock)) as client:
            for url in (HOOK, "http://10.0.0.8/hook", "http://[::1]/hook"):
                answer = client.post(
                    "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=bearer(keys.owner)
                )
                assert answer.status_code == 422, (url, answer.text)
                assert (answer.json()["code"], answer.json()["field"]) == ("invalid_field", "url")
        with strict.reader() as connection:
            assert connection.execute(select(t.webhook_endpoints.c.id)).first() is None
    finally:
        strict.close()


def test_deliveries_are_paged_with_their_attempts_and_one_is_replayed(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    eid = _create(client, keys)["id"]
    with app.transaction() as connection:
        account_id = connection.execute(
            select(t.accounts.c.id).where(t.accounts.c.name == "shop")
        ).scalar_one()
        for n in range(5):
            assert record_event(connection, account_id, "optout.created", {"n": n}, OPEN)
    with app.transaction() as connection:
        due = claim_due(connection, OPEN + timedelta(seconds=1), 10)
        assert len(due) == 5
        record_outcomes(
            connection,
            [
                Outcome(d.delivery_id, d.token, d.endpoint_id, OPEN, 12, status_code=503)
                for d in due
            ],
        )
    viewer = bearer(keys.viewer)
    first = client.get(f"/v1/webhooks/{eid}/deliveries?limit=2", headers=viewer).json()
    assert len(first["deliveries"]) == 2
    assert first["next_cursor"] is not None
    second = client.get(
        f"/v1/webhooks/{eid}/deliveries?limit=2&before={first['next_cursor']}", headers=viewer
    ).json()
    third = client.get(
        f"/v1/webhooks/{eid}/deliveries?limit=2&before={second['next_cursor']}", headers=viewer
    ).json()
    ids = [d["id"] for page in (first, second, third) for d in page["deliveries"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5
    assert third["next_cursor"] is None
    newest = first["deliveries"][0]
    assert (newest["status"], newest["attempts"], newest["last_status_code"]) == ("pending", 1, 503)
    detail = client.get(f"/v1/webhooks/deliveries/{newest['id']}", headers=viewer).json()
    assert [(a["status_code"], a["latency_ms"]) for a in detail["attempt_log"]] == [(503, 12)]
    forbidden = client.post(
        f"/v1/webhooks/deliveries/{newest['id']}/replay", headers=bearer(keys.editor)
    )
    assert forbidden.status_code == 403
    replayed = client.post(
        f"/v1/webhooks/deliveries/{newest['id']}/replay", headers=bearer(keys.owner)
    ).json()
    assert (replayed["status"], replayed["attempts"]) == ("pending", 0)
    assert replayed["next_attempt_at"] is not None
    with app.transaction() as connection:
        again = claim_due(connection, clock.now(), 10)
    assert [d.delivery_id for d in again] == [newest["id"]]
