"""Credit amounts have one reading: what stopsms prints reads back the same, and a thousands
separator that could be a decimal mark is refused rather than guessed (issue 12)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopsms.errors import InvalidInput
from stopsms.services.accounts.credits import MAX_AMOUNT_MILLICREDITS, format_credits, parse_credits


@given(st.integers(min_value=0, max_value=MAX_AMOUNT_MILLICREDITS))
def test_every_printed_amount_reads_back_the_same(millicredits: int) -> None:
    assert parse_credits(format_credits(millicredits)) == millicredits


@given(st.integers(min_value=1, max_value=999), st.integers(min_value=0, max_value=999))
def test_a_group_of_three_after_a_comma_is_never_guessed(whole: int, three: int) -> None:
    with pytest.raises(InvalidInput, match="ambiguous"):
        parse_credits(f"{whole},{three:03d}")


@given(st.integers(min_value=1, max_value=999), st.integers(min_value=0, max_value=99))
def test_a_dot_group_ending_in_zero_is_never_guessed(whole: int, two: int) -> None:
    with pytest.raises(InvalidInput, match="ambiguous"):
        parse_credits(f"{whole}.{two:02d}0")


@pytest.mark.parametrize(
    ("millicredits", "printed"),
    [(0, "0"), (45, "0.045"), (12_500, "12.5"), (1_000_000, "1 000"), (-1_500, "-1.5")],
)
def test_amounts_are_printed_with_space_groups_and_a_dot(millicredits: int, printed: str) -> None:
    assert format_credits(millicredits) == printed
    assert format_credits(1_234_567_890) == "1 234 567.89"
