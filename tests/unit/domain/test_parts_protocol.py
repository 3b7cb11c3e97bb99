"""``beyond_protocol``: more than 255 parts on the wire, measured only when it can matter."""

from __future__ import annotations

import pytest

from stopsms.domain.parts import PROTOCOL_MAX_PARTS, beyond_protocol
from stopsms.domain.text import measure


@pytest.mark.parametrize(
    ("text", "ucs2", "beyond"),
    [
        ("x" * (255 * 153), False, False),  # GSM-7: 255 parts of 153 septets
        ("x" * (255 * 153 + 1), False, True),
        ("€" * (255 * 76), False, False),  # escape pairs: 76 to a part
        ("€" * (255 * 76 + 1), False, True),
        ("ж" * (255 * 67), True, False),  # UCS-2: 255 parts of 67 units
        ("ж" * (255 * 67 + 1), True, True),
        ("x" * (255 * 67 + 1), True, True),  # GSM-7 characters sent as UCS-2
        ("😀" * (255 * 33), True, False),  # surrogate pairs never split: 33 to a part
        ("😀" * (255 * 33 + 1), True, True),
    ],
)
def test_the_protocol_ceiling_is_exact_in_each_coding(text: str, ucs2: bool, beyond: bool) -> None:
    assert beyond_protocol(text, 1, ucs2=ucs2) is beyond
    if not ucs2:
        assert (measure(text).segments > PROTOCOL_MAX_PARTS) is beyond


def test_a_stored_count_above_the_ceiling_is_refused_without_measuring() -> None:
    assert beyond_protocol("Promo", PROTOCOL_MAX_PARTS + 1, ucs2=False)
    assert not beyond_protocol("Promo", PROTOCOL_MAX_PARTS, ucs2=False)
