"""Fixtures of the export skip tests (tests/support/skip_both.py): `reading` and `both`. A
test module may define its own of either name, which then wins."""

from tests.support.skip_both import both, reading

__all__ = ["both", "reading"]
