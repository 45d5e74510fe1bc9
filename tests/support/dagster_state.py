"""Dagster keeps the instance's defs-state storage in a ContextVar that some instance contexts
leave set; a later Definitions load in the same thread then trips over a dead instance weakref
("Attempted to resolve undefined DagsterInstance weakref")."""

from __future__ import annotations

import sys


def forget_defs_state_storage() -> None:
    """Clear that ContextVar (only if Dagster was imported at all)."""
    if "dagster" in sys.modules:
        from dagster._core.storage.defs_state.base import _current_storage

        _current_storage.set(None)
