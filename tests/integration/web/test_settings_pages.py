"""The settings, credits and replies pages over HTTP (the real server and database), and
every route of the blacklist, credits and settings routers — generated from their route
tables, so a new route cannot escape — without a session, without the anti-forgery field,
with too low a role, and with another account's ids."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from stopsms.services.access.audit import audit_entries
from stopsms.services.accounts.accounts import get_account
from stopsms.services.accounts.credits import add_credits
from stopsms.store import tables as t
from stopsms.web import blacklist, credits, settings
from tests.integration.web.conftest import NOW, PASSWORD, World, sign_in

ROUTES = [
    route
    for module in (blacklist, credits, settings)
    for route in module.router.routes
    if isinstance(route, APIRoute)
]
#: The role each changing route needs (the module docs').
NEEDS = {"/blacklist": "editor", "/credits": "owner", "/settings": "owner"}


def _path(route: APIRoute, world: World) -> str:
    ids = {
        "key_id": world.rival.key_id,
        "endpoint_id": world.rival.endpoint_id,
        "delivery_id": world.rival.delivery_id,
        "optout_id": world.rival.optout_id,
        "user_id": world.rival.user_id,
    }
    return route.path.format(**ids)


def _needs(route: APIRoute) -> str:
    return next(role for prefix, role in NEEDS.items() if route.path.startswith(prefix))


def _methods(route: APIRoute) -> set[str]:
    return set(route.methods or ())


def _actions(world: World) -> list[tuple[str, str]]:
    return [(method, _path(r, world)) for r in ROUTES for method in sorted(_methods(r))]


def test_every_route_without_a_session_goes_to_the_login_page(
    world: World, client: TestClient
) -> None:
    assert len(ROUTES) >= 20
    for method, path in _actions(world):
        answer = client.request(method, path, follow_redirects=False)
        assert answer.status_code == 303, (method, path)
        assert answer.headers["location"] == "/login"


def test_every_post_without_the_anti_forgery_field_is_refused(
    world: World, client: TestClient
) -> None:
    sign_in(client, "owner@shop.fr", "shop")
    for method, path in _actions(world):
        if method == "POST":
            answer = client.post(path, data={"phone": "0612345678", "sender": "X"})
            assert answer.status_code == 403, path
            assert "expiré" in answer.text


def test_every_post_needs_its_role(world: World, client: TestClient) -> None:
    form = sign_in(client, "viewer@shop.fr")
    for route in ROUTES:
        if "POST" in _methods(route):
            answer = client.post(_path(route, world), data={"csrf": form})
            assert answer.status_code == 403, route.path
            assert "rôle" in answer.text
    form = sign_in(client, "editor@shop.fr")
    for route in ROUTES:
        if "POST" in _methods(route) and _needs(route) == "owner":
            answer = client.post(_path(route, world), data={"csrf": form})
            assert answer.status_code == 403, route.path


def test_another_account_s_records_are_not_found(world: World, client: TestClient) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    with_ids = [r for r in ROUTES if "{" in r.path]
    assert len(with_ids) >= 8
    for route in with_ids:
        data = {"csrf": form, "evidence": "not one", "role": "viewer"}
        answer = client.post(_path(route, world), data=data)
        assert answer.status_code == 404, route.path
        assert "n'existe pas" in answer.text or "n’existe pas" in answer.text
    huge = client.post("/settings/keys/99999999999/revoke", data={"csrf": form})
    assert huge.status_code == 404
    with world.app.reader() as connection:  # nothing of rival's changed
        key = connection.execute(select(t.api_keys).where(t.api_keys.c.id == world.rival.key_id))
        assert key.one().revoked_at is None
        members = connection.execute(select(t.memberships)).all()
        assert any(m.user_id == world.rival.user_id for m in members)


def test_another_account_s_pages_show_its_own_data_only(world: World, client: TestClient) -> None:
    sign_in(client, "owner@shop.fr", "shop")
    assert "rival key" not in client.get("/settings").text
    assert "127.0.0.1:9" not in client.get("/settings").text
    assert "+33699999999" not in client.get("/blacklist").text
    sign_in(client, "owner@rival.fr")
    page = client.get("/settings").text
    assert "rival key" in page
    assert "owner@shop.fr" not in page
    assert "+33699999999" in client.get("/blacklist").text


def test_an_owner_creates_a_key_shown_once_then_revokes_it(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    created = client.post(
        "/settings/keys", data={"csrf": form, "name": "boutique", "role": "editor"}
    )
    assert created.status_code == 200
    key = created.text.split('id="new-key">')[1].split("<")[0]
    assert key.startswith("ssk_")
    page = client.get("/settings").text
    assert "boutique" in page
    assert key not in page  # shown once
    prefix = key.split("_")[1]
    assert f"ssk_{prefix}_" in page
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
        key_id = connection.scalar(select(t.api_keys.c.id).where(t.api_keys.c.prefix == prefix))
        assert key_id is not None
    revoked = client.post(f"/settings/keys/{key_id}/revoke", data={"csrf": form})
    assert revoked.status_code == 200
    assert "révoquée" in revoked.text
    with world.app.reader() as connection:
        actions = [e.action for e in audit_entries(connection, shop.id)]
    assert actions[:2] == ["api_key.revoked", "api_key.created"]


def test_a_notification_account_switches_the_mention_off_a_marketing_one_cannot(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "alerts")
    page = client.get("/settings").text
    assert 'id="mention-off"' in page
    off = client.post("/settings/mention", data={"csrf": form, "mention": "off"})
    assert off.status_code == 200
    assert 'id="mention-on"' in off.text
    assert "aucune (compte de notification)" in off.text
    form = sign_in(client, "owner@shop.fr", "shop")
    page = client.get("/settings").text
    assert 'id="mention-off"' not in page
    assert 'action="/settings/mention"' not in page
    forged = client.post("/settings/mention", data={"csrf": form, "mention": "off"})
    assert forged.status_code == 422
    assert "only a notification account may send without STOP" in forged.text
    with world.app.reader() as connection:
        assert get_account(connection, "shop").mention_enabled
        assert not get_account(connection, "alerts").mention_enabled
        alerts = get_account(connection, "alerts")
        entries = audit_entries(connection, alerts.id)
    assert entries[0].action == "account.updated"
    assert entries[0].detail == {"mention_enabled": False}
    assert entries[0].actor == "user:owner@shop.fr"


def test_settings_that_would_defeat_a_rule_are_refused_with_a_sentence(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    refusals = [
        ({"mention_format": "Desabonnement {shortcode}"}, "mention_format"),
        ({"unsubscribe_url": "https://example.com/stop"}, "unsubscribe_url"),
        ({"shortcode": "12"}, "3 to 8 digits"),
        ({"window_policy": "all-night"}, "all-night"),
    ]
    for fields, words in refusals:
        answer = client.post("/settings", data={"csrf": form, **fields})
        assert answer.status_code == 422, fields
        assert words in answer.text
    for fields, words in (
        ({"sender": "SMS"}, "sender"),
        ({"domain": "co.uk"}, "public suffix"),
    ):
        path = "/settings/senders" if "sender" in fields else "/settings/domains"
        answer = client.post(path, data={"csrf": form, **fields})
        assert answer.status_code == 422, fields
        assert words in answer.text
    hook = client.post(
        "/settings/webhooks", data={"csrf": form, "url": "ftp://shop.fr/x", "events": "*"}
    )
    assert hook.status_code == 422
    assert "only http:// and https://" in hook.text
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
        assert shop.mention_format == "STOP {shortcode}"
        assert shop.shortcode == "36034"
        by_owner = [e for e in audit_entries(connection, shop.id) if e.actor != "test"]
        assert by_owner == []


def test_an_owner_changes_settings_senders_domains_audited(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    changed = client.post(
        "/settings",
        data={
            "csrf": form,
            "brand": "Ma Boutique",
            "shortcode": "36034",
            "mention_format": "STOP au {shortcode}",
            "window_policy": "fr-af2m-2024",
            "optout_scope": "sender",
            "unsubscribe_url": "",
        },
    )
    assert changed.status_code == 200
    assert "STOP au 36034" in changed.text
    client.post("/settings/senders", data={"csrf": form, "sender": "SOLDES"})
    client.post("/settings/domains", data={"csrf": form, "domain": "shop.fr"})
    page = client.post("/settings/domains/remove", data={"csrf": form, "domain": "shop.fr"}).text
    assert "SOLDES" in page
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
        assert (shop.brand, shop.window_policy, shop.optout_scope) == (
            "Ma Boutique",
            "fr-af2m-2024",
            "sender",
        )
        entries = [e for e in audit_entries(connection, shop.id) if e.actor != "test"]
    assert [e.action for e in entries] == [
        "domain.removed",
        "domain.added",
        "sender.added",
        "account.updated",
    ]
    assert entries[-1].detail == {
        "brand": "Ma Boutique",
        "mention_format": "STOP au {shortcode}",
        "window_policy": "fr-af2m-2024",
        "optout_scope": "sender",
    }


def test_webhooks_created_disabled_and_a_delivery_replayed(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@rival.fr")
    page = client.get("/settings").text
    assert "credits.low" in page  # the delivery log
    created = client.post(
        "/settings/webhooks",
        data={"csrf": form, "url": "http://127.0.0.1:8/in", "events": ["optout.created"]},
    )
    assert created.status_code == 200
    secret = created.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in client.get("/settings").text
    endpoint = world.rival.endpoint_id
    off = client.post(f"/settings/webhooks/{endpoint}/disable", data={"csrf": form})
    assert "désactivé" in off.text.split(f'id="endpoint-{endpoint}"')[1].split("</tr>")[0]
    replay = client.post(
        f"/settings/deliveries/{world.rival.delivery_id}/replay", data={"csrf": form}
    )
    assert replay.status_code == 200
    with world.app.reader() as connection:
        row = connection.execute(
            select(t.webhook_endpoints).where(t.webhook_endpoints.c.id == endpoint)
        ).one()
        assert not row.enabled
        assert row.disabled_reason == "disabled by user:owner@rival.fr"
        rival = get_account(connection, "rival")
        actions = [e.action for e in audit_entries(connection, rival.id)]
    assert actions[:3] == ["webhook.replayed", "webhook.updated", "webhook.created"]


def test_users_are_added_changed_and_removed_but_an_owner_stays(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    short = client.post(
        "/settings/users",
        data={"csrf": form, "email": "new@shop.fr", "role": "editor", "password": "short"},
    )
    assert short.status_code == 422
    assert "12 characters" in short.text
    added = client.post(
        "/settings/users",
        data={
            "csrf": form,
            "email": "new@shop.fr",
            "role": "editor",
            "password": PASSWORD,
        },
    )
    assert "new@shop.fr" in added.text
    existing = client.post(
        "/settings/users", data={"csrf": form, "email": "owner@rival.fr", "role": "viewer"}
    )
    assert "owner@rival.fr" in existing.text
    with world.app.reader() as connection:
        owner_id = connection.scalar(select(t.users.c.id).where(t.users.c.email == "owner@shop.fr"))
    demoted = client.post(f"/settings/users/{owner_id}/role", data={"csrf": form, "role": "viewer"})
    assert demoted.status_code == 422
    assert "only owner" in demoted.text
    gone = client.post(f"/settings/users/{owner_id}/remove", data={"csrf": form})
    assert gone.status_code == 422
    removed = client.post(f"/settings/users/{world.rival.user_id}/remove", data={"csrf": form})
    assert removed.status_code == 200
    assert "owner@rival.fr" not in removed.text.split('id="members"')[1].split("</table>")[0]
    sign_in(client, "new@shop.fr")  # the new user signs in with the password the owner gave


def test_the_credits_page_threshold_and_a_transfer_between_owned_accounts(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    page = client.get("/credits").text
    assert 'id="balance">1 000<' in page
    assert "alerts" in page.split('id="target"')[1].split("</select>")[0]
    assert "rival" not in page.split('id="target"')[1].split("</select>")[0]
    set_low = client.post("/credits/threshold", data={"csrf": form, "threshold": "1 500"})
    assert 'id="low"' in set_low.text
    bad = client.post("/credits/threshold", data={"csrf": form, "threshold": "lots"})
    assert bad.status_code == 422
    assert "credits" in bad.text
    moved = client.post(
        "/credits/transfer", data={"csrf": form, "target": "alerts", "amount": "250"}
    )
    assert moved.status_code == 200
    assert 'id="balance">750<' in moved.text
    not_owned = client.post(
        "/credits/transfer", data={"csrf": form, "target": "rival", "amount": "1"}
    )
    assert not_owned.status_code == 422
    assert "no account &#39;rival&#39;" in not_owned.text
    too_much = client.post(
        "/credits/transfer", data={"csrf": form, "target": "alerts", "amount": "5000"}
    )
    assert too_much.status_code == 422
    with world.app.reader() as connection:
        shop, alerts = get_account(connection, "shop"), get_account(connection, "alerts")
        rival = get_account(connection, "rival")
        assert (shop.balance_millicredits, alerts.balance_millicredits) == (750_000, 1_250_000)
        assert rival.balance_millicredits == 1_000_000
        assert audit_entries(connection, alerts.id)[0].action == "credits.transferred_in"
        shop_actions = [e.action for e in audit_entries(connection, shop.id)]
    assert shop_actions[:2] == ["credits.transferred_out", "account.updated"]


def test_the_ledger_and_the_replies_are_paged_newest_first(
    world: World, client: TestClient
) -> None:
    with world.app.transaction() as connection:
        shop = get_account(connection, "shop")
        for n in range(60):
            add_credits(connection, shop, 1000, reference=f"top-up {n}", now=NOW)
        # Rows as the inbound handler stores them: which account a reply reaches is the
        # handler's test (test_inbound.py); the inbox only reads them back.
        connection.execute(
            insert(t.inbound_messages),
            [
                {
                    "account_id": shop.id,
                    "sender_e164": "+33612345678",
                    "recipient": "36034",
                    "text": f"reply {n}" if n != 59 else "merci mais stop",
                    "intent": "other" if n != 59 else "optout",
                    "certain": n != 59,
                    "campaign_id": world.campaign_id if n == 59 else None,
                    "received_at": NOW + timedelta(minutes=n),
                }
                for n in range(60)
            ],
        )
    sign_in(client, "viewer@shop.fr")
    ledger = client.get("/credits").text
    assert "top-up 59" in ledger
    assert "top-up 5<" not in ledger
    assert "top-up 5<" in client.get("/credits?offset=50").text
    inbox = client.get("/replies").text
    first = inbox.split("<tbody>")[1].split("</tr>")[0]
    assert "merci mais stop" in first
    assert "désinscription (STOP) (incertain)" in first
    assert f'href="/campaigns/{world.campaign_id}"' in first
    assert "reply 0<" not in inbox
    assert 'id="older"' in inbox
    assert "reply 0<" in client.get("/replies?offset=50").text


@pytest.mark.parametrize("email", ["viewer@shop.fr", "editor@shop.fr"])
def test_editors_and_viewers_read_the_settings_without_forms(
    world: World, client: TestClient, email: str
) -> None:
    sign_in(client, email)
    page = client.get("/settings")
    assert page.status_code == 200
    assert "STOP 36034" in page.text
    assert 'action="/settings/keys"' not in page.text
    assert 'action="/settings"' not in page.text
    assert 'action="/credits/transfer"' not in client.get("/credits").text
