"""``/v1/campaigns``: created through the services' checks, sent and exported as jobs (202),
paused, resumed, cancelled; a refused request writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.jobs.kinds import run_job
from tests.builders import add_contacts
from tests.integration.api.conftest import OPEN, Keys, bearer

PEOPLE = [{"phone_e164": "+33612345678"}, {"phone_e164": "+33698765432"}]
DRAFT = {"list": "clients", "text": "Soldes -20%", "sender": "MaBoutique"}


@pytest.fixture
def audience(app: App, keys: Keys) -> None:
    with app.transaction() as connection:
        add_contacts(connection, "clients", PEOPLE, now=OPEN, account="shop")


def _campaign(client: TestClient, keys: Keys, **body: Any) -> Any:
    answer = client.post("/v1/campaigns", json={**DRAFT, **body}, headers=bearer(keys.editor))
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.mark.usefixtures("audience")
def test_a_campaign_is_previewed_sent_as_a_job_paused_and_reported(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    campaign = _campaign(client, keys)
    assert campaign["status"] == "draft"
    cid = campaign["id"]
    preview = client.post(f"/v1/campaigns/{cid}/preview", headers=bearer(keys.viewer)).json()
    assert (preview["targeted"], preview["ready"]) == (2, 2), preview
    job = client.post(f"/v1/campaigns/{cid}/send", headers=bearer(keys.editor))
    assert job.status_code == 202, job.text
    assert (job.json()["kind"], job.json()["state"]) == ("campaign_send", "queued")
    twice = client.post(f"/v1/campaigns/{cid}/send", headers=bearer(keys.editor))
    assert (twice.status_code, twice.json()["code"]) == (409, "send_in_progress")
    # Nothing prepared inside the request.
    assert client.get(f"/v1/campaigns/{cid}", headers=bearer(keys.viewer)).json()["campaign"][
        "status"
    ] == ("draft")
    assert run_job(app, job.json()["id"], clock) == "succeeded"
    report = client.get(f"/v1/campaigns/{cid}", headers=bearer(keys.viewer)).json()
    assert (report["campaign"]["status"], report["ready"]) == ("sending", 2)
    paused = client.post(f"/v1/campaigns/{cid}/pause", headers=bearer(keys.editor)).json()
    assert paused["status"] == "paused"
    resumed = client.post(f"/v1/campaigns/{cid}/resume", headers=bearer(keys.editor)).json()
    assert resumed["status"] == "sending"
    cancelled = client.post(f"/v1/campaigns/{cid}/cancel", headers=bearer(keys.editor)).json()
    assert (cancelled["status"], cancelled["cancelled_messages"]) == ("cancelled", 2)
    again = client.post(f"/v1/campaigns/{cid}/pause", headers=bearer(keys.editor))
    assert again.status_code == 422, again.text
    listed = client.get("/v1/campaigns", headers=bearer(keys.viewer)).json()["campaigns"]
    assert [c["id"] for c in listed] == [cid]


@pytest.mark.usefixtures("audience")
def test_the_export_is_a_job_whose_file_is_downloaded(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    cid = _campaign(client, keys)["id"]
    send = client.post(f"/v1/campaigns/{cid}/send", headers=bearer(keys.editor)).json()
    assert run_job(app, send["id"], clock) == "succeeded"
    job = client.post(
        f"/v1/campaigns/{cid}/exports", json={"format": "csv"}, headers=bearer(keys.editor)
    ).json()
    assert run_job(app, job["id"], clock) == "succeeded"
    done = client.get(f"/v1/jobs/{job['id']}", headers=bearer(keys.viewer)).json()
    assert done["files"] == ["output"]
    got = client.get(f"/v1/jobs/{job['id']}/files/output", headers=bearer(keys.viewer))
    assert got.headers["content-type"].startswith("text/csv")
    assert "+33612345678" in got.text
    xlsx = client.post(
        f"/v1/campaigns/{cid}/exports", json={"format": "pdf"}, headers=bearer(keys.editor)
    )
    assert (xlsx.status_code, xlsx.json()["field"]) == (422, "format")


@pytest.mark.usefixtures("audience")
def test_bad_campaigns_are_refused_naming_the_field_and_nothing_is_created(
    client: TestClient, keys: Keys
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sender": "Inconnu"}, "sender"),
        ({"list": "nope"}, "list"),
        ({"text": "x" * 1601}, "text"),
        ({"text": 12}, "text"),
        ({"type": "spam"}, "type"),
        ({"colour": "red"}, "colour"),
        ({"text": "Voir https://evil.example/x"}, "text"),
        ({"at": "demain"}, "at"),
    ]
    for change, field in cases:
        answer = client.post("/v1/campaigns", json={**DRAFT, **change}, headers=bearer(keys.editor))
        assert answer.status_code in (404, 422), (change, answer.text)
        if answer.status_code == 422:
            assert answer.json()["field"] == field, (change, answer.json())
    assert client.get("/v1/campaigns", headers=bearer(keys.viewer)).json() == {"campaigns": []}
    viewer = client.post("/v1/campaigns", json=DRAFT, headers=bearer(keys.viewer))
    assert viewer.status_code == 403
    rival = client.post(f"/v1/campaigns/{2**31}/send", headers=bearer(keys.editor))
    assert rival.status_code == 422


@pytest.mark.usefixtures("audience")
def test_schedule_and_another_accounts_campaign(
    client: TestClient, keys: Keys, clock: FakeClock
) -> None:
    cid = _campaign(client, keys)["id"]
    past = client.post(
        f"/v1/campaigns/{cid}/schedule",
        json={"at": "2020-01-01T10:00:00+01:00"},
        headers=bearer(keys.editor),
    )
    assert past.status_code == 422, past.text
    done = client.post(
        f"/v1/campaigns/{cid}/schedule",
        json={"at": "2026-12-02T10:00:00+01:00"},
        headers=bearer(keys.editor),
    ).json()
    assert done["status"] == "scheduled"
    for action in ("send", "pause", "cancel", "preview", "exports"):
        rival = client.post(f"/v1/campaigns/{cid}/{action}", headers=bearer(keys.other))
        assert rival.status_code == 404, (action, rival.text)
    assert client.get(f"/v1/campaigns/{cid}", headers=bearer(keys.viewer)).json()["campaign"][
        "status"
    ] == ("scheduled")
