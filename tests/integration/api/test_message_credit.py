"""A burst of ``POST /v1/messages`` cannot overdraw the balance: each is checked against the
balance minus what the account's direct messages already queued will cost, on SQLite and
PostgreSQL, with the requests truly concurrent (threads through one server)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from stopsms.app import App
from stopsms.store import tables as t
from tests.integration.api.conftest import Keys, bearer

BURST = 30
AFFORDABLE = 7


def test_a_concurrent_burst_queues_only_what_the_balance_covers(
    client: TestClient, keys: Keys, app: App
) -> None:
    headers = bearer(keys.editor)
    first = client.post(
        "/v1/messages",
        json={"to": "0612000000", "text": "Code 1234", "type": "informative"},
        headers=headers,
    )
    assert first.status_code == 202, first.text
    with app.reader() as connection:
        price = connection.execute(select(t.messages.c.price_millicredits)).scalar_one()
    assert price > 0
    with app.transaction() as connection:  # the first is queued: room for AFFORDABLE more
        connection.execute(
            update(t.accounts)
            .where(t.accounts.c.name == "shop")
            .values(balance_millicredits=price * (AFFORDABLE + 1))
        )

    def send(n: int) -> tuple[int, str | None]:
        answer = client.post(
            "/v1/messages",
            json={"to": f"06120{n:05d}", "text": "Code 1234", "type": "informative"},
            headers=headers,
        )
        return answer.status_code, answer.json().get("code")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(send, range(1, BURST + 1)))
    accepted = [a for a in answers if a[0] == 202]
    refused = [a for a in answers if a[0] != 202]
    assert len(accepted) == AFFORDABLE, answers
    assert set(refused) == {(422, "insufficient_credit")}
    with app.reader() as connection:
        queued = connection.execute(
            select(func.count(), func.sum(t.messages.c.price_millicredits))
        ).one()
        balance = connection.execute(
            select(t.accounts.c.balance_millicredits).where(t.accounts.c.name == "shop")
        ).scalar_one()
    assert tuple(queued) == (AFFORDABLE + 1, price * (AFFORDABLE + 1))
    assert balance - queued[1] == 0
    detail = client.post(
        "/v1/messages",
        json={"to": "0612999999", "text": "Code 1234", "type": "informative"},
        headers=headers,
    ).json()["detail"]
    assert "queued" in detail
