"""ReadAhead: the next item is made in a thread while the caller uses this one (an import's
next part planned while this one is written, a file's next piece parsed while this one is
sorted out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from catalog_pipelines.plan_parts import Part, planned_ahead
from catalog_pipelines.read_ahead import ReadAhead, mapped_ahead


def _items(n: int, taken: list[int], closed: list[bool] | None = None) -> Iterator[int]:
    try:
        for i in range(n):
            taken.append(i)
            yield i
    finally:
        if closed is not None:
            closed.append(True)


def _wait_until(condition: Any) -> bool:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)
    return bool(condition())


def test_items_come_in_order_and_the_next_is_taken_while_one_is_used() -> None:
    taken: list[int] = []
    seen = []
    ahead = ReadAhead(_items(4, taken))
    # the first is taken at once: the caller prepares for it meanwhile
    assert _wait_until(lambda: 0 in taken)
    for i in ahead:
        seen.append(i)
        if i < 3:  # item i is in use: item i + 1 has been taken (or is being taken) already
            assert _wait_until(lambda i=i: i + 1 in taken), f"{i + 1} was not taken during {i}"
    assert seen == [0, 1, 2, 3]


def test_parts_are_planned_in_a_thread_of_their_own() -> None:
    def split() -> Iterator[Part]:
        for i in range(3):
            yield pl.DataFrame({"i": [i]}), pl.DataFrame(), {}

    planner_threads: set[str] = set()

    def plan(part: Part) -> Any:
        planner_threads.add(threading.current_thread().name)
        return part[0]["i"][0]

    assert list(planned_ahead(split(), plan)) == [0, 1, 2]
    assert planner_threads and all(t.startswith("plan-ahead") for t in planner_threads)


def test_a_failure_raises_in_the_caller_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise ValueError("piece 2 is malformed")

    seen = []
    with pytest.raises(ValueError, match="piece 2"):
        for i in ReadAhead(items()):
            seen.append(i)
    assert seen == [0, 1]


def test_closing_early_takes_nothing_more_and_closes_the_source() -> None:
    taken: list[int] = []
    closed: list[bool] = []
    with ReadAhead(_items(10, taken, closed), name="test-ahead") as ahead:
        assert next(ahead) == 0
    # the caller stopped (a refusal): an item being taken was waited for
    assert taken in ([0], [0, 1])  # at most the one item ahead, none after the close
    assert closed == [True]  # a file the source reads is closed now, not when collected
    assert not [t for t in threading.enumerate() if t.name.startswith("test-ahead")]


def test_a_mapped_ahead_runs_two_calls_at_once_and_no_more_than_the_caller_takes() -> None:
    both_running = threading.Barrier(2, timeout=10)  # broken unless two calls overlap
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i < 2:
            both_running.wait()
        return i * 10

    results = mapped_ahead(work, range(5), workers=2)
    assert next(results) == 0
    # result 0 is held: item 1 may run, item 2 waits until the caller takes the next result
    time.sleep(0.05)
    assert sorted(started) == [0, 1]
    assert list(results) == [10, 20, 30, 40]
    assert sorted(started) == [0, 1, 2, 3, 4]


def test_a_mapped_ahead_call_that_fails_fails_the_caller_in_its_turn() -> None:
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 1:
            raise ValueError("range 1 is unreadable")
        return i

    results = mapped_ahead(work, range(10), workers=2)
    assert next(results) == 0
    with pytest.raises(ValueError, match="range 1 is unreadable"):
        next(results)
    assert max(started) <= 2  # nothing started after the failure was taken
