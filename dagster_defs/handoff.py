"""Big values handed from one step to the next inside a run's process, never serialized.

A parsed batch of a million rows took 13-20 s to pickle through the filesystem IO manager and
doubled the run's memory. The import job runs in process (definitions.py), so a step leaves
its frames here and the next step of the same run takes them. A step that finds nothing
(a re-execution in a new run, or a multi-process executor) reads the source again instead.
Only the latest run's values are kept, so a long-lived process does not accumulate them.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_values: dict[tuple[str, str, str], Any] = {}


def put(run_id: str, name: str, partition: str, value: Any) -> None:
    """Leave `value` for a later step of run `run_id`; drops what other runs left."""
    with _lock:
        for key in [k for k in _values if k[0] != run_id]:
            del _values[key]
        _values[(run_id, name, partition)] = value


def take(run_id: str, name: str, partition: str) -> Any | None:
    """The value a step of this run left under `name`, removed so its memory can go; or None."""
    with _lock:
        return _values.pop((run_id, name, partition), None)
