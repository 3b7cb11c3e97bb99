"""Phone numbers normalised per second: the fast path vs plain phonenumbers, same input.

1,000,000 distinct numbers in the common shapes (French mobiles and landlines written the ways
people write them, E.164 of other countries). phonenumbers runs on the same 1,000,000 numbers,
the same number of rounds as the fast path (best of ``ROUNDS``: no sample extrapolated, no
best-of-three against one round), and the fast path's answers are checked against all of its
answers. It takes about a minute a round (67 µs a number at load 2); that is the baseline's
price of being measured honestly.

Then ``describe`` (region, time zones, kind of an E.164 number): the compiled fast path vs
``describe_reference`` (plain phonenumbers, the memo cleared before each round) on the same
distinct valid E.164 numbers of the first 220,000 raws (~150,000), answers compared on all.
"""

from __future__ import annotations

from collections.abc import Callable

from bench import best_rate, report
from stopsms.domain.phone import describe, describe_many, describe_reference, normalise_many
from stopsms.domain.phone_fast import reference_e164

COUNT = 1_000_000
#: Best of this many rounds, for the baseline and for ours alike.
ROUNDS = 2
GOAL = 1_000_000.0
DESCRIBE_COUNT = 200_000
DESCRIBE_GOAL = 300_000.0


def _pairs(digits: str) -> str:
    return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))


# Each shape turns a 6-digit serial into a number; mobiles take "6", "7", landlines "1"–"5".
_SHAPES: tuple[Callable[[str], str], ...] = (
    lambda s: _pairs(f"0612{s}"),  # 06 12 34 56 78
    lambda s: f"07.75.{s[:2]}.{s[2:4]}.{s[4:]}",  # 07.75.34.56.78
    lambda s: f"01-4{s[0]}-{s[1:3]}-{s[3:5]}-{s[5]}3",  # 01-42-34-56-73 (Paris)
    lambda s: f"+33 6 12 {_pairs(s)}",  # +33 6 12 34 56 78
    lambda s: f"+33 (0)7 75 {_pairs(s)}",  # +33 (0)7 75 34 56 78
    lambda s: f"0033612{s}",  # 0033 6…
    lambda s: f"33775{s}",  # 33 7… (country code without +)
    lambda s: f" 04 7{s[0]} {s[1:3]} {s[3:5]} {s[5]}9 ",  # landline, surrounding spaces
    lambda s: f"06\u00a012\u00a0{s[:2]}\u00a0{s[2:4]}\u00a0{s[4:]}",  # no-break spaces
    lambda s: f"+32 47{s[0]} {s[1:3]} {s[3:5]} {s[5]}1",  # Belgian mobile
    lambda s: f"+262 692 {s[:2]} {s[2:4]} {s[4:]}",  # Réunion mobile
    lambda s: f"+590 690 {s[:2]} {s[2:4]} {s[4:]}",  # Guadeloupe mobile
    lambda s: f"+1 212-5{s[:2]}-{s[2:]}",  # US, with separators
    lambda s: f"+447911{s}",  # GB mobile, E.164
    lambda s: f"+49151{s}23",  # German mobile, E.164
    lambda s: f"+3934{s}12",  # Italian mobile, E.164
)


def numbers(count: int) -> list[str]:
    """``count`` distinct raw numbers cycling through the shapes."""
    return [_SHAPES[i % len(_SHAPES)](f"{i // len(_SHAPES):06d}") for i in range(count)]


def main() -> None:
    raws = numbers(COUNT)
    assert len(set(raws)) == COUNT
    plain_answers: list[str | None] = []

    def plain_work() -> int:
        plain_answers[:] = [reference_e164(raw, "FR") for raw in raws]
        return len(plain_answers)

    plain = best_rate(f"phonenumbers parse+valid+E164 ({COUNT:,})", plain_work, rounds=ROUNDS)
    assert normalise_many(raws) == plain_answers, "fast path differs from phonenumbers"
    valid = sum(answer is not None for answer in plain_answers)
    print(f"{valid:,} of {COUNT:,} numbers valid; fast path == phonenumbers on all of them")
    report(plain)
    fast = best_rate(
        f"normalise_many ({COUNT:,})", lambda: len(normalise_many(raws)), rounds=ROUNDS
    )
    report(fast, goal=GOAL, baseline=plain)
    single = best_rate(
        f"normalise one by one ({COUNT:,})",
        lambda: len([normalise_many([raw])[0] for raw in raws]),
        rounds=ROUNDS,
    )
    report(single, baseline=plain)

    e164s = [e164 for e164 in normalise_many(raws[: DESCRIBE_COUNT + DESCRIBE_COUNT // 10]) if e164]
    e164s = list(dict.fromkeys(e164s))[:DESCRIBE_COUNT]
    reference_answers: list[object] = []

    def reference_work() -> int:
        describe_reference.cache_clear()
        reference_answers[:] = [describe_reference(e164) for e164 in e164s]
        return len(reference_answers)

    plain_describe = best_rate(
        f"describe, phonenumbers ({len(e164s):,})", reference_work, rounds=ROUNDS
    )
    assert describe_many(e164s) == reference_answers, "describe differs from phonenumbers"
    print(f"describe fast path == phonenumbers on all {len(e164s):,} numbers")
    report(plain_describe)
    fast_describe = best_rate(
        f"describe, fast path ({len(e164s):,})",
        lambda: len([describe(e) for e in e164s]),
        rounds=ROUNDS,
    )
    report(fast_describe, goal=DESCRIBE_GOAL, baseline=plain_describe)
