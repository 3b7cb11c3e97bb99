"""The dispatcher's last check: no placeholder shortcode or link reaches the wire (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stopsms.clock import FakeClock
from stopsms.engine.dispatcher import Dispatcher
from stopsms.services.messages.outbox import Claimed


class _Provider:
    name = "fake"
    throughput = float("inf")

    def __init__(self, substitution: bool) -> None:
        self.shortcode_substitution = substitution


@pytest.mark.parametrize("substitution", [False, True])
def test_the_dispatcher_excludes_placeholders_before_the_wire(substitution: bool) -> None:
    """A message prepared under one provider and sent through another never leaves with a
    placeholder: the dispatcher's pre-wire check excludes it (issue 12, items 2 and 3)."""

    def claimed(ref: int, text: str, sender: str, kind: str = "marketing") -> Claimed:
        return Claimed(ref, 1, 1, "+33612345678", "FR", sender, kind, 100, text, "GSM-7", 1, 0, 0)

    clock = FakeClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    dispatcher = Dispatcher(None, _Provider(substitution), clock)  # type: ignore[arg-type]
    messages = [
        claimed(1, "Promo STOP 00000", "BOUTIQUE", kind="informative"),
        claimed(2, "Code 1234", "00000", kind="informative"),
        claimed(3, "Promo STOP: https://stopsms.invalid/u", "BOUTIQUE", kind="informative"),
        claimed(4, "Promo STOP 36034", "BOUTIQUE", kind="informative"),
        claimed(5, "Vous ne recevrez plus de SMS", "00000", kind="confirmation"),
        # The hosted page's link: with its own token it leaves, untokenised it never does.
        claimed(6, "Promo STOP: https://sms.shop.fr/u/__________", "BOUTIQUE"),
        claimed(7, "Promo STOP: https://sms.shop.fr/u/3kT9xQ2bZa", "BOUTIQUE"),
    ]
    chunk = dispatcher._check(messages, ({}, {}))
    sent = [m.id for m in chunk.sendable]
    assert chunk.excluded.get("no_unsubscribe_page") == [3, 6]
    if substitution:
        assert chunk.excluded.get("placeholder_shortcode") == [2]
        assert sent == [1, 4, 5, 7]
    else:
        assert chunk.excluded.get("placeholder_shortcode") == [1, 2]
        assert sent == [4, 5, 7]
