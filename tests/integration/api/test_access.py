"""Keys, roles, the audit log and rate limits, over HTTP and in the services."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.api.limits import Limits
from stopsms.app import App
from stopsms.app.principals import KEY_CACHE_LIFETIME
from stopsms.clock import FakeClock
from stopsms.server import create_server
from stopsms.services.access import users
from stopsms.services.access.audit import audit_entries
from stopsms.services.access.keys import revoke_key
from stopsms.services.access.roles import Role
from stopsms.store import tables as t
from tests.integration.api.conftest import OPEN, Keys, bearer


def _audit(app: App, account: str = "shop") -> list[tuple[str, dict[str, object] | None]]:
    with app.reader() as connection:
        account_id = connection.execute(
            select(t.accounts.c.id).where(t.accounts.c.name == account)
        ).scalar_one()
        return [(e.action, e.detail) for e in audit_entries(connection, account_id)]


def test_a_key_is_shown_once_listed_by_prefix_and_revoked_at_once(
    client: TestClient, keys: Keys, app: App
) -> None:
    created = client.post(
        "/v1/apikeys", json={"name": "shop site", "role": "viewer"}, headers=bearer(keys.owner)
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith(f"ssk_{created.json()['prefix']}_")
    assert client.get("/v1/messages", headers=bearer(key)).status_code == 200
    listed = client.get("/v1/apikeys", headers=bearer(keys.owner))
    assert key not in listed.text
    assert created.json()["prefix"] in listed.text
    revoked = client.delete(f"/v1/apikeys/{created.json()['id']}", headers=bearer(keys.owner))
    assert revoked.json()["revoked_at"] is not None
    answer = client.get("/v1/messages", headers=bearer(key))
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_api_key")
    actions = _audit(app)
    assert actions[0][0] == "api_key.revoked"
    assert actions[1][0] == "api_key.created"
    assert key not in str(actions)
    with app.reader() as connection:
        stored = connection.execute(select(t.api_keys.c.key_hash, t.api_keys.c.prefix)).all()
    assert all(key not in row for row in stored)


def test_a_key_revoked_elsewhere_reads_for_at_most_the_cache_lifetime_and_never_sends(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    headers = bearer(keys.editor)
    assert client.get("/v1/messages", headers=headers).status_code == 200  # verified, cached
    with app.transaction() as connection:  # revoked as the CLI does: not through this server
        key_id = connection.execute(
            select(t.api_keys.c.id).where(t.api_keys.c.name == "editor")
        ).scalar_one()
        revoke_key(connection, "shop", key_id, actor="cli:test", now=OPEN)
    sent = client.post(
        "/v1/messages",
        json={"to": "0612000001", "text": "Code 1", "type": "informative"},
        headers=headers,
    )
    assert (sent.status_code, sent.json()["code"]) == (401, "invalid_api_key")
    assert sent.headers["WWW-Authenticate"] == "Bearer"
    with app.reader() as connection:
        assert connection.execute(select(t.messages.c.id)).first() is None
    clock.advance(KEY_CACHE_LIFETIME.total_seconds() - 1)
    assert client.get("/v1/messages", headers=headers).status_code == 200  # the stated bound
    clock.advance(1)
    answer = client.get("/v1/messages", headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_api_key")


def test_a_busy_key_is_read_once_per_cache_lifetime_and_its_last_use_kept_to_the_minute(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    def last_use() -> object:
        with app.reader() as connection:
            return connection.execute(
                select(t.api_keys.c.last_used_at).where(t.api_keys.c.name == "viewer")
            ).scalar_one()

    for _ in range(3):
        assert client.get("/v1/messages", headers=bearer(keys.viewer)).status_code == 200
    first = last_use()
    assert first is not None
    clock.advance(61)
    assert client.get("/v1/messages", headers=bearer(keys.viewer)).status_code == 200
    assert last_use() != first  # a minute later the cached entry is not enough: written again


def test_roles_decide_what_a_key_may_do(client: TestClient, keys: Keys) -> None:
    for key in (keys.editor, keys.viewer):
        answer = client.get("/v1/account", headers=bearer(key))
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert client.get("/v1/account", headers=bearer(keys.owner)).json()["name"] == "shop"


def test_account_settings_change_with_an_audit_entry_and_bad_values_name_their_field(
    client: TestClient, keys: Keys, app: App
) -> None:
    changed = client.patch("/v1/account", json={"brand": "Ma Boutique"}, headers=bearer(keys.owner))
    assert changed.json()["brand"] == "Ma Boutique"
    assert _audit(app)[0] == ("account.updated", {"brand": "Ma Boutique"})
    for body, field in (({"shortcode": "12"}, "shortcode"), ({"type": "notification"}, "type")):
        answer = client.patch("/v1/account", json=body, headers=bearer(keys.owner))
        assert (answer.status_code, answer.json()["field"]) == (422, field)
    assert client.get("/v1/account", headers=bearer(keys.owner)).json()["shortcode"] == "36034"


def test_the_account_s_time_zone_is_set_over_the_api_and_a_bad_one_named(
    client: TestClient, keys: Keys, app: App
) -> None:
    assert client.get("/v1/account", headers=bearer(keys.owner)).json()["time_zone"] == (
        "Europe/Paris"
    )
    body = {"time_zone": "Europe/Brussels"}
    changed = client.patch("/v1/account", json=body, headers=bearer(keys.owner))
    assert changed.json()["time_zone"] == "Europe/Brussels"
    assert _audit(app)[0] == ("account.updated", {"time_zone": "Europe/Brussels"})
    for bad in ("Brussels", "CET", "../etc/localtime"):
        answer = client.patch("/v1/account", json={"time_zone": bad}, headers=bearer(keys.owner))
        assert (answer.status_code, answer.json()["field"]) == (422, "time_zone"), bad
    answer = client.patch("/v1/account", json=body, headers=bearer(keys.editor))
    assert answer.status_code == 403
    assert client.get("/v1/account", headers=bearer(keys.owner)).json()["time_zone"] == (
        "Europe/Brussels"
    )


def test_last_use_is_written_at_most_once_a_minute(
    client: TestClient, keys: Keys, app: App, clock: FakeClock
) -> None:
    def last_used() -> object:
        with app.reader() as connection:
            return connection.execute(
                select(t.api_keys.c.last_used_at).where(t.api_keys.c.role == "viewer")
            ).scalar_one()

    assert last_used() is None
    client.get("/v1/messages", headers=bearer(keys.viewer))
    assert last_used() == OPEN
    clock.advance(30)
    client.get("/v1/messages", headers=bearer(keys.viewer))
    assert last_used() == OPEN
    clock.advance(31)
    client.get("/v1/messages", headers=bearer(keys.viewer))
    assert last_used() == OPEN + timedelta(seconds=61)


def test_rate_limits_per_key_and_per_ip(app: App, keys: Keys, clock: FakeClock) -> None:
    server = create_server(app, limits=Limits(per_key=0.01, key_burst=2, per_ip=0), clock=clock)
    with TestClient(server) as client:
        answers = [client.get("/v1/messages", headers=bearer(keys.viewer)) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["code"] == "rate_limited"
        assert int(answers[2].headers["retry-after"]) >= 1
        # Another key has its own bucket.
        assert client.get("/v1/messages", headers=bearer(keys.editor)).status_code == 200
    by_ip = create_server(app, limits=Limits(per_key=0, per_ip=0.01, ip_burst=1), clock=clock)
    with TestClient(by_ip) as client:
        assert client.get("/v1/messages", headers=bearer("ssk_guess")).status_code == 401
        assert client.get("/v1/messages", headers=bearer("ssk_guess")).status_code == 429


def test_users_have_argon2id_passwords_and_a_role_per_account(app: App, keys: Keys) -> None:
    with app.transaction() as connection:
        user = users.create_user(
            connection,
            "Ana@Shop.fr",
            "correct horse battery",
            account="shop",
            role=Role.EDITOR,
            actor="test",
            now=OPEN,
        )
        users.set_role(connection, "ana@shop.fr", "rival", Role.VIEWER, actor="test", now=OPEN)
        stored = connection.execute(select(t.users.c.password_hash)).scalar_one()
    assert (user.email, user.roles) == ("ana@shop.fr", {"shop": "editor"})
    assert stored.startswith("$argon2id$")
    with app.reader() as connection:
        assert users.verify_login(connection, "ana@shop.fr", "correct horse battery") is not None
        assert users.verify_login(connection, "ana@shop.fr", "wrong horse battery") is None
        assert users.verify_login(connection, "bob@shop.fr", "correct horse battery") is None
        assert users.list_users(connection)[0].roles == {"rival": "viewer", "shop": "editor"}
    assert _audit(app, "rival")[0] == ("role.set", {"email": "ana@shop.fr", "role": "viewer"})
