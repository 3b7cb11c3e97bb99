"""``/v1/messages``: queued in the outbox with the final text, held at night, refused with a
stable code when it could never leave, found again by its Idempotency-Key."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.domain.unsubscribe import is_token
from stopsms.server import create_server
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.integration.api.conftest import NIGHT, OPEN, UNLIMITED, Keys, bearer

TO = "06 12 34 56 78"


def _send(client: TestClient, key: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"to": TO, "text": "Soldes -30% ce week-end", "sender": "MaBoutique", **body}
    return client.post("/v1/messages", json=payload, headers=bearer(key) | (headers or {}))


def _outbox(app: App) -> list[Any]:
    with app.reader() as connection:
        return list(connection.execute(select(t.messages)).mappings())


def test_a_message_is_queued_with_its_mention_parts_and_cost(
    client: TestClient, keys: Keys, app: App
) -> None:
    answer = _send(client, keys.editor)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["text"] == "Soldes -30% ce week-end STOP 36034"
    assert (body["to"], body["encoding"], body["parts"]) == ("+33612345678", "GSM-7", 1)
    assert (body["status"], body["cost"], body["scheduled_for"]) == ("pending", "1", None)
    [row] = _outbox(app)
    assert (row["id"], row["status"], row["campaign_id"]) == (body["id"], "pending", None)
    again = client.get(f"/v1/messages/{body['id']}", headers=bearer(keys.viewer))
    assert again.json() == body


def test_marketing_at_night_is_held_until_the_window_opens_or_refused_without_hold(
    client: TestClient, keys: Keys, clock: FakeClock, app: App
) -> None:
    clock.set(NIGHT)
    held = _send(client, keys.editor)
    assert held.status_code == 202
    assert held.json()["status"] == "held"
    assert held.json()["scheduled_for"].startswith("2026-12-02T")
    refused = _send(client, keys.editor, hold=False)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "outside_sending_hours"
    informative = _send(client, keys.editor, type="informative", text="Code 1234", hold=False)
    assert informative.json()["status"] == "pending"
    assert len(_outbox(app)) == 2


def test_refusals_carry_stable_codes_and_write_nothing(
    client: TestClient, keys: Keys, app: App
) -> None:
    with app.transaction() as connection:
        record_optout(connection, "shop", "06 99 99 99 99", source="manual", now=OPEN)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"to": "06 99 99 99 99"}, "recipient_opted_out", "to"),
        ({"sender": "AUTRE"}, "sender_not_allowed", "sender"),
        ({"text": "Voir https://evil.example/x"}, "url_not_allowed", "text"),
        ({"to": "12"}, "invalid_field", "to"),
        ({"type": "spam"}, "invalid_field", "type"),
        ({"text": 5}, "invalid_field", "text"),
        ({"colour": "red"}, "invalid_field", "colour"),
    ]
    for change, code, field in cases:
        answer = _send(client, keys.editor, **change)
        problem = answer.json()
        assert answer.status_code == 422, (change, problem)
        assert (problem["code"], problem.get("field")) == (code, field), change
        assert problem["type"] == f"urn:stopsms:problem:{code}"
        assert problem["status"] == 422
        assert problem["title"]
        assert problem["detail"]
    assert _outbox(app) == []


def test_no_credit_is_refused(client: TestClient, keys: Keys, app: App) -> None:
    with app.transaction() as connection:
        connection.execute(
            t.accounts.update().where(t.accounts.c.name == "shop").values(balance_millicredits=500)
        )
    answer = _send(client, keys.editor)
    assert (answer.status_code, answer.json()["code"]) == (422, "insufficient_credit")


def test_the_same_idempotency_key_queues_one_message(
    client: TestClient, keys: Keys, app: App
) -> None:
    key = {"Idempotency-Key": "order-1234"}
    first = _send(client, keys.editor, key)
    second = _send(client, keys.editor, key)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json() == second.json()
    other = _send(client, keys.editor, key, to="06 11 11 11 11")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert other.json()["field"] == "Idempotency-Key"
    # Another account's same key is its own.
    rival = _send(client, keys.other, key)
    assert rival.status_code == 202
    with app.reader() as connection:
        assert connection.execute(select(func.count()).select_from(t.messages)).scalar() == 2


def test_list_filters_and_pages(client: TestClient, keys: Keys) -> None:
    ids = [_send(client, keys.editor, to=f"06 12 34 56 7{i}").json()["id"] for i in range(3)]
    _send(client, keys.other)
    page = client.get("/v1/messages?limit=2", headers=bearer(keys.viewer)).json()
    assert [m["id"] for m in page["messages"]] == [ids[2], ids[1]]
    rest = client.get(
        f"/v1/messages?limit=2&cursor={page['next_cursor']}", headers=bearer(keys.viewer)
    ).json()
    assert ([m["id"] for m in rest["messages"]], rest["next_cursor"]) == ([ids[0]], None)
    found = client.get("/v1/messages?to=0612345671&status=pending", headers=bearer(keys.viewer))
    assert [m["id"] for m in found.json()["messages"]] == [ids[1]]
    bad = client.get("/v1/messages?status=lost", headers=bearer(keys.viewer))
    assert (bad.status_code, bad.json()["field"]) == (422, "status")


def test_a_viewer_cannot_send(client: TestClient, keys: Keys) -> None:
    answer = _send(client, keys.viewer)
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_a_message_abroad_links_to_the_hosted_page_with_its_own_token(
    app: App, keys: Keys, clock: FakeClock
) -> None:
    hosted = App(replace(app.settings, public_url="https://sms.shop.fr"), actor="test")
    try:
        with TestClient(create_server(hosted, limits=UNLIMITED, clock=clock)) as client:
            answer = _send(client, keys.editor, to="+447911123456")
            assert answer.status_code == 202, answer.text
            text = answer.json()["text"]
            link = re.search(r"https://sms\.shop\.fr/u/(\S+)$", text)
            assert link is not None, text
            assert is_token(link.group(1))  # never the placeholder, which cannot leave
            [row] = _outbox(hosted)
            assert (row["unsubscribe_token"], row["text"]) == (link.group(1), text)
    finally:
        hosted.close()
