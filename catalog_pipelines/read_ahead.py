"""An iterator's next item made in a thread while the caller uses this one.

The work on both sides is Polars or numpy, which run without the GIL, so on two cores the
reader and its consumer overlap: an import's writes and the planning of its next part, or a
re-import's skip decision and the parse of its next piece of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

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
