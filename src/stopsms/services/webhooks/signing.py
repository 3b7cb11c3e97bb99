"""Secrets and signatures of the Standard Webhooks scheme (https://www.standardwebhooks.com).

A secret is ``whsec_`` + base64 of 32 random bytes. A request carries ``webhook-id`` (the
event's id, the same on every retry: receivers deduplicate on it), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, computed by the ``standardwebhooks`` library; during a rotation, one
signature per live secret separated by a space, so a receiver verifies with either.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["event_id", "headers", "new_secret"]

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A new ``whsec_`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_id(event: int) -> str:
    """The ``webhook-id`` of event number ``event``: ``evt_<n>``."""
    return f"evt_{event}"


def headers(message_id: str, at: datetime, body: bytes, secrets_: Sequence[str]) -> dict[str, str]:
    """The three signature headers (and the content type) for ``body`` sent at ``at``."""
    signature = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
