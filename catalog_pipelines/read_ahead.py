"""An iterator's next item made in a thread while the caller uses this one.

The work on both sides is Polars or numpy, which run without the GIL, so on two cores the
reader and its consumer overlap: an import's writes and the planning of its next part, or a
re-import's skip decision and the parse of its next piece of the file.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_END = object()


def read_ahead(items: Iterator[T], *, name: str = "read-ahead") -> Generator[T]:
    """The items of `items`, in order; each next one is taken (`next(items)`, so a generator
    runs its body) in a thread of its own while the caller holds the current one. At most
    two items exist at once. Closing this generator waits for an item being taken, then
    closes `items`, so a file it reads is closed at once."""

    def take() -> object:
        return next(items, _END)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        ahead = pool.submit(take)
        while (current := ahead.result()) is not _END:
            ahead = pool.submit(take)
            yield current  # type: ignore[misc]  # anything but _END is an item of `items`
            del current
    finally:
        pool.shutdown(cancel_futures=True)  # waits for an item being taken
        close = getattr(items, "close", None)
        if close is not None:
            close()
