"""A large re-import's mapped chunks validated one at a time, their products on disk.

A re-import that changes most products maps its kept rows a chunk at a time
(connectors/generic/kept_rows.py). Validated whole, the mapped products of every chunk (~450 MB
a million, descriptions mostly) were in memory at once with their validation: the first of a
large re-import's two peaks. Chunks are mapped apart only when no product key, parent key or
SKU is in two of them, so they validate apart too (as a first import's pieces do,
first_import.py): each is validated as soon as it is mapped, and its products go to disk in
parts, as plan_parts.spill_products would have put them there.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from catalog_pipelines import plan_parts
from catalog_pipelines.normalized import ParsedBatch, Reject
from catalog_pipelines.spill import Held, Spill
from catalog_pipelines.validation import ValidationReport
from catalog_pipelines.validation.pieces import PieceValidation


class ValidatedChunks:
    """The SkipRequest's `chunks`: takes each mapped chunk (`__call__`), and then gives the
    whole batch's validation, with its products on disk (`validated`). `used` is False when
    the reader mapped its rows at once: then the caller validates the batch itself."""

    def __init__(self) -> None:
        self.used = False
        self._spill: Spill | None = None
        self._held: list[Held] = []
        self._keys: list[pl.Series] = []
        self._variants: list[pl.DataFrame] = []
        self._validation = PieceValidation()
        self._rejects: list[Reject] = []  # validation's, not the mapping's
        self._problems: list[pl.DataFrame] = []  # Stripe's limits, for the snapshot

    def __call__(self, chunk: ParsedBatch) -> None:
        self.used = True
        valid = self._validation.validate(chunk)
        mapped = {id(r) for r in chunk.rejects}
        self._rejects += [r for r in valid.rejects if id(r) not in mapped]
        self._problems.append(self._validation.last_problems)
        self._variants.append(valid.variants)
        if self._spill is None:
            self._spill = Spill()
        plan_parts.keep_in_parts(self._spill, valid.products, self._held, self._keys)

    @property
    def as_read(self) -> dict[str, int]:
        """The chunks' products and variants as mapped, before validation."""
        return self._validation.as_read

    def validated(self, mapped: ParsedBatch) -> tuple[ValidationReport, plan_parts.Spilled]:
        """`mapped` (the reader's batch: counts and the mapping's rejects, no rows) validated
        as validate_batch would have, without its products, and the products on disk."""
        assert self.used and mapped.rows_valid is not None
        validation = self._validation
        batch = replace(
            mapped,
            variants=pl.concat(self._variants),
            rejects=sorted([*mapped.rejects, *self._rejects], key=lambda r: r.row_number),
            warnings=[*mapped.warnings, *validation.limit_warnings(mapped.fingerprints)],
            rows_valid=mapped.rows_valid - len(self._rejects),
        )
        batch.check_reconciles()
        problems = pl.concat(self._problems)
        return validation.report(batch), plan_parts.Spilled(self._held, self._keys, problems)
