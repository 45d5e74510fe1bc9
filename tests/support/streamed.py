"""Which imports streamed a first import (catalog_pipelines/first_import.py)."""

from __future__ import annotations

from typing import Any

import pytest

from catalog_pipelines import first_import


def streamed_pieces(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets, for each import that streams, the number of its pieces, as it plans
    its parts from them."""
    seen: list[int] = []
    real = first_import.Stream.parts

    def parts(self: first_import.Stream) -> Any:
        seen.append(len(self.pieces))
        yield from real(self)

    monkeypatch.setattr(first_import.Stream, "parts", parts)
    return seen
