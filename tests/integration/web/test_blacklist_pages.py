"""The blacklist pages over HTTP: every opt-out with its source, campaign and words, paging,
search, add, removal only with evidence (audited), file import and CSV export, and the review
queue's approve and dismiss (the route-table checks are in test_settings_pages.py)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from stopsms.services.access.audit import audit_entries
from stopsms.services.accounts.accounts import get_account
from stopsms.services.optouts.optouts import record_many, record_optout
from stopsms.services.optouts.review import review_queue
from tests.integration.web.conftest import NOW, World, sign_in


def _stop(world: World, phone: str, *, uncertain: bool = False, words: str = "STOP") -> int:
    with world.app.transaction() as connection:
        return record_optout(
            connection,
            "shop",
            phone,
            source="keyword",
            detail=words,
            uncertain=uncertain,
            campaign_id=world.campaign_id,
            now=NOW,
        ).optout.id


def test_an_opt_out_shows_its_source_campaign_and_words(world: World, client: TestClient) -> None:
    _stop(world, "+33612345678", words="Stop36034")
    sign_in(client, "viewer@shop.fr")
    page = client.get("/blacklist").text
    row = page.split("+33612345678")[1].split("</tr>")[0]
    assert "STOP par SMS" in row
    assert f'href="/campaigns/{world.campaign_id}"' in row
    assert "Stop36034" in row
    assert "01/12/2026 10:00" in row  # Paris time, as French writes it (Babel)
    assert 'id="add"' not in page
    assert 'action="/blacklist/import"' not in page


def test_the_list_is_paged_newest_first(world: World, client: TestClient) -> None:
    numbers = [f"+336{n:08d}" for n in range(150)]
    with world.app.transaction() as connection:
        record_many(connection, "shop", numbers, source="import", recorded_by="test", now=NOW)
    sign_in(client, "viewer@shop.fr")
    first = client.get("/blacklist").text
    assert 'id="total">150<' in first
    assert 'id="older"' in first
    second = client.get("/blacklist?offset=100").text
    assert 'id="older"' not in second
    shown = {n for n in numbers if n in first} | {n for n in numbers if n in second}
    assert shown == set(numbers)
    assert not {n for n in numbers if n in first} & {n for n in numbers if n in second}
    assert client.get("/blacklist?offset=-5").status_code == 200


def test_removal_needs_evidence_and_is_audited(world: World, client: TestClient) -> None:
    form = sign_in(client, "editor@shop.fr", "shop")
    added = client.post("/blacklist", data={"csrf": form, "action": "add", "phone": "0612345678"})
    assert "manuel" in added.text
    assert 'id="remove"' not in added.text  # lifting an opt-out is the owner's
    bare = {"csrf": form, "action": "remove", "phone": "06 12 34 56 78"}
    by_editor = client.post("/blacklist", data={**bare, "evidence": "courriel du 2 décembre"})
    assert by_editor.status_code == 403
    client.cookies.clear()
    form = sign_in(client, "owner@shop.fr", "shop")
    bare = {"csrf": form, "action": "remove", "phone": "06 12 34 56 78"}
    refused = client.post("/blacklist", data={**bare, "evidence": "  "})
    assert refused.status_code == 422
    assert 'id="total">1<' in refused.text
    lifted = client.post("/blacklist", data={**bare, "evidence": "courriel du 2 décembre"})
    assert 'id="total">0<' in lifted.text
    with world.app.reader() as connection:
        entry = audit_entries(connection, get_account(connection, "shop").id)[0]
    assert entry.action == "optout.removed"
    assert entry.actor == "user:owner@shop.fr"
    assert entry.detail is not None
    assert entry.detail["evidence"] == "courriel du 2 décembre"


def test_a_file_is_imported_with_its_rejects_then_exported(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "editor@shop.fr", "shop")
    upload = "numero;motif\n06 12 34 56 78;client\nnot a number;\n+33612345679;\n"
    answer = client.post(
        "/blacklist/import",
        data={"csrf": form},
        files={"file": ("liste noire.csv", upload.encode("utf-8"), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    shown = answer.text.split('id="imported"')[1].split("</div>")[0]
    assert "2 ajoutés" in shown
    assert "1 rejetés" in shown
    assert "sur 3 lignes" in shown
    assert "not a number" in shown
    assert 'id="total">2<' in answer.text
    wrong = client.post(
        "/blacklist/import",
        data={"csrf": form},
        files={"file": ("clients.pdf", b"%PDF-1.4", "application/pdf")},
    )
    assert wrong.status_code == 422
    assert ".csv, .tsv, .txt or .xlsx" in wrong.text
    empty = client.post("/blacklist/import", data={"csrf": form})
    assert empty.status_code == 422
    assert "Choisissez un fichier" in empty.text
    exported = client.get("/blacklist/export")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text), delimiter=";"))
    assert {r[0] for r in rows[1:]} == {"+33612345678", "+33612345679"}
    assert {r[3] for r in rows[1:]} == {"import"}
    with world.app.reader() as connection:
        entry = audit_entries(connection, get_account(connection, "shop").id)[0]
    assert entry.action == "optouts.imported"
    assert entry.detail == {
        "file": "liste noire.csv",
        "rows": 3,
        "added": 2,
        "already": 0,
        "rejected": 1,
    }


def test_the_review_queue_approves_and_dismisses(world: World, client: TestClient) -> None:
    approved = _stop(world, "+33612345678", uncertain=True, words="merci mais stop")
    dismissed = _stop(world, "+33612345679", uncertain=True, words="stop les promos du lundi")
    form = sign_in(client, "viewer@shop.fr")
    page = client.get("/blacklist").text
    assert 'id="queue-size">2<' in page
    assert "/approve" not in page  # a viewer sees the queue, not the buttons
    form = sign_in(client, "editor@shop.fr", "shop")
    page = client.get("/blacklist").text
    assert f'action="/blacklist/review/{approved}/approve"' in page
    done = client.post(f"/blacklist/review/{approved}/approve", data={"csrf": form})
    assert done.status_code == 200
    assert 'id="queue-size">1<' in done.text
    bare = client.post(f"/blacklist/review/{dismissed}/dismiss", data={"csrf": form})
    assert bare.status_code == 422
    kept = client.post(
        f"/blacklist/review/{dismissed}/dismiss",
        data={"csrf": form, "evidence": "a parlé des promos, pas des SMS"},
    )
    assert 'id="queue-size">0<' in kept.text
    assert 'id="total">1<' in kept.text  # the approved one stays; the dismissed one is lifted
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
        assert review_queue(connection, shop) == []
        actions = [e.action for e in audit_entries(connection, shop.id)][:2]
    assert actions == ["optout.dismissed", "optout.approved"]


def test_a_search_shows_a_number_s_history_and_a_bad_one_says_so(
    world: World, client: TestClient
) -> None:
    _stop(world, "+33612345678")
    sign_in(client, "viewer@shop.fr")
    found = client.get("/blacklist?q=06 12 34 56 78").text
    assert "+33612345678" in found
    bad = client.get("/blacklist?q=not-a-number")
    assert bad.status_code == 200
    assert 'class="error"' in bad.text
