"""The malloc tuning an import starts with: a buffer of a piece's size, freed, is reused by the
next piece instead of being mapped and faulted in again, page by page."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from catalog_pipelines import allocator

_FAULTS = """
import resource
from catalog_pipelines import allocator
print(allocator.tune())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    data = b"x" * (40 << 20)  # written: every page is touched
    del data
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(tuning: str) -> tuple[bool, int]:
    env = {**os.environ, allocator.ENV: tuning}
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's")
def test_buffers_of_a_piece_are_reused_not_faulted_in_again() -> None:
    tuned, with_tuning = _faults("1")
    untouched, without = _faults("0")
    assert tuned and not untouched
    pages = (40 << 20) // 4096
    assert without > 15 * pages  # each buffer mapped afresh
    assert with_tuning < 3 * pages  # the first buffer's pages, then reused
