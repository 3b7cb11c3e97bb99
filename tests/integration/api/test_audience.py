"""``/v1/contacts``, ``/v1/lists`` and ``/v1/jobs``: an upload becomes a job, the job imports
the file with its reject report, numbers are found in any format, erasure is whole."""

from __future__ import annotations

import re
import time

import httpx
from fastapi.testclient import TestClient

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.jobs.kinds import run_job
from stopsms.jobs.resource import file_name, get_job
from stopsms.server import create_server
from tests.integration.api.conftest import UNLIMITED, Keys, bearer

CSV = b"phone;first_name\n06 12 34 56 78;Alice\n07 00 00 00 0;Bob\n0698765432;Chloe\n"


def _upload(client: TestClient, key: str, content: bytes = CSV, **form: str) -> httpx.Response:
    """POST ``content`` as the file of an import, with ``form``'s fields."""
    answer: httpx.Response = client.post(
        "/v1/contacts/imports",
        files={"file": ("c.csv", content, "text/csv")},
        data=form,
        headers=bearer(key),
    )
    return answer


def test_an_upload_is_a_job_that_imports_and_keeps_its_rejects(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    answer = _upload(client, keys.editor, list="clients", consent="opt_in")
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert (job["kind"], job["state"], job["files"]) == ("contact_import", "queued", [])
    # Nothing imported inside the request.
    assert client.get("/v1/contacts", headers=bearer(keys.viewer)).json() == {"contacts": []}

    assert run_job(app, job["id"], clock) == "succeeded"

    done = client.get(f"/v1/jobs/{job['id']}", headers=bearer(keys.viewer)).json()
    assert done["state"] == "succeeded"
    assert (done["result"]["imported"], done["result"]["rejected"]) == (2, 1)
    assert done["files"] == ["rejects"]
    rejects = client.get(f"/v1/jobs/{job['id']}/files/rejects", headers=bearer(keys.viewer))
    assert rejects.status_code == 200
    assert "07 00 00 00 0" in rejects.text
    found = client.get(
        "/v1/contacts", params={"number": "+33 6 12 34 56 78"}, headers=bearer(keys.viewer)
    ).json()["contacts"]
    assert [(c["phone_e164"], c["first_name"]) for c in found] == [("+33612345678", "Alice")]
    lists = client.get("/v1/lists", headers=bearer(keys.viewer)).json()["lists"]
    assert [(x["name"], x["members"]) for x in lists] == [("clients", 2)]
    history = client.get(
        "/v1/contacts/consents", params={"number": "0612345678"}, headers=bearer(keys.viewer)
    ).json()
    assert [e["kind"] for e in history["history"]] == ["opt_in"]
    listed = client.get("/v1/jobs", headers=bearer(keys.viewer)).json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_an_upload_refused_at_the_door_leaves_no_job(client: TestClient, keys: Keys) -> None:
    cases = [
        ({"consent": "maybe"}, "consent"),
        ({"region": "France"}, "region"),
        ({"list": "x" * 201}, "list"),
        # A NUL ended the job's JSON on PostgreSQL (503); any control character is refused.
        ({"list": "cli\x00ents"}, "list"),
        ({"consent": "opt_in", "consent_source": "shop\x1b"}, "consent_source"),
    ]
    for form, field in cases:
        answer = _upload(client, keys.editor, CSV, **form)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    empty = _upload(client, keys.editor, b"")
    assert (empty.status_code, empty.json()["field"]) == (422, "file")
    missing = client.post("/v1/contacts/imports", headers=bearer(keys.editor))
    assert (missing.status_code, missing.json()["field"]) == (422, "file")
    viewer = _upload(client, keys.viewer)
    assert viewer.status_code == 403
    assert client.get("/v1/jobs", headers=bearer(keys.viewer)).json() == []


def test_an_uploaded_file_name_is_kept_without_its_path_or_control_characters(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    for sent, kept in (("../../etc/shop.csv", "shop.csv"), ("..", "contacts.csv")):
        answer = client.post(
            "/v1/contacts/imports",
            files={"file": (sent, CSV, "text/csv")},
            headers=bearer(keys.editor),
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()
        with app.reader() as connection:
            assert get_job(connection, "shop", job["id"]).params["file"] == kept
        assert run_job(app, job["id"], clock) == "succeeded"
    # httpx writes a NUL as %00; a client that sends the byte itself gets it dropped.
    assert file_name("shop\x00.csv", "contacts.csv") == "shop.csv"
    assert file_name("C:\\Users\\a\\\x1b", "contacts.csv") == "contacts.csv"


def test_a_queued_job_is_cancelled_and_another_accounts_is_not_found(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    job = _upload(client, keys.editor).json()
    rival = client.post(f"/v1/jobs/{job['id']}/cancel", headers=bearer(keys.other))
    assert rival.status_code == 404
    cancelled = client.post(f"/v1/jobs/{job['id']}/cancel", headers=bearer(keys.editor))
    assert cancelled.json()["state"] == "cancelled"
    assert run_job(app, job["id"], clock) is None
    again = client.post(f"/v1/jobs/{job['id']}/cancel", headers=bearer(keys.editor))
    assert (again.status_code, again.json()["field"]) == (422, "job")


def test_erasure_removes_the_contact_and_keeps_the_number_suppressed(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    job = _upload(client, keys.editor, list="clients").json()
    run_job(app, job["id"], clock)
    body = {"number": "06 12 34 56 78"}
    editor = client.post("/v1/contacts/erasures", json=body, headers=bearer(keys.editor))
    assert editor.status_code == 403  # erasure is the owner's
    erased = client.post("/v1/contacts/erasures", json=body, headers=bearer(keys.owner))
    assert erased.status_code == 200, erased.text
    assert erased.json()["contacts"] == 1
    found = client.get(
        "/v1/contacts", params={"number": "0612345678"}, headers=bearer(keys.viewer)
    ).json()
    assert found == {"contacts": []}
    check = client.get(
        "/v1/optouts/check", params={"number": "0612345678"}, headers=bearer(keys.viewer)
    ).json()
    assert check["suppressed"] is True
    unknown = client.post(
        "/v1/contacts/erasures", json={"number": "0611111111"}, headers=bearer(keys.owner)
    )
    assert unknown.status_code == 404
    bad = client.post("/v1/contacts/erasures", json={"number": "12"}, headers=bearer(keys.owner))
    assert (bad.status_code, bad.json()["field"]) == (422, "number")


def test_the_server_runs_the_uploaded_import_itself_on_sqlite_only(
    app: App, keys: Keys, clock: FakeClock
) -> None:
    """On PostgreSQL `stopsms jobs worker` runs jobs (tests/integration/test_jobs*), never
    the server: its job stays queued."""
    sqlite = app.database.backend == "sqlite"
    server = create_server(app, engine=True, limits=UNLIMITED, clock=clock)
    with TestClient(server) as client:
        job = _upload(client, keys.editor).json()
        deadline = time.monotonic() + (30 if sqlite else 1.5)
        state = job["state"]
        while state in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            state = client.get(f"/v1/jobs/{job['id']}", headers=bearer(keys.viewer)).json()["state"]
    assert state == ("succeeded" if sqlite else "queued")


def test_a_consent_is_recorded_and_creates_the_contact(client: TestClient, keys: Keys) -> None:
    body = {"number": "06 55 44 33 22", "kind": "opt_in", "source": "shop checkbox"}
    answer = client.post("/v1/contacts/consents", json=body, headers=bearer(keys.editor))
    assert answer.status_code == 201, answer.text
    found = client.get(
        "/v1/contacts", params={"number": "0655443322"}, headers=bearer(keys.viewer)
    ).json()["contacts"]
    assert [c["phone_e164"] for c in found] == ["+33655443322"]
    for change, field in (
        ({"kind": "yes"}, "kind"),
        ({"source": "  "}, "source"),
        ({"number": "0655"}, "number"),
        ({"evidence": "e" * 2001}, "evidence"),
    ):
        bad = client.post(
            "/v1/contacts/consents", json={**body, **change}, headers=bearer(keys.editor)
        )
        assert (bad.status_code, bad.json()["field"]) == (422, field), bad.text
    history = client.get(
        "/v1/contacts/consents", params={"number": "0655443322"}, headers=bearer(keys.viewer)
    ).json()["history"]
    assert [e["source"] for e in history] == ["shop checkbox"]


def test_a_downloaded_files_name_carries_nothing_of_the_upload_into_headers(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    job = client.post(
        "/v1/contacts/imports",
        files={"file": ('liste "été"; x=1.csv', CSV, "text/csv")},
        headers=bearer(keys.editor),
    ).json()
    run_job(app, job["id"], clock)
    got = client.get(f"/v1/jobs/{job['id']}/files/rejects", headers=bearer(keys.viewer))
    assert got.status_code == 200
    assert re.fullmatch(
        r'attachment; filename="liste [A-Za-z0-9_]+ x_1\.rejects\.csv"',
        got.headers["content-disposition"],
    ), got.headers["content-disposition"]
