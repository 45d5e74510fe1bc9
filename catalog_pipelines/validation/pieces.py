"""A file validated a piece at a time, reported as if validated whole.

A first import's pieces (first_import.py) and a large re-import's mapped chunks
(validated_chunks.py) are validated apart, to keep one piece's frames in memory at a time. They
can be: no product key, parent key, variant key or SKU is in two of them. This adds up what
`validate_batch` of the whole file would have reported: the failures by check, the first
failures with their positions in the whole file, the rows rejected, and Stripe's limits.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

from catalog_pipelines.fingerprints import NO_LIMIT_PROBLEMS, Fingerprints
from catalog_pipelines.normalized import ParsedBatch
from catalog_pipelines.validation import (
    SAMPLE_SIZE,
    ValidationReport,
    first_limit_problems,
    stripe_limit_messages_of,
    stripe_limit_problems,
    validate_batch,
)

_FRAME_ORDER = {"products": 0, "variants": 1}  # as validate_batch lists failures


class PieceValidation:
    """Validates each piece (`validate`), then gives the whole file's report (`report`)."""

    def __init__(self) -> None:
        self.checks: Counter[str] = Counter()
        self.sample: list[dict[str, Any]] = []
        self.rejected_here = 0
        # Stripe's limits: the first problems a warning can show, and how many in all
        self.first_problems = NO_LIMIT_PROBLEMS
        self.problem_count = 0
        self.last_problems = NO_LIMIT_PROBLEMS  # the last piece's, all of them
        # rows of the pieces validated so far, as mapped: the next piece's sample offsets
        self.as_read = {"products": 0, "variants": 0}

    def validate(self, mapped: ParsedBatch) -> ParsedBatch:
        """`mapped`, validated: its failing rows moved to its rejects."""
        report = validate_batch(mapped, limit_warnings=False)
        before = self.as_read
        self.sample += [{**r, "index": r["index"] + before[r["frame"]]} for r in report.sample]
        self.checks.update(report.checks)
        self.rejected_here += report.rows_rejected_here
        before["products"] += mapped.products.height
        before["variants"] += mapped.variants.height
        self.last_problems = stripe_limit_problems(report.batch)
        self.problem_count += self.last_problems.height
        self.first_problems = first_limit_problems(
            pl.concat([self.first_problems, self.last_problems])
        )
        return report.batch

    def limit_warnings(self, prints: Fingerprints | None) -> list[str]:
        """Stripe's limits, worded as for the whole file (with the products `prints` skipped)."""
        more = self.problem_count - self.first_problems.height
        return stripe_limit_messages_of([self.first_problems], prints, more=more)

    def report(self, batch: ParsedBatch) -> ValidationReport:
        """The report of the whole file, whose validated batch (or its summary) is `batch`."""
        sample = sorted(
            self.sample,
            key=lambda r: (_FRAME_ORDER.get(r["frame"], 2), r["check"] == "product_in_batch"),
        )
        return ValidationReport(batch, dict(self.checks), sample[:SAMPLE_SIZE], self.rejected_here)
