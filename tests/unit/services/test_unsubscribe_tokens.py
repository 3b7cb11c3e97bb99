"""Unsubscribe tokens drawn in bulk: the shape, no repeats, every character drawn."""

from __future__ import annotations

from collections import Counter

from stopsms.domain.unsubscribe import TOKEN_ALPHABET, is_token
from stopsms.services.campaigns.tokens import BATCH, TokenSource, new_token


def test_tokens_are_base62_of_the_fixed_length_and_do_not_repeat() -> None:
    source = TokenSource()
    tokens = [source.next() for _ in range(3 * BATCH + 7)]  # across refills
    assert all(is_token(token) for token in tokens)
    assert len(set(tokens)) == len(tokens)
    assert is_token(new_token())


def test_every_character_is_about_equally_likely() -> None:
    """Rejection sampling: bytes 248–255 dropped, so no character is drawn 5/4 as often."""
    source = TokenSource()
    counts = Counter("".join(source.next() for _ in range(20_000)))
    assert set(counts) == set(TOKEN_ALPHABET)
    mean = 200_000 / len(TOKEN_ALPHABET)  # ≈ 3,226; a 5/4 bias would give ≈ 4,000
    assert max(counts.values()) < mean * 1.12
    assert min(counts.values()) > mean * 0.88
