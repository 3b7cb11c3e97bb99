"""``/v1/optouts``, ``/v1/senders``, ``/v1/domains``, ``/v1/credits``, ``/v1/replies``: the
registry over HTTP (removal needs evidence and is audited), the review queue, the account's
senders and domains (owner), what comes in and what sending costs."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.app import App
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.integration.api.conftest import OPEN, Keys, bearer


def test_add_check_list_export_and_remove_with_evidence(
    client: TestClient, keys: Keys, app: App
) -> None:
    added = client.post(
        "/v1/optouts",
        json={"number": "06 12 34 56 78", "reason": "asked by phone"},
        headers=bearer(keys.editor),
    )
    assert added.status_code == 201, added.text
    assert (added.json()["phone_e164"], added.json()["created"]) == ("+33612345678", True)
    check = client.get(
        "/v1/optouts/check", params={"number": "+33612345678"}, headers=bearer(keys.viewer)
    ).json()
    assert check["suppressed"] is True
    for n in ("0600000001", "0600000002"):
        client.post("/v1/optouts", json={"number": n}, headers=bearer(keys.editor))
    first = client.get("/v1/optouts", params={"limit": 2}, headers=bearer(keys.viewer)).json()
    assert (len(first["optouts"]), first["next_cursor"]) == (2, 2)
    last = client.get(
        "/v1/optouts", params={"limit": 2, "cursor": 2}, headers=bearer(keys.viewer)
    ).json()
    assert [o["phone_e164"] for o in last["optouts"]] == ["+33612345678"]
    assert last["next_cursor"] is None
    csv = client.get("/v1/optouts/export", headers=bearer(keys.viewer))
    assert csv.headers["content-type"].startswith("text/csv")
    assert "+33612345678" in csv.text

    no_evidence = client.post(
        "/v1/optouts/removals", json={"number": "0612345678"}, headers=bearer(keys.owner)
    )
    assert (no_evidence.status_code, no_evidence.json()["field"]) == (422, "evidence")
    blank = client.post(
        "/v1/optouts/removals",
        json={"number": "0612345678", "evidence": "   "},
        headers=bearer(keys.owner),
    )
    assert (blank.status_code, blank.json()["field"]) == (422, "evidence")
    editor = client.post(
        "/v1/optouts/removals",
        json={"number": "0612345678", "evidence": "SMS START"},
        headers=bearer(keys.editor),
    )
    assert editor.status_code == 403
    removed = client.post(
        "/v1/optouts/removals",
        json={"number": "0612345678", "evidence": "her SMS 'START' of 1 Dec"},
        headers=bearer(keys.owner),
    )
    assert removed.status_code == 200, removed.text
    check = client.get(
        "/v1/optouts/check", params={"number": "0612345678"}, headers=bearer(keys.viewer)
    ).json()
    assert check["suppressed"] is False
    with app.reader() as connection:
        audited = connection.execute(
            select(t.audit_log.c.action, t.audit_log.c.detail).where(
                t.audit_log.c.action == "optout.removed"
            )
        ).one()
    assert audited.detail["evidence"] == "her SMS 'START' of 1 Dec"


def test_bad_optouts_name_their_field(client: TestClient, keys: Keys) -> None:
    cases = [
        ({"number": "12"}, "number"),
        ({"number": 612345678}, "number"),
        ({"number": "0" * 41}, "number"),
        ({"number": "0612345678", "reason": "r" * 501}, "reason"),
        ({"number": "0612345678", "why": "x"}, "why"),
    ]
    for body, field in cases:
        answer = client.post("/v1/optouts", json=body, headers=bearer(keys.editor))
        assert (answer.status_code, answer.json().get("field")) == (422, field), answer.text
    assert client.get("/v1/optouts", headers=bearer(keys.viewer)).json()["optouts"] == []
    assert client.post("/v1/optouts", json={"number": "0612345678"}).status_code == 401


def test_the_review_queue_is_approved_or_dismissed(
    client: TestClient, keys: Keys, app: App
) -> None:
    with app.transaction() as connection:
        ids = [
            record_optout(
                connection, "shop", n, source="keyword", detail="arrête", uncertain=True, now=OPEN
            ).optout.id
            for n in ("0611111111", "0622222222")
        ]
    queue = client.get("/v1/optouts/review", headers=bearer(keys.viewer)).json()["optouts"]
    assert [o["id"] for o in queue] == ids
    rival = client.post(f"/v1/optouts/{ids[0]}/approve", headers=bearer(keys.other))
    assert rival.status_code == 404
    approved = client.post(f"/v1/optouts/{ids[0]}/approve", headers=bearer(keys.editor))
    assert approved.json()["active"] is True
    no_reason = client.post(f"/v1/optouts/{ids[1]}/dismiss", json={}, headers=bearer(keys.editor))
    assert (no_reason.status_code, no_reason.json()["field"]) == (422, "evidence")
    dismissed = client.post(
        f"/v1/optouts/{ids[1]}/dismiss",
        json={"evidence": "asked to stop calling, not texting"},
        headers=bearer(keys.editor),
    )
    assert dismissed.json()["active"] is False
    assert client.get("/v1/optouts/review", headers=bearer(keys.viewer)).json()["optouts"] == []


def test_senders_and_domains_are_the_owners_and_audited(
    client: TestClient, keys: Keys, app: App
) -> None:
    editor = client.post("/v1/senders", json={"sender": "Promo"}, headers=bearer(keys.editor))
    assert editor.status_code == 403
    added = client.post("/v1/senders", json={"sender": "Promo2"}, headers=bearer(keys.owner))
    assert added.status_code == 201, added.text
    bad = client.post("/v1/senders", json={"sender": "A"}, headers=bearer(keys.owner))
    assert bad.status_code == 422
    senders = client.get("/v1/senders", headers=bearer(keys.viewer)).json()["senders"]
    assert {s["sender"] for s in senders} == {"MaBoutique", "Promo2"}
    assert client.delete("/v1/senders/Promo2", headers=bearer(keys.owner)).status_code == 204
    assert client.delete("/v1/senders/Promo2", headers=bearer(keys.owner)).status_code == 404
    domain = client.post("/v1/domains", json={"domain": "Boutique.FR"}, headers=bearer(keys.owner))
    assert domain.json() == {"domain": "boutique.fr"}
    assert client.get("/v1/domains", headers=bearer(keys.viewer)).json() == {
        "domains": ["boutique.fr", "shop.fr"]
    }
    assert client.delete("/v1/domains/boutique.fr", headers=bearer(keys.owner)).status_code == 204
    with app.reader() as connection:
        actions = connection.execute(select(t.audit_log.c.action).order_by(t.audit_log.c.id))
        logged = [a for a in actions.scalars() if a.startswith(("sender.", "domain."))]
    assert logged == ["sender.added", "sender.removed", "domain.added", "domain.removed"]


def test_credits_and_replies_are_read(client: TestClient, keys: Keys) -> None:
    credits = client.get("/v1/credits", headers=bearer(keys.viewer)).json()
    assert credits["balance_millicredits"] == 1_000_000
    assert [e["delta_millicredits"] for e in credits["ledger"]] == [1_000_000]
    assert client.get("/v1/replies", headers=bearer(keys.viewer)).json() == {"replies": []}
    bad = client.get("/v1/credits", params={"limit": "lots"}, headers=bearer(keys.viewer))
    assert (bad.status_code, bad.json()["field"]) == (422, "limit")
