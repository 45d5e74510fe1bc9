"""plan_parts.planned_ahead: the next part is planned in a thread while this one is written."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from catalog_pipelines.plan_parts import planned_ahead


def _parts(n: int, read: list[int]) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    for i in range(n):
        read.append(i)
        yield pl.DataFrame({"i": [i]}), pl.DataFrame()


def test_plans_come_in_order_and_the_next_is_planned_while_one_is_written() -> None:
    read: list[int] = []
    planner_threads: set[str] = set()

    def plan(products: pl.DataFrame, variants: pl.DataFrame) -> Any:
        planner_threads.add(threading.current_thread().name)
        return products["i"][0]

    seen = []
    for p in planned_ahead(_parts(4, read), plan):
        seen.append(p)
        # part p is being written: part p + 1 has been read (or is being read) already
        if p < 3:
            deadline = time.monotonic() + 10
            while p + 1 not in read and time.monotonic() < deadline:
                time.sleep(0.001)
            assert p + 1 in read, f"part {p + 1} was not read while part {p} was written"
    assert seen == [0, 1, 2, 3]
    assert planner_threads and threading.current_thread().name not in planner_threads


def test_a_failed_plan_raises_in_the_writer() -> None:
    def plan(products: pl.DataFrame, variants: pl.DataFrame) -> Any:
        if products["i"][0] == 2:
            raise ValueError("part 2 cannot be planned")
        return products["i"][0]

    seen = []
    with pytest.raises(ValueError, match="part 2"):
        for p in planned_ahead(_parts(4, []), plan):
            seen.append(p)
    assert seen == [0, 1]


def test_closing_early_reads_no_further_part() -> None:
    read: list[int] = []
    planned = planned_ahead(_parts(10, read), lambda products, variants: products["i"][0])
    assert next(planned) == 0
    planned.close()  # the writer stopped (a refusal): a part being planned is waited for
    assert read in ([0], [0, 1])  # at most the one part ahead was read, none after the close
    assert not [t for t in threading.enumerate() if t.name.startswith("plan-ahead")]
