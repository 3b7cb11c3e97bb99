"""The server's cache of verified API keys: fresh entries only, last use kept to the minute,
a revoked key forgotten, the table bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stopsms.app.principals import KEY_CACHE_LIFETIME, VerifiedKeys
from stopsms.services.access.keys import Principal
from stopsms.services.access.roles import Role

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _principal(key_id: int, last_used: datetime | None = NOW) -> Principal:
    return Principal(1, "shop", Role.EDITOR, f"api_key:{key_id}", key_id, last_used)


def test_a_key_is_believed_for_the_lifetime_then_read_again() -> None:
    keys = VerifiedKeys()
    keys.put("ssk_a", _principal(1), NOW)
    assert keys.get("ssk_a", NOW + KEY_CACHE_LIFETIME - timedelta(microseconds=1)) is not None
    assert keys.get("ssk_a", NOW + KEY_CACHE_LIFETIME) is None
    assert keys.get("ssk_b", NOW) is None


def test_an_entry_whose_last_use_is_a_minute_old_is_refused_so_the_use_is_written() -> None:
    keys = VerifiedKeys(timedelta(minutes=5))
    keys.put("ssk_a", _principal(1, NOW - timedelta(seconds=59)), NOW)
    assert keys.get("ssk_a", NOW) is not None
    assert keys.get("ssk_a", NOW + timedelta(seconds=1)) is None
    keys.put("ssk_b", _principal(2, None), NOW)
    assert keys.get("ssk_b", NOW) is None


def test_a_forgotten_key_is_refused_and_the_others_kept() -> None:
    keys = VerifiedKeys()
    keys.put("ssk_a", _principal(1), NOW)
    keys.put("ssk_b", _principal(2), NOW)
    keys.forget(1)
    assert keys.get("ssk_a", NOW) is None
    assert keys.get("ssk_b", NOW) == _principal(2)


def test_the_table_is_bounded() -> None:
    keys = VerifiedKeys(max_keys=3)
    for n in range(3):
        keys.put(f"ssk_{n}", _principal(n), NOW)
    later = NOW + KEY_CACHE_LIFETIME
    keys.put("ssk_new", _principal(9, later), later)  # the three expired ones are dropped
    assert keys.get("ssk_new", later) is not None
    assert len(keys) == 1
    for n in range(3):
        keys.put(f"ssk_{n}", _principal(n, later), later)  # full of fresh ones: all dropped
    assert len(keys) == 1
