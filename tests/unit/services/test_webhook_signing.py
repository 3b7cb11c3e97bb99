"""Signatures verify with the ``standardwebhooks`` library; the back-off spans one day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from stopsms.services.webhooks.deliveries import MAX_ATTEMPTS, RETRY_FOR, payload, retry_delay
from stopsms.services.webhooks.deliveries import schedule as retry_schedule
from stopsms.services.webhooks.signing import headers, new_secret


def test_a_request_verifies_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = payload("optout.created", datetime(2026, 12, 4, tzinfo=UTC), {"phone": "+33612345678"})
    sent = headers("evt_42", datetime.now(UTC), body, [secret])
    parsed = Webhook(secret).verify(body, sent)
    assert parsed == {
        "type": "optout.created",
        "timestamp": "2026-12-04T00:00:00+00:00",
        "data": {"phone": "+33612345678"},
    }
    assert sent["webhook-id"] == "evt_42"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"612", b"699"), sent)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    body = json.dumps({"type": "credits.low"}).encode()
    sent = headers("evt_1", datetime.now(UTC), body, [new, old])
    assert len(sent["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, sent)
    Webhook(old).verify(body, sent)


def test_the_back_off_grows_threefold_from_5_seconds_to_at_most_6_hours() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 6)] == [5, 15, 45, 135, 405]
    assert retry_delay(9) == timedelta(hours=6)
    assert retry_delay(30) == timedelta(hours=6)


def test_retries_last_about_a_day_and_no_longer() -> None:
    at = retry_schedule()
    assert len(at) == MAX_ATTEMPTS == 12
    assert at[0] == timedelta(0)
    assert at[-1] <= RETRY_FOR < at[-1] + retry_delay(len(at))
    assert at[-1] > RETRY_FOR - timedelta(hours=2)  # the last try is late in the day
