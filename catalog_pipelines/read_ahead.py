"""An iterator's next item made in a thread while the caller uses this one, and a map whose
calls run in threads ahead of the caller.

The work on both sides is Polars or numpy, which run without the GIL, so on two cores the
reader and its consumer overlap: an import's writes and the planning of its next part, or a
re-import's skip decision and the parse of its next piece of the file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_END = object()


class ReadAhead(Generic[T]):
    """The items of `items`, in order. The first is taken (`next(items)`, so a generator runs
    its body) as soon as this is made, and each next one while the caller holds the current
    one, in a thread of their own: at most two items exist at once. `close` (or leaving the
    `with` block) waits for an item being taken, then closes `items`, so a file it reads is
    closed at once."""

    def __init__(self, items: Iterator[T], *, name: str = "read-ahead") -> None:
        self._items = items
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ahead: Future[object] | None = self._pool.submit(self._take)

    def _take(self) -> object:
        return next(self._items, _END)

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._ahead is None:
            raise StopIteration
        try:
            current = self._ahead.result()
        except BaseException:
            self.close()
            raise
        if current is _END:
            self.close()
            raise StopIteration
        self._ahead = self._pool.submit(self._take)
        return current  # type: ignore[return-value]  # anything but _END is an item

    def close(self) -> None:
        self._ahead = None
        self._pool.shutdown(cancel_futures=True)  # waits for an item being taken
        close = getattr(self._items, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def mapped_ahead(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, name: str = "map-ahead"
) -> Iterator[R]:
    """`fn` of each of `items`, in order, called in `workers` threads: at most `workers` calls
    run, or wait to be taken, at once. The next one starts when the caller takes a result, so
    what the caller holds does not add to what the threads hold. `items` is drawn in the
    caller's thread (it may use the caller's database connection). Leaving early cancels the
    calls not started and waits for those running."""
    source = iter(items)
    pending: deque[Future[R]] = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        try:
            pending.extend(pool.submit(fn, item) for item in islice(source, workers))
            while pending:
                yield pending.popleft().result()
                pending.extend(pool.submit(fn, item) for item in islice(source, 1))
        finally:
            for future in pending:
                future.cancel()
