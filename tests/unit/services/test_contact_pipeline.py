"""The columnar import's helpers: a forked normaliser and a staging thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from pathlib import Path

import pytest

from stopsms.domain.phone import normalise_many
from stopsms.services.contacts.pipeline import forked_normaliser, staged_parts
from stopsms.services.contacts.rows import why_invalid

_VALID = [
    "06 12 34 56 {:02d}",
    "+33 6 12 34 57 {:02d}",
    "0033612345{:03d}",
    "07.12.34.56.{:02d}",
    "33612345{:03d}",
    "01 42 68 53 {:02d}",
    "+262 692 12 34 {:02d}",
]
_INVALID = ["abc{}", "06 12 {:02d}", "+33 6 12 34 56 78 9{}", "1{}e", "00000{}", "+999 {}"]


def _values(count: int) -> list[str]:
    values: list[str] = []
    for i in range(count):
        if i % 10 == 3:
            values.append(" " if i % 20 == 3 else "")
        elif i % 3 == 0:
            values.append(_INVALID[i % len(_INVALID)].format(i % 100))
        else:
            values.append(_VALID[i % len(_VALID)].format(i % 100))
    return values


def test_forked_normaliser_is_normalise_many_and_learns_the_reasons() -> None:
    values = _values(2_000)
    learnt: dict[str, str] = {}
    calls: list[int] = []

    def learn(reasons: dict[str, str]) -> None:
        calls.append(len(reasons))
        learnt.update(reasons)

    expected = normalise_many(values, "FR")
    assert sum(number is None for number in expected) > 500
    assert sum(number is not None for number in expected) > 1_000
    found = forked_normaliser("FR", learn)(values)
    assert found == expected
    assert len(calls) == 2  # this process's half, then the worker's
    invalid = {v for v, number in zip(values, expected, strict=True) if number is None}
    assert set(learnt) == {v for v in invalid if v.strip()}
    assert "" in invalid
    assert " " in invalid
    assert all(learnt[v] == why_invalid(v, "FR") for v in learnt)


def test_forked_normaliser_with_few_values() -> None:
    learnt: dict[str, str] = {}
    normalise = forked_normaliser("FR", learnt.update)
    assert normalise([]) == []
    assert normalise(["abc"]) == [None]
    assert learnt == {"abc": why_invalid("abc", "FR")}
    assert normalise(["0612345678", "x"]) == ["+33612345678", None]


def test_staged_parts_yield_in_order() -> None:
    def stage(item: int) -> Path:
        time.sleep(0.001 * (5 - item))  # later items are quicker: order is still kept
        return Path(f"part-{item}.db")

    before = threading.active_count()
    assert list(staged_parts(iter(range(5)), stage)) == [Path(f"part-{i}.db") for i in range(5)]
    assert threading.active_count() == before


def test_a_stage_error_reaches_the_consumer_after_the_earlier_items() -> None:
    def stage(item: int) -> Path:
        if item == 2:
            raise ValueError("disk full")
        return Path(f"part-{item}.db")

    before = threading.active_count()
    batches = staged_parts(iter(range(5)), stage)
    assert next(batches) == Path("part-0.db")
    assert next(batches) == Path("part-1.db")
    with pytest.raises(ValueError, match="disk full"):
        next(batches)
    with pytest.raises(StopIteration):
        next(batches)  # the generator is over
    assert threading.active_count() == before


def test_a_source_error_reaches_the_consumer() -> None:
    def parts() -> Generator[int, None, None]:
        yield 0
        raise RuntimeError("unreadable")

    received: list[Path] = []
    with pytest.raises(RuntimeError, match="unreadable"):
        received.extend(staged_parts(parts(), lambda item: Path(str(item))))
    assert received == [Path("0")]


def test_closing_early_stops_the_thread() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def stage(item: int) -> Path:
        with lock:
            calls.append(item)
        return Path(f"part-{item}.db")

    before = threading.active_count()
    batches = staged_parts(iter(range(5)), stage)
    first = next(batches)
    assert threading.active_count() == before + 1
    time.sleep(0.2)  # let the thread run as far ahead as it can
    batches.close()
    assert first == Path("part-0.db")
    assert threading.active_count() == before
    # At most one result handed over, one waiting, one being offered: never the whole source.
    assert calls == list(range(len(calls)))
    assert 1 <= len(calls) <= 3
    stopped = list(calls)
    time.sleep(0.1)
    assert calls == stopped


def test_breaking_out_of_the_loop_stops_the_thread() -> None:
    calls: list[int] = []
    before = threading.active_count()

    def stage(item: int) -> Path:
        calls.append(item)
        return Path(str(item))

    batches = staged_parts(iter(range(100)), stage)
    for _ in batches:
        break
    batches.close()
    assert threading.active_count() == before
    assert len(calls) < 100
