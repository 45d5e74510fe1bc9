"""Fixtures shared by the import scenarios."""

from __future__ import annotations

from typing import Any

import pytest

from catalog_pipelines import skip_unchanged


@pytest.fixture
def skipped(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many products each import skipped as unchanged, in order (-1: it could not skip)."""
    seen: list[int] = []
    real = skip_unchanged.count_skipped

    def spy(conn: Any, plan: Any, batch: Any, options: Any) -> None:
        prints = batch.fingerprints
        seen.append(prints.skipped.height if prints is not None else -1)
        real(conn, plan, batch, options)

    monkeypatch.setattr(skip_unchanged, "count_skipped", spy)
    return seen
