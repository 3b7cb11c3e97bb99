"""The services the settings page adds: an account's members (role changes and removals that
never leave it without an owner, another account's user not found) and an endpoint disabled
by a person (nothing claimed for it until it is enabled again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stopsms.errors import NotFound
from stopsms.services.access.audit import audit_entries
from stopsms.services.access.roles import Role
from stopsms.services.access.users import (
    LastOwner,
    change_member_role,
    create_user,
    find_user,
    list_members,
    remove_member,
    verify_login,
)
from stopsms.services.accounts.accounts import create_account
from stopsms.services.webhooks import endpoints
from stopsms.services.webhooks.deliveries import claim_due
from stopsms.services.webhooks.events import record_event
from stopsms.store.database import Database

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


def test_members_change_and_leave_but_one_owner_stays(database: Database) -> None:
    with database.transaction() as conn:
        shop = create_account(conn, "shop", now=NOW)
        other = create_account(conn, "other", now=NOW)
        for email, account, role in (
            ("ana@shop.fr", "shop", Role.OWNER),
            ("bob@shop.fr", "shop", Role.EDITOR),
            ("eve@other.fr", "other", Role.OWNER),
        ):
            create_user(conn, email, PASSWORD, account=account, role=role, actor="t", now=NOW)
        ana, bob, eve = (find_user(conn, e) for e in ("ANA@shop.fr", "bob@shop.fr", "eve@other.fr"))
        assert ana is not None
        assert bob is not None
        assert eve is not None
        assert [(m.email, m.role) for m in list_members(conn, shop.id)] == [
            ("ana@shop.fr", "owner"),
            ("bob@shop.fr", "editor"),
        ]
        with pytest.raises(LastOwner, match="only owner"):
            change_member_role(conn, shop.id, ana, Role.VIEWER, actor="t", now=NOW)
        with pytest.raises(LastOwner):
            remove_member(conn, shop.id, ana, actor="t", now=NOW)
        with pytest.raises(NotFound):
            remove_member(conn, shop.id, eve, actor="t", now=NOW)
        change_member_role(conn, shop.id, bob, Role.OWNER, actor="t", now=NOW)
        change_member_role(conn, shop.id, ana, Role.VIEWER, actor="t", now=NOW)
        remove_member(conn, shop.id, ana, actor="t", now=NOW)
        assert [(m.email, m.role) for m in list_members(conn, shop.id)] == [
            ("bob@shop.fr", "owner")
        ]
        assert [m.email for m in list_members(conn, other.id)] == ["eve@other.fr"]
        user = verify_login(conn, "ana@shop.fr", PASSWORD)  # the user stays, without the role
        assert user is not None
        assert user.roles == {}
        assert audit_entries(conn, shop.id)[0].action == "role.removed"


def test_an_endpoint_disabled_by_hand_gets_nothing_until_enabled(database: Database) -> None:
    with database.transaction() as conn:
        shop = create_account(conn, "shop", now=NOW)
        other = create_account(conn, "other", now=NOW)
        hook = endpoints.add_endpoint(
            conn, shop.id, "http://127.0.0.1:9/in", ["*"], NOW, allow_private=True
        )
        record_event(conn, shop.id, "credits.low", {"n": 1}, NOW)
        with pytest.raises(NotFound):
            endpoints.disable_endpoint(conn, other.id, hook.id, NOW, reason="by eve")
        off = endpoints.disable_endpoint(conn, shop.id, hook.id, NOW, reason="by ana")
        again = endpoints.disable_endpoint(conn, shop.id, hook.id, NOW + timedelta(1), reason="x")
        assert (off.enabled, off.disabled_reason) == (False, "by ana")
        assert again.disabled_at == off.disabled_at
        assert claim_due(conn, NOW + timedelta(minutes=1), 10) == []
        endpoints.enable_endpoint(conn, shop.id, hook.id, NOW + timedelta(minutes=2))
        assert len(claim_due(conn, NOW + timedelta(minutes=2), 10)) == 1
