"""The rest of ``/v1``: a draft campaign edited (and refused once it is not a draft), a parked
campaign resumed as a job, a contact edited with its consent kept in its history, a blacklist
imported as a job with its rejects, credits given to an account of the same owner."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.jobs.kinds import run_job
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user
from stopsms.services.accounts.accounts import create_account
from stopsms.store import tables as t
from tests.builders import add_contacts, ready_account
from tests.integration.api.conftest import OPEN, Keys, bearer

PEOPLE = [{"phone_e164": "+33612345678", "first_name": "Ana"}, {"phone_e164": "+33698765432"}]
DRAFT = {"list": "clients", "text": "Soldes -20%", "sender": "MaBoutique"}


@pytest.fixture
def audience(app: App, keys: Keys) -> None:
    with app.transaction() as connection:
        add_contacts(connection, "clients", PEOPLE, now=OPEN, account="shop")
        add_contacts(connection, "vip", PEOPLE[:1], now=OPEN, account="shop")


def _finished(client: TestClient, app: App, clock: FakeClock, job_id: int, key: str) -> Any:
    """The job once ended: run here, or by the server's in-process runner (SQLite)."""
    run_job(app, job_id, clock)
    for _ in range(100):
        job = client.get(f"/v1/jobs/{job_id}", headers=bearer(key)).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not end")


# -- campaigns -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_a_draft_is_changed_with_the_checks_of_creation(
    client: TestClient, keys: Keys, app: App
) -> None:
    editor = bearer(keys.editor)
    cid = client.post("/v1/campaigns", json=DRAFT, headers=editor).json()["id"]
    changed = client.patch(
        f"/v1/campaigns/{cid}",
        json={"text": "Bonjour $prenom, -30%", "list": "vip", "name": "Hiver"},
        headers=editor,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["text"], body["list"], body["name"]) == (
        "Bonjour $prenom, -30%",
        "vip",
        "Hiver",
    )
    for patch, field in (
        ({"sender": "Inconnu"}, "sender"),
        ({"text": "Voir https://ailleurs.com/promo"}, "text"),
        ({"list": "nulle-part"}, None),
        ({"text": "Bonjour {inconnu}"}, None),
        ({"at": "2020-01-01T10:00:00+01:00"}, None),
        ({"colour": "red"}, "colour"),
    ):
        refused = client.patch(f"/v1/campaigns/{cid}", json=patch, headers=editor)
        assert refused.status_code in (404, 422), (patch, refused.text)
        if field is not None:
            assert refused.json()["field"] == field, (patch, refused.json())
    with app.reader() as connection:
        row = (
            connection.execute(select(t.campaigns).where(t.campaigns.c.id == cid)).mappings().one()
        )
    assert (row["body"], row["sender"], row["status"]) == (
        "Bonjour $prenom, -30%",
        "MaBoutique",
        "draft",
    )
    viewer = client.patch(f"/v1/campaigns/{cid}", json={"name": "x"}, headers=bearer(keys.viewer))
    assert viewer.status_code == 403
    scheduled = client.patch(
        f"/v1/campaigns/{cid}", json={"at": "2026-12-02T10:00:00+01:00"}, headers=editor
    ).json()
    assert scheduled["status"] == "scheduled"
    late = client.patch(f"/v1/campaigns/{cid}", json={"text": "Trop tard"}, headers=editor)
    assert (late.status_code, late.json()["code"], late.json()["field"]) == (
        409,
        "campaign_not_draft",
        "status",
    )


@pytest.mark.usefixtures("audience")
def test_a_parked_campaign_never_prepared_resumes_as_a_job(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    editor = bearer(keys.editor)
    cid = client.post("/v1/campaigns", json=DRAFT, headers=editor).json()["id"]
    with app.transaction() as connection:  # as the schedule check parks one short of credit
        connection.execute(
            update(t.campaigns).where(t.campaigns.c.id == cid).values(status="paused")
        )
    answer = client.post(f"/v1/campaigns/{cid}/resume", headers=editor)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["kind"], job["state"], job["campaign_id"]) == ("campaign_send", "queued", cid)
    twice = client.post(f"/v1/campaigns/{cid}/resume", headers=editor)
    if twice.status_code != 202:  # not yet run by the server's runner
        assert (twice.status_code, twice.json()["code"]) == (409, "send_in_progress")
    done = _finished(client, app, clock, job["id"], keys.viewer)
    assert done["state"] == "succeeded", done
    assert done["result"]["status"] == "sending"
    report = client.get(f"/v1/campaigns/{cid}", headers=bearer(keys.viewer)).json()
    assert (report["campaign"]["status"], report["ready"]) == ("sending", 2)


# -- contacts ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_a_contact_is_edited_and_its_consent_kept_with_its_history(
    client: TestClient, keys: Keys
) -> None:
    editor = bearer(keys.editor)
    found = client.get("/v1/contacts?number=0612345678", headers=editor).json()["contacts"][0]
    cid = found["id"]
    changed = client.patch(
        f"/v1/contacts/{cid}",
        json={
            "last_name": "Lopez",
            "first_name": "",
            "custom": {"Ville": "Lyon", "Code postal": "69001"},
            "consent": {"kind": "opt_in", "source": "shop counter", "evidence": "form 12"},
        },
        headers=editor,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["first_name"], body["last_name"]) == (None, "Lopez")
    assert body["custom"] == {"ville": "Lyon", "code_postal": "69001"}
    assert body["consent"] == "opt_in"
    history = client.get("/v1/contacts/consents?number=0612345678", headers=editor).json()
    assert [e["kind"] for e in history["history"]][-1] == "opt_in"
    cleared = client.delete(f"/v1/contacts/{cid}/fields/ville", headers=editor).json()
    assert cleared["custom"] == {"code_postal": "69001"}
    again = client.delete(f"/v1/contacts/{cid}/fields/ville", headers=editor)
    assert again.status_code == 404
    for patch, field in (
        ({"email": "pas-une-adresse"}, "email"),
        ({"custom": {"consent": "opt_in"}}, "custom.consent"),
        ({"custom": {"9lives": "x"}}, "custom.9lives"),
        ({"phone_e164": "+33611111111"}, "phone_e164"),
        ({"consent": {"kind": "maybe", "source": "x"}}, "consent.kind"),
        ({"last_name": "x" * 1001}, "last_name"),
    ):
        refused = client.patch(f"/v1/contacts/{cid}", json=patch, headers=editor)
        assert refused.status_code == 422, (patch, refused.text)
        assert refused.json()["field"] == field, (patch, refused.json())
    consent_field = client.delete(f"/v1/contacts/{cid}/fields/consent", headers=editor)
    assert (consent_field.status_code, consent_field.json()["field"]) == (422, "field")
    # All or nothing: a bad custom value leaves the good fields of the request unwritten.
    half = client.patch(
        f"/v1/contacts/{cid}", json={"last_name": "Neuf", "email": "nope"}, headers=editor
    )
    assert half.status_code == 422
    now = client.get(f"/v1/contacts/{cid}", headers=bearer(keys.viewer)).json()
    assert now["last_name"] == "Lopez"
    viewer = client.patch(f"/v1/contacts/{cid}", json={"company": "X"}, headers=bearer(keys.viewer))
    assert viewer.status_code == 403


# -- opt-outs ------------------------------------------------------------------------------------


def test_a_blacklist_upload_is_a_job_with_counts_and_rejects_then_exported(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    content = b"numero;motif\n0612345678;client\n06 98 76 54 32;\n0612345678;\nbanane;\n"
    answer = client.post(
        "/v1/optouts/imports",
        files={"file": ("liste.csv", content, "text/csv")},
        headers=bearer(keys.editor),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["kind"] == "optout_import"
    job = _finished(client, app, clock, answer.json()["id"], keys.viewer)
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert (result["rows"], result["added"], result["duplicates"], result["rejected"]) == (
        4,
        2,
        1,
        1,
    )
    assert job["files"] == ["rejects"]
    rejects = client.get(f"/v1/jobs/{job['id']}/files/rejects", headers=bearer(keys.viewer))
    assert rejects.text.splitlines()[0] == "line;value;reason"
    assert "banane" in rejects.text
    check = client.get("/v1/optouts/check?number=0698765432", headers=bearer(keys.viewer)).json()
    assert check["suppressed"] is True
    exported = client.get("/v1/optouts/export", headers=bearer(keys.viewer))
    assert exported.status_code == 200
    assert "+33612345678" in exported.text
    assert "+33698765432" in exported.text
    viewer = client.post(
        "/v1/optouts/imports", files={"file": ("l.csv", content)}, headers=bearer(keys.viewer)
    )
    assert viewer.status_code == 403
    empty = client.post(
        "/v1/optouts/imports", files={"file": ("l.csv", b"")}, headers=bearer(keys.editor)
    )
    assert (empty.status_code, empty.json()["field"]) == (422, "file")
    with app.reader() as connection:
        kinds = connection.execute(select(t.jobs.c.kind)).scalars().all()
    assert kinds == ["optout_import"]


# -- credit transfers ----------------------------------------------------------------------------


@pytest.fixture
def sibling(app: App, keys: Keys) -> str:
    """``shop-2``, owned with ``shop`` by ana@shop.fr (no credits)."""
    with app.transaction() as connection:
        create_account(connection, "shop-2", now=OPEN)
        ready_account(connection, "shop-2", now=OPEN, millicredits=0)
        for account in ("shop", "shop-2"):
            if account == "shop":
                create_user(
                    connection,
                    "ana@shop.fr",
                    "correct horse battery",
                    account=account,
                    role=Role.OWNER,
                    actor="test",
                    now=OPEN,
                )
            else:
                from stopsms.services.access.users import set_role

                set_role(connection, "ana@shop.fr", account, Role.OWNER, actor="test", now=OPEN)
    return "shop-2"


def _balance(app: App, account: str) -> int:
    with app.reader() as connection:
        found: int = connection.execute(
            select(t.accounts.c.balance_millicredits).where(t.accounts.c.name == account)
        ).scalar_one()
    return found


def test_credits_go_to_an_account_of_the_same_owner_once_per_key(
    client: TestClient, keys: Keys, app: App, sibling: str
) -> None:
    owner = {**bearer(keys.owner), "Idempotency-Key": "t-1"}
    before = _balance(app, "shop")
    sent = client.post(
        "/v1/credits/transfers", json={"target": sibling, "credits": "250.5"}, headers=owner
    )
    assert sent.status_code == 201, sent.text
    assert (sent.json()["millicredits"], sent.json()["credits"]) == (250_500, "250.5")
    again = client.post(
        "/v1/credits/transfers", json={"target": sibling, "credits": "250.5"}, headers=owner
    )
    assert again.status_code == 200, again.text
    assert (_balance(app, "shop"), _balance(app, sibling)) == (before - 250_500, 250_500)
    reused = client.post(
        "/v1/credits/transfers", json={"target": sibling, "credits": "1"}, headers=owner
    )
    assert (reused.status_code, reused.json()["code"], reused.json()["field"]) == (
        422,
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    too_much = client.post(
        "/v1/credits/transfers",
        json={"target": sibling, "credits": "1000000"},
        headers=bearer(keys.owner),
    )
    assert (too_much.status_code, too_much.json()["code"], too_much.json()["field"]) == (
        422,
        "insufficient_credit",
        "credits",
    )
    for target in ("rival", "personne"):  # another owner's account reads as no account at all
        answer = client.post(
            "/v1/credits/transfers",
            json={"target": target, "credits": "1"},
            headers=bearer(keys.owner),
        )
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found"), target
        assert answer.json()["detail"] == f"no account {target!r}"
    for bad, field in (
        ({"target": sibling, "credits": "-3"}, "credits"),
        ({"target": "shop", "credits": "1"}, "target"),
    ):
        answer = client.post("/v1/credits/transfers", json=bad, headers=bearer(keys.owner))
        assert (answer.status_code, answer.json()["field"]) == (422, field), answer.text
    editor = client.post(
        "/v1/credits/transfers",
        json={"target": sibling, "credits": "1"},
        headers=bearer(keys.editor),
    )
    assert editor.status_code == 403
    assert (_balance(app, "shop"), _balance(app, sibling)) == (before - 250_500, 250_500)
    with app.reader() as connection:
        audit = (
            connection.execute(
                select(t.audit_log.c.action).where(t.audit_log.c.action.like("credits.%"))
            )
            .scalars()
            .all()
        )
    assert sorted(audit) == ["credits.transferred_in", "credits.transferred_out"]
