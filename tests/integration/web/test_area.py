"""The customer area over HTTP (Starlette's TestClient on the real server and database):
sign in, roles, anti-forgery, the composer's preview and fix, another account's campaign."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from stopsms.api.limits import Limits
from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.config import Settings
from stopsms.server import create_server
from stopsms.services.access.roles import Role
from stopsms.services.access.users import create_user, set_role
from stopsms.services.accounts.accounts import create_account
from stopsms.services.campaigns.campaigns import create_campaign
from stopsms.services.campaigns.preparation import prepare_campaign
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.builders import add_contacts, ready_account, tuesday_ahead

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def app(database_url: str) -> Iterator[App]:
    """``shop`` (marketing) with an owner, an editor and a viewer; ``alerts`` (notification)
    whose owner is also shop's editor; ``rival`` with its own owner."""
    application = App(Settings(database_url=database_url), actor="test")
    with application.transaction() as connection:
        for name in ("shop", "alerts", "rival"):
            create_account(connection, name, now=NOW)
        ready_account(connection, "shop", now=NOW)
        ready_account(connection, "alerts", now=NOW, type="notification")
        ready_account(connection, "rival", now=NOW)
        people = [{"phone_e164": "+33612345678"}, {"phone_e164": "+33612345679"}]
        add_contacts(connection, "clients", people, now=NOW, account="shop")
        for email, account, role in (
            ("owner@shop.fr", "shop", Role.OWNER),
            ("editor@shop.fr", "shop", Role.EDITOR),
            ("viewer@shop.fr", "shop", Role.VIEWER),
            ("owner@rival.fr", "rival", Role.OWNER),
        ):
            create_user(
                connection, email, PASSWORD, account=account, role=role, actor="test", now=NOW
            )
        set_role(connection, "editor@shop.fr", "alerts", Role.OWNER, actor="test", now=NOW)
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


def _sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    page = client.get("/login")
    answer: Response = client.post(
        "/login",
        data={"csrf": _csrf(page.text), "email": email, "password": password},
        follow_redirects=False,
    )
    return answer


def _preview(client: TestClient, text: str, **fields: str) -> Response:
    page = client.get("/campaigns/new")
    data = {"csrf": _csrf(page.text), "text": text, **fields}
    answer: Response = client.post("/campaigns/new/preview", data=data)
    return answer


def test_sign_in_with_the_right_password_only(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    wrong = _sign_in(client, "editor@shop.fr", "not the password")
    assert wrong.status_code == 401
    assert "ne correspondent" in wrong.text
    right = _sign_in(client, "editor@shop.fr")
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "alerts" in home.text
    assert "shop" in home.text
    out = client.post("/logout", data={"csrf": _csrf(home.text)}, follow_redirects=False)
    assert out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_form_without_its_anti_forgery_field_is_refused(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    refused = client.post("/login", data={"email": "editor@shop.fr", "password": PASSWORD})
    assert refused.status_code == 403
    assert "stopsms_session" not in refused.headers.get("set-cookie", "")


def test_the_composer_shows_ucs2_and_the_mention_then_fixes_it(client: TestClient) -> None:
    _sign_in(client, "viewer@shop.fr")
    text = "Soldes d’hiver : -30 % ce week-end"
    shown = _preview(client, text)
    assert shown.status_code == 200
    assert 'id="encoding">UCS-2<' in shown.text
    assert "’" in shown.text.split('id="ucs2"')[1]
    assert "STOP 36034" in shown.text
    page = client.get("/campaigns/new")
    fixed = client.post(
        "/campaigns/new", data={"csrf": _csrf(page.text), "text": text, "action": "fix"}
    )
    assert "Soldes d&#39;hiver" in fixed.text  # escaped by the template
    assert 'id="encoding">GSM-7<' in fixed.text


def test_a_viewer_cannot_send(client: TestClient) -> None:
    _sign_in(client, "viewer@shop.fr")
    page = client.get("/campaigns/new")
    assert 'value="draft"' not in page.text
    for action in ("draft", "schedule", "send"):
        data = {"csrf": _csrf(page.text), "text": "Bonjour", "list": "clients", "action": action}
        assert client.post("/campaigns/new", data=data).status_code == 403


def test_another_account_s_campaign_is_not_found(client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    switch = client.get("/")
    client.post("/account", data={"csrf": _csrf(switch.text), "account": "shop"})
    page = client.get("/campaigns/new")
    assert 'value="draft"' in page.text
    data = {"csrf": _csrf(page.text), "text": "Bonjour", "list": "clients", "action": "draft"}
    saved = client.post("/campaigns/new", data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    address = saved.headers["location"]
    shown = client.get(address)
    assert shown.status_code == 200
    assert 'id="ready">2<' in shown.text  # both contacts, counted before preparation
    assert 'id="credits">' in shown.text
    client.cookies.clear()
    _sign_in(client, "owner@rival.fr")
    assert client.get(address).status_code == 404


def test_the_mention_checkbox_only_on_a_notification_account(client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")  # first account by name: alerts (notification)
    assert 'name="mention"' in client.get("/campaigns/new").text
    without = _preview(client, "Votre colis arrive demain")
    assert "STOP 36034" not in without.text
    home = client.get("/")
    client.post("/account", data={"csrf": _csrf(home.text), "account": "shop"})
    assert 'name="mention"' not in client.get("/campaigns/new").text


def test_french_by_default_english_by_the_browser(client: TestClient) -> None:
    assert "Se connecter" in client.get("/login").text
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Sign in" in english.text
    assert english.headers["content-language"] == "en"


def test_htmx_is_served_by_the_app(client: TestClient) -> None:
    script = client.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert "htmx" in script.text[:200]
    assert client.get("/static/../area.py").status_code == 404


def test_the_blacklist_adds_and_removes_only_with_evidence(client: TestClient) -> None:
    _sign_in(client, "viewer@shop.fr")
    page = client.get("/blacklist")
    assert page.status_code == 200
    assert 'id="add"' not in page.text
    refused = {"csrf": _csrf(page.text), "action": "add", "phone": "06 12 34 56 78"}
    assert client.post("/blacklist", data=refused).status_code == 403
    client.cookies.clear()
    _sign_in(client, "editor@shop.fr")
    home = client.get("/")
    client.post("/account", data={"csrf": _csrf(home.text), "account": "shop"})
    page = client.get("/blacklist")
    added = client.post(
        "/blacklist", data={"csrf": _csrf(page.text), "action": "add", "phone": "06 12 34 56 78"}
    )
    assert "+33612345678" in added.text
    assert "manuel" in added.text
    assert 'id="total">1<' in added.text
    bare = {"csrf": _csrf(page.text), "action": "remove", "phone": "06 12 34 56 78"}
    refused_to_editor = client.post("/blacklist", data={**bare, "evidence": "e-mail"})
    assert refused_to_editor.status_code == 403  # lifting an opt-out is the owner's
    client.cookies.clear()
    _sign_in(client, "owner@shop.fr")
    page = client.get("/blacklist")
    bare = {"csrf": _csrf(page.text), "action": "remove", "phone": "06 12 34 56 78"}
    without = client.post("/blacklist", data={**bare, "evidence": " "})
    assert without.status_code == 422
    assert 'id="total">1<' in without.text
    lifted = client.post("/blacklist", data={**bare, "evidence": "e-mail du 1er décembre"})
    assert 'id="total">0<' in lifted.text
    assert "e-mail du 1er décembre" in lifted.text
    assert client.get("/blacklist?q=not-a-number").status_code == 200


def test_scheduled_at_night_shows_held_until_the_morning(client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    home = client.get("/")
    client.post("/account", data={"csrf": _csrf(home.text), "account": "shop"})
    page = client.get("/campaigns/new")
    night = tuesday_ahead(time(22, 30))
    data = {
        "csrf": _csrf(page.text),
        "text": "Soldes d'hiver",
        "list": "clients",
        "at": f"{night:%Y-%m-%dT%H:%M}",  # a Tuesday, 22:30 in Paris: marketing waits
        "action": "schedule",
    }
    saved = client.post("/campaigns/new", data=data)
    assert saved.status_code == 200, saved.text
    assert "programmée" in saved.text
    held = saved.text.split('id="held">')[1]
    assert held.startswith(f"{night + timedelta(days=1):%d/%m/%Y} "), held[:40]  # French


def test_send_now_hands_the_campaign_to_the_engine(client: TestClient) -> None:
    _sign_in(client, "editor@shop.fr")
    home = client.get("/")
    client.post("/account", data={"csrf": _csrf(home.text), "account": "shop"})
    page = client.get("/campaigns/new")
    assert 'id="send"' in page.text
    data = {"csrf": _csrf(page.text), "text": "Bonjour", "list": "clients", "action": "send"}
    sent = client.post("/campaigns/new", data=data)
    assert sent.status_code == 200
    assert 'id="status">programmée<' in sent.text  # due in seconds: the engine prepares it


def test_the_dashboard_shows_each_campaign_s_stop_percentage(app: App, client: TestClient) -> None:
    with app.transaction() as connection:
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes",
            sender=None,
            clock=FakeClock(NOW),
        ).campaign
    prepare_campaign(app.database, campaign.id, FakeClock(NOW))
    with app.transaction() as connection:
        connection.execute(
            update(t.messages)
            .where(t.messages.c.campaign_id == campaign.id)
            .values(status="delivered")
        )
        record_optout(
            connection,
            "shop",
            "+33612345678",
            source="keyword",
            detail="STOP",
            campaign_id=campaign.id,
        )
    _sign_in(client, "viewer@shop.fr")
    home = client.get("/")
    row = home.text.split(f'href="/campaigns/{campaign.id}"')[1].split("</tr>")[0]
    assert '<td class="stop-percent">50,0\u00a0%</td>' in row  # French


def test_the_header_s_switch_sets_the_language_for_every_page(client: TestClient) -> None:
    """A form (no JavaScript): French by default, the switch to English sets the ``lang``
    cookie, which beats the browser's language on the area and the unsubscribe page alike."""
    page = client.get("/login?next=x")
    assert 'action="/language"' in page.text
    assert 'value="/login?next=x"' in page.text  # back to the page it was on
    assert 'lang="en"' in page.text
    assert "English" in page.text
    switched = client.post(
        "/language",
        data={"csrf": _csrf(page.text), "lang": "en", "next": "/login?next=x"},
        follow_redirects=False,
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/login?next=x"
    assert client.cookies.get("lang") == "en"
    english = client.get("/login", headers={"Accept-Language": "fr-FR"})
    assert "Sign in" in english.text
    assert english.headers["content-language"] == "en"
    assert "Français" in english.text  # the way back
    assert "Unsubscribe" in client.get("/u/a/shop", headers={"Accept-Language": "fr"}).text
    back = client.post(
        "/language", data={"csrf": _csrf(english.text), "lang": "fr", "next": "/login"}
    )
    assert "Se connecter" in back.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_the_switch_goes_back_only_to_a_page_of_this_site(client: TestClient, target: str) -> None:
    page = client.get("/login")
    switched = client.post(
        "/language",
        data={"csrf": _csrf(page.text), "lang": "en", "next": target},
        follow_redirects=False,
    )
    assert switched.headers["location"] == "/"


def test_the_switch_needs_the_form_s_anti_forgery_value(client: TestClient) -> None:
    client.get("/login")
    refused = client.post("/language", data={"lang": "en", "next": "/"}, follow_redirects=False)
    assert refused.status_code == 403
    assert "lang" not in client.cookies


def test_an_unknown_language_changes_nothing(client: TestClient) -> None:
    page = client.get("/login")
    client.post("/language", data={"csrf": _csrf(page.text), "lang": "de", "next": "/login"})
    assert "lang" not in client.cookies
    client.cookies.set("lang", "xx")
    assert "Se connecter" in client.get("/login").text


def test_numbers_and_times_follow_the_page_s_language(app: App, client: TestClient) -> None:
    """The campaign's page in English writes ``12/1/26, 10:00 AM`` where French writes
    ``01/12/2026 10:00`` (Paris time both), and its credits with the language's marks."""
    with app.transaction() as connection:
        campaign = create_campaign(
            connection,
            "shop",
            list_name="clients",
            text="Soldes",
            sender=None,
            clock=FakeClock(NOW),
        ).campaign
        connection.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign.id)
            .values(status="scheduled", scheduled_at=NOW)
        )
    _sign_in(client, "viewer@shop.fr")
    french = client.get(f"/campaigns/{campaign.id}").text
    assert "01/12/2026 10:00" in french
    client.cookies.set("lang", "en")
    english = client.get(f"/campaigns/{campaign.id}").text
    assert "12/1/26, 10:00\u202fAM" in english
    credits = english.split('id="credits">')[1].split("<")[0]
    assert "." in credits, credits
    assert "," not in credits, credits
