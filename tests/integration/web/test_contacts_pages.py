"""The contacts pages over HTTP (Starlette's TestClient on the real server and database):
upload → columns → import job → progress → result and reject report; lists, search, a
contact's page, erasure; roles; another account's contact, upload and job are 404; hostile
files and mappings are refused with a sentence and nothing written."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Table, func, select

import stopsms.app.contacts as contact_cases
from stopsms.api.limits import Limits
from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.jobs.kinds import run_job
from stopsms.server import create_server
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user
from stopsms.services.accounts.accounts import create_account
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from tests.builders import add_contacts, ready_account

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
#: A messy French export: accents in the header, a ’, a number with spaces, a bad number, a
#: formula in a cell, a column the person will want ignored.
MESSY = (
    "Téléphone;Prénom;Nom;Ville;Note\n"
    '06 12 34 56 78;Zoé;L’Hôte;Lyon;=HYPERLINK("http://evil.example","clic")\n'
    "0698765432;Marc;Durand;Paris;fidèle\n"
    "12;Bad;Number;Nice;\n"
).encode()


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    """``shop`` with an editor and a viewer and a list ``clients`` (one contact with a
    consent and a prepared message); ``rival`` with its owner and its own contact."""
    application = App(Settings(database_url=database_url), actor="test")
    with application.transaction() as connection:
        for name in ("shop", "rival"):
            create_account(connection, name, now=NOW)
            ready_account(connection, name, now=NOW)
        add_contacts(
            connection,
            "clients",
            [{"phone_e164": "+33611111111", "first_name": "Alice", "last_name": "Martin"}],
            now=NOW,
            account="shop",
        )
        add_contacts(
            connection, "theirs", [{"phone_e164": "+33622222222"}], now=NOW, account="rival"
        )
        for email, account, role in (
            ("owner@shop.fr", "shop", Role.OWNER),
            ("editor@shop.fr", "shop", Role.EDITOR),
            ("viewer@shop.fr", "shop", Role.VIEWER),
            ("owner@rival.fr", "rival", Role.OWNER),
        ):
            create_user(
                connection, email, PASSWORD, account=account, role=role, actor="test", now=NOW
            )
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes d'hiver",
            sender=None,
            clock=FakeClock(NOW),
        ).campaign
    prepare_campaign(application.database, campaign.id, FakeClock(NOW))
    yield application
    application.close()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with TestClient(create_server(app, limits=Limits(per_key=0, per_ip=0))) as test_client:
        yield test_client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _sign_in(client: TestClient, email: str) -> None:
    client.cookies.clear()
    page = client.get("/login")
    data = {"csrf": _csrf(page.text), "email": email, "password": PASSWORD}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303


def _upload(client: TestClient, name: str, content: bytes) -> Response:
    page = client.get("/contacts")
    answer: Response = client.post(
        "/contacts/uploads",
        data={"csrf": _csrf(page.text)},
        files={"file": (name, content, "text/csv")},
        follow_redirects=False,
    )
    return answer


def _contact_id(app: App, account: str, phone: str) -> int:
    c, a = t.contacts.c, t.accounts.c
    with app.reader() as connection:
        return int(
            connection.execute(
                select(c.id)
                .join(t.accounts, a.id == c.account_id)
                .where(a.name == account, c.phone_e164 == phone)
            ).scalar_one()
        )


def _count(app: App, table: Table) -> int:
    with app.reader() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _selected(html: str, column: int) -> str:
    select_html = html.split(f'name="column-{column}"')[1].split("</select>")[0]
    found = re.search(r'<option value="([a-z_]+)" selected>', select_html)
    assert found is not None, select_html
    return found.group(1)


def test_upload_check_the_columns_import_and_read_the_result(app: App, client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    assert 'id="upload"' in client.get("/contacts").text
    uploaded = _upload(client, "clients hiver.csv", MESSY)
    assert uploaded.status_code == 303, uploaded.text
    address = uploaded.headers["location"]
    page = client.get(address)
    assert page.status_code == 200
    # The guessed columns, as the import recognises them; the first rows, escaped.
    assert [_selected(page.text, i) for i in range(1, 6)] == [
        "phone",
        "first_name",
        "last_name",
        "custom",
        "custom",
    ]
    assert "L’Hôte" in page.text
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;clic&#34;)" in page.text
    assert 'href="http://evil.example"' not in page.text
    assert _count(app, t.uploads) == 1
    # The person ignores "Note", imports into a new list with a consent.
    data = {
        "csrf": _csrf(page.text),
        **{f"column-{i}": v for i, v in enumerate(["phone", "first_name", "last_name"], 1)},
        "column-4": "custom",
        "column-5": "ignore",
        "new_list": "hiver",
        "consent": "opt-in",
        "consent_source": "formulaire de fidélité",
    }
    started = client.post(address, data=data, follow_redirects=False)
    assert started.status_code == 303, started.text
    job_address = started.headers["location"]
    assert _count(app, t.uploads) == 0  # moved into the job, in one transaction
    waiting = client.get(job_address)
    assert f'hx-get="{job_address}/progress"' in waiting.text  # htmx polls while it waits
    assert 'id="refresh"' in waiting.text  # without JavaScript: a link
    assert 'id="progress"' in waiting.text
    job_id = int(job_address.rsplit("/", 1)[1])
    assert run_job(app, job_id) == "succeeded"
    done = client.get(f"{job_address}/progress")
    assert done.status_code == 200
    assert "hx-get" not in done.text  # polling stops with the result
    assert 'id="imported">2<' in done.text
    assert 'id="rejected">1<' in done.text
    assert 'id="updated">0<' in done.text
    report = client.get(f"{job_address}/rejects")
    assert report.status_code == 200
    assert report.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["line", "value", "reason"]
    assert rows[1][:3] == ["4", "12", "invalid_phone"]
    # The contacts: the list with its members, the number and the name searches, the page.
    listing = client.get("/contacts")
    assert re.search(r"<td>hiver</td><td>2</td>", listing.text)
    assert "clients hiver.csv" in listing.text  # the recent import
    by_number = client.get("/contacts", params={"q": "06 12 34 56 78"})
    assert "+33612345678" in by_number.text.split('id="found"')[1]
    by_name = client.get("/contacts", params={"q": "hôte"})
    assert "+33612345678" in by_name.text.split('id="found"')[1]
    assert "+33698765432" not in by_name.text.split('id="found"')[1]
    contact = client.get(f"/contacts/{_contact_id(app, 'shop', '+33612345678')}")
    assert contact.status_code == 200
    assert 'id="consent">accord (opt-in)<' in contact.text
    assert "formulaire de fidélité" in contact.text.split('id="consents"')[1]
    assert "hiver" in contact.text
    assert "Lyon" in contact.text  # the custom field
    assert "HYPERLINK" not in contact.text  # the ignored column


def test_a_contact_s_page_lists_its_messages_with_their_statuses(
    app: App, client: TestClient
) -> None:
    _sign_in(client, "viewer@shop.fr")
    page = client.get(f"/contacts/{_contact_id(app, 'shop', '+33611111111')}")
    assert page.status_code == 200
    messages = page.text.split('id="messages"')[1]
    assert "en attente" in messages  # pending: prepared, not sent yet
    assert "Soldes d&#39;hiver" in messages
    assert "Alice" in page.text


def test_hostile_files_are_refused_with_a_sentence_and_nothing_kept(
    app: App, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sign_in(client, "editor@shop.fr")
    png = _upload(client, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert png.status_code == 422
    assert "a PNG image, not a CSV or .xlsx file" in png.text
    assert "/tmp" not in png.text  # the person's file name, not the server's path
    empty = _upload(client, "vide.csv", b"")
    assert empty.status_code == 422
    assert "invalid file &#39;vide.csv&#39;: the file is empty" in empty.text
    no_file = client.post(
        "/contacts/uploads", data={"csrf": _csrf(client.get("/contacts").text)}, files={}
    )
    assert no_file.status_code in (400, 422)
    monkeypatch.setattr(contact_cases, "MAX_UPLOAD", 1000)
    large = _upload(client, "gros.csv", b"mobile\n" + b"0612345678\n" * 20_000)
    assert large.status_code == 413
    assert "stopsms contacts import" in large.text
    slightly = _upload(client, "moyen.csv", b"mobile\n" + b"0612345678\n" * 150)
    assert slightly.status_code == 413  # under the envelope's margin: counted after reading
    assert "stopsms contacts import" in slightly.text
    assert _count(app, t.uploads) == 0
    assert _count(app, t.jobs) == 0


def test_a_wrong_mapping_names_the_field_and_writes_nothing(app: App, client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    address = _upload(client, "clients.csv", MESSY).headers["location"]
    page = client.get(address)
    token = _csrf(page.text)
    wrong = [
        ({"column-9": "phone"}, "invalid mapping &#39;column 9&#39;: the file has 5 columns"),
        ({"column-x": "phone"}, "invalid mapping &#39;column 0&#39;"),
        ({"column-1": "phone", "column-2": "phone"}, "phone is chosen for two columns"),
        ({"column-1": "ignore"}, "no column is the phone"),
        ({"column-1": "<script>"}, "invalid mapping of column &#39;Téléphone&#39;"),
    ]
    for fields, sentence in wrong:
        refused = client.post(address, data={"csrf": token, **fields})
        assert refused.status_code == 422, fields
        assert sentence in refused.text, (fields, refused.text)
        assert "<script>" not in refused.text
    consent = client.post(address, data={"csrf": token, "consent": "always"})
    assert consent.status_code == 422
    assert "invalid consent" in consent.text
    assert _count(app, t.jobs) == 0
    assert _count(app, t.uploads) == 1  # still there, to fix and confirm
    assert client.post(address, data={"column-1": "phone"}).status_code == 403  # no csrf


def test_a_viewer_sees_but_cannot_upload_import_or_erase(app: App, client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    address = _upload(client, "clients.csv", MESSY).headers["location"]
    alice = _contact_id(app, "shop", "+33611111111")
    _sign_in(client, "viewer@shop.fr")
    listing = client.get("/contacts")
    assert listing.status_code == 200
    assert 'id="upload"' not in listing.text
    assert "<td>clients</td><td>1</td>" in listing.text
    assert _upload(client, "clients.csv", MESSY).status_code == 403
    preview = client.get(address)
    assert preview.status_code == 200
    assert 'id="import"' not in preview.text
    assert client.post(address, data={"csrf": _csrf(preview.text)}).status_code == 403
    contact = client.get(f"/contacts/{alice}")
    assert 'id="erase"' not in contact.text
    assert client.get(f"/contacts/{alice}/erase").status_code == 403
    token = _csrf(contact.text)
    assert client.post(f"/contacts/{alice}/erase", data={"csrf": token}).status_code == 403
    assert _count(app, t.uploads) == 1
    assert _count(app, t.jobs) == 0
    assert client.get(f"/contacts/{alice}").status_code == 200  # not erased


def test_another_account_s_contact_upload_and_job_are_not_found(
    app: App, client: TestClient
) -> None:
    _sign_in(client, "editor@shop.fr")
    upload = _upload(client, "clients.csv", MESSY).headers["location"]
    other = _upload(client, "autre.csv", MESSY).headers["location"]
    page = client.get(other)
    job = client.post(
        other,
        data={"csrf": _csrf(page.text), "column-1": "phone", "column-5": "ignore"},
        follow_redirects=False,
    ).headers["location"]
    run_job(app, int(job.rsplit("/", 1)[1]))
    alice = _contact_id(app, "shop", "+33611111111")
    _sign_in(client, "owner@rival.fr")
    token = _csrf(client.get("/contacts").text)
    for address in (
        f"/contacts/{alice}",
        f"/contacts/{alice}/erase",
        upload,
        job,
        f"{job}/progress",
        f"{job}/rejects",
        "/contacts/999999",
        "/contacts/imports/999999",
    ):
        answer = client.get(address)
        assert answer.status_code == 404, address
        assert "+336" not in answer.text, address
        assert "Alice" not in answer.text, address
    for address in (f"/contacts/{alice}/erase", upload):
        refused = client.post(address, data={"csrf": token, "column-1": "phone"})
        assert refused.status_code == 404, address
    assert "+33611111111" not in client.get("/contacts", params={"q": "0611111111"}).text
    assert "Alice" not in client.get("/contacts", params={"q": "alice"}).text
    assert _count(app, t.uploads) == 1
    assert client.get(f"/contacts/{_contact_id(app, 'rival', '+33622222222')}").status_code == 200


def test_erasure_is_the_owners_alone(app: App, client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    alice = _contact_id(app, "shop", "+33611111111")
    page = client.get(f"/contacts/{alice}")
    assert 'id="erase"' not in page.text
    assert client.get(f"/contacts/{alice}/erase").status_code == 403
    token = _csrf(page.text)
    assert client.post(f"/contacts/{alice}/erase", data={"csrf": token}).status_code == 403
    assert client.get(f"/contacts/{alice}").status_code == 200  # not erased


def test_erasure_asks_first_then_forgets_the_person(app: App, client: TestClient) -> None:
    _sign_in(client, "owner@shop.fr")
    alice = _contact_id(app, "shop", "+33611111111")
    page = client.get(f"/contacts/{alice}")
    assert f'href="/contacts/{alice}/erase"' in page.text
    confirm = client.get(f"/contacts/{alice}/erase")
    assert confirm.status_code == 200
    assert 'id="confirm-erase"' in confirm.text
    assert client.post(f"/contacts/{alice}/erase", data={}).status_code == 403  # no csrf
    assert client.get(f"/contacts/{alice}").status_code == 200
    erased = client.post(
        f"/contacts/{alice}/erase", data={"csrf": _csrf(confirm.text)}, follow_redirects=False
    )
    assert erased.status_code == 303
    assert client.get(erased.headers["location"]).text.count('id="notice"') == 1
    assert client.get(f"/contacts/{alice}").status_code == 404
    assert 'id="none-found"' in client.get("/contacts", params={"q": "Alice"}).text
    with app.reader() as connection:
        stored = connection.execute(
            select(t.contacts.c.phone_e164, t.contacts.c.first_name).where(t.contacts.c.id == alice)
        ).one()
        opted_out = connection.execute(
            select(func.count()).select_from(t.optouts).where(t.optouts.c.revoked_at.is_(None))
        ).scalar_one()
    assert tuple(stored) == (None, None)
    assert opted_out == 1  # the number stays opted out, by its hash
