"""A reader following the log by `sequence` must read every committed event exactly once,
even when writers commit out of the order in which they inserted."""

from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from catalog_pipelines.store.events import Cause, append_row, event_row, read_events


def _writer(engine: sa.Engine, account: str, n: int, seed: int, committed: list[str]) -> None:
    rng = random.Random(seed)
    for i in range(n):
        with engine.connect() as conn:
            trans = conn.begin()
            _, event_id = append_row(
                conn,
                event_row(
                    account_id=account,
                    type="product.updated",
                    object_type="product",
                    object_id=f"prod_w{seed}_{i}",
                    version=1,
                    obj={"id": f"prod_w{seed}_{i}"},
                    previous_attributes={},
                    cause=Cause(source="test"),
                ),
            )
            time.sleep(rng.uniform(0, 0.02))  # hold the transaction open a random while
            if rng.random() < 0.1:
                trans.rollback()  # leaves a gap in the sequence that readers must tolerate
            else:
                trans.commit()
                committed.append(event_id)


def test_reader_never_skips_late_commits(engine: sa.Engine, account: str) -> None:
    committed: list[str] = []
    writers = [
        threading.Thread(target=_writer, args=(engine, account, 40, seed, committed))
        for seed in range(6)
    ]
    seen: list[str] = []
    cursor = 0
    for w in writers:
        w.start()

    def poll() -> None:
        nonlocal cursor
        with engine.connect() as conn:
            rows = read_events(conn, after_sequence=cursor, limit=7, account_id=account)
        for r in rows:
            assert r.sequence > cursor
            cursor = r.sequence
            seen.append(r.id)

    while any(w.is_alive() for w in writers):
        poll()
    for w in writers:
        w.join()
    for _ in range(100):  # drain
        before = len(seen)
        poll()
        if len(seen) == before:
            break

    assert len(committed) > 150
    assert len(seen) == len(set(seen)), "an event was read twice"
    assert sorted(seen) == sorted(committed), "a committed event was skipped"
