"""The dispatcher's last check on length: nothing above the protocol's 255 parts reaches the
wire, whatever wrote the outbox row (issue 12, item 7)."""

from __future__ import annotations

from datetime import UTC, datetime

from stopsms.clock import FakeClock
from stopsms.engine.dispatcher import Dispatcher
from stopsms.services.messages.outbox import Claimed


class _Provider:
    name = "fake"
    throughput = float("inf")
    shortcode_substitution = False


def _claimed(ref: int, text: str, segments: int, encoding: str = "GSM-7") -> Claimed:
    return Claimed(
        ref, 1, 1, "+33612345678", "FR", "BOUTIQUE", "informative", 10, text, encoding, segments,
        0, 0,
    )  # fmt: skip


def test_the_dispatcher_never_submits_more_than_255_parts() -> None:
    """Fails on main: a 256-part row (written by hand, by an older version, or stored with a
    wrong part count) was submitted."""
    clock = FakeClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    dispatcher = Dispatcher(None, _Provider(), clock)  # type: ignore[arg-type]
    mention = " STOP 36034"
    messages = [
        _claimed(1, "x" * (255 * 153 - len(mention)) + mention, 255),  # exactly 255: leaves
        _claimed(2, "x" * (255 * 153) + mention, 1),  # 256 parts, stored as 1
        _claimed(3, "Promo" + mention, 300),  # the stored count says too many
        _claimed(4, "x" * (255 * 67 + 1), 112, "UCS-2"),  # 256 parts in the coding it leaves in
        _claimed(5, "Promo" + mention, 1),
    ]
    chunk = dispatcher._check(messages, ({}, {}))
    assert chunk.excluded == {"too_long": [2, 3, 4]}
    assert [m.id for m in chunk.sendable] == [1, 5]
