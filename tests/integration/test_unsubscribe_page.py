"""The hosted unsubscribe page over real HTTP (TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.services.accounts import accounts
from stopsms.services.accounts.accounts import AccountChanges
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.store import tables as t
from stopsms.store.database import Database
from stopsms.web.security import CSRF_COOKIE, RateLimiter
from stopsms.web.unsubscribe import make_router
from tests.integration.test_stop_mention import NOW, PEOPLE, add_list, shop

PUBLIC = "https://sms.shop.fr"
EN = {"Accept-Language": "en-GB,en;q=0.9"}
FR = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}


@dataclass
class Site:
    client: TestClient
    database: Database
    campaign_id: int
    token: str


def _token(database: Database, campaign_id: int, region: str) -> str:
    m = t.messages.c
    with database.reader() as conn:
        token: str = conn.execute(
            select(m.unsubscribe_token).where(m.campaign_id == campaign_id, m.region == region)
        ).scalar_one()
    return token


def _campaign(database: Database, clock: FakeClock) -> int:
    with database.transaction() as conn:
        campaign = create_campaign(
            conn, "shop", list_name="l", text="Soldes", sender="BOUTIQUE", clock=clock
        ).campaign
    prepare_campaign(database, campaign.id, clock, public_url=PUBLIC)
    return campaign.id


def _client(database_url: str, limit: int = 100) -> TestClient:
    server = FastAPI()
    server.state.stopsms = App(Settings(database_url=database_url, public_url=PUBLIC))
    server.include_router(make_router(limiter=RateLimiter(limit=limit)))
    return TestClient(server)


@pytest.fixture
def site(database: Database, database_url: str) -> Iterator[Site]:
    with database.transaction() as conn:
        account = shop(conn)
        accounts.update_account(conn, account, AccountChanges(brand="La Boutique"))
        add_list(conn, "shop", "l", PEOPLE)
    campaign_id = _campaign(database, FakeClock(NOW))
    with _client(database_url) as client:
        yield Site(client, database, campaign_id, _token(database, campaign_id, "GB"))
        client.app.state.stopsms.close()  # type: ignore[attr-defined]


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _optouts(database: Database) -> list[tuple[str | None, str, int | None, str | None]]:
    o = t.optouts.c
    with database.reader() as conn:
        rows = conn.execute(select(o.phone_e164, o.source, o.campaign_id, o.detail)).all()
    return [tuple(row) for row in rows]


def test_a_click_records_the_opt_out_of_that_campaign_once(site: Site) -> None:
    page = site.client.get(f"/u/{site.token}", headers=EN)
    assert page.status_code == 200
    assert "+44 7••• ••••56" in page.text
    assert "+447911123456" not in page.text
    assert "BOUTIQUE" in page.text
    assert "La Boutique" in page.text
    assert "<script" not in page.text
    headers = page.headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "samesite=strict" in headers["set-cookie"].lower()
    form = {"csrf": _csrf(page.text), "reason": "too_many", "text": "trop  souvent"}
    for _ in range(2):  # idempotent: the second click thanks again and records nothing more
        done = site.client.post(f"/u/{site.token}", data=form, headers=EN)
        assert done.status_code == 200
        assert "Thank you" in done.text
    assert _optouts(site.database) == [
        ("+447911123456", "web_form", site.campaign_id, "web page; reason: too_many; trop souvent")
    ]
    # The next campaign to the same list leaves that number out.
    next_id = _campaign(site.database, FakeClock(NOW))
    m = t.messages.c
    with site.database.reader() as conn:
        reason = conn.execute(
            select(m.reason).where(m.campaign_id == next_id, m.phone_e164 == "+447911123456")
        ).scalar_one()
    assert reason == "opted_out"


def test_a_post_without_the_page_s_form_value_is_refused(site: Site, database_url: str) -> None:
    assert site.client.post(f"/u/{site.token}", data={}).status_code == 403
    page = site.client.get(f"/u/{site.token}")
    value = _csrf(page.text)
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    assert site.client.post(f"/u/{site.token}", data={"csrf": forged}).status_code == 403
    # Another site's form: the field without the cookie (a fresh browser).
    with _client(database_url) as other:
        refused = other.post(f"/u/{site.token}", data={"csrf": value})
        other.app.state.stopsms.close()  # type: ignore[attr-defined]
    assert refused.status_code == 403
    assert _optouts(site.database) == []


def test_the_page_speaks_french_or_english(site: Site) -> None:
    french = site.client.get(f"/u/{site.token}", headers=FR)
    assert "Se désabonner" in french.text
    assert 'lang="fr"' in french.text
    assert french.headers["content-language"] == "fr"
    english = site.client.get(f"/u/{site.token}", headers=EN)
    assert "Unsubscribe" in english.text
    assert "Se désabonner" not in english.text
    assert (
        site.client.get(f"/u/{site.token}", headers={"Accept-Language": "de"}).headers[
            "content-language"
        ]
        == "fr"
    )
    neutral = site.client.get("/u/zzzzzzzzzz", headers=FR)
    assert "Cette page n’existe pas" in neutral.text


def test_unknown_token_account_and_number_reveal_nothing(site: Site) -> None:
    unknown = [
        site.client.get("/u/zzzzzzzzzz", headers=EN),  # a token's shape, unknown
        site.client.get("/u/not-a-token", headers=EN),
        site.client.get("/u/a/nobody", headers=EN),
    ]
    assert {(r.status_code, r.text) for r in unknown} == {(404, unknown[0].text)}
    csrf = _csrf(site.client.get(f"/u/{site.token}").text)
    posted = site.client.post("/u/zzzzzzzzzz", data={"csrf": csrf}, headers=EN)
    assert (posted.status_code, posted.text) == (404, unknown[0].text)
    # The general page: a known and an unknown number get the same answer (both recorded).
    form = site.client.get("/u/a/shop", headers=EN)
    assert form.status_code == 200
    assert "La Boutique" in form.text
    answers = [
        site.client.post("/u/a/shop", data={"csrf": _csrf(form.text), "number": number}, headers=EN)
        for number in ("+44 7911 123456", "+44 7912 345678")
    ]
    assert answers[0].status_code == answers[1].status_code == 200
    assert answers[0].text == answers[1].text
    assert sorted(row[0] or "" for row in _optouts(site.database)) == [
        "+447911123456",
        "+447912345678",
    ]


def test_a_number_that_is_none_is_asked_again_and_nothing_is_written(site: Site) -> None:
    form = site.client.get("/u/a/shop", headers=EN)
    answer = site.client.post(
        "/u/a/shop", data={"csrf": _csrf(form.text), "number": "12ab"}, headers=EN
    )
    assert answer.status_code == 422
    assert "country code" in answer.text
    assert 'value="12ab"' in answer.text
    bad_reason = site.client.post(
        f"/u/{site.token}", data={"csrf": _csrf(form.text), "reason": "spite"}, headers=EN
    )
    assert bad_reason.status_code == 422
    assert _optouts(site.database) == []


def test_posts_are_rate_limited_per_address(site: Site, database_url: str) -> None:
    with _client(database_url, limit=3) as client:
        csrf = _csrf(client.get(f"/u/{site.token}").text)
        codes = [client.post("/u/zzzzzzzzzz", data={"csrf": csrf}).status_code for _ in range(4)]
        limited = client.post(f"/u/{site.token}", data={"csrf": csrf})
        client.app.state.stopsms.close()  # type: ignore[attr-defined]
    assert codes == [404, 404, 404, 429]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert client.cookies.get(CSRF_COOKIE)
    assert _optouts(site.database) == []
