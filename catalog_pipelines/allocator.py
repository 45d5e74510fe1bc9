"""glibc's malloc, tuned for an import that reads its file in pieces of 16 MiB.

By default glibc serves a large allocation (over 128 KiB, rising to 32 MiB as it adapts) with
a mapping of its own and unmaps it on free, so every piece's buffers were faulted in again, page
by page: reading a 10M-row CSV in pieces spent 6 of its 19 s in the kernel. Served from the
heap below 64 MiB, and with up to 256 MiB of free heap kept for the next piece, the same read
took 14 s, and the no-op of that file 25 s instead of 28-30 s, its peak RSS 60-90 MiB higher.

Process-wide, so it is done once, by `tune()`, where an import starts. Nothing happens where
the C library is not glibc, or with CATALOG_MALLOC_TUNING=0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

ENV = "CATALOG_MALLOC_TUNING"
_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 256 << 20

_tuned: bool | None = None


def tune() -> bool:
    """Set the thresholds once per process; whether they are set."""
    global _tuned
    if _tuned is None:
        _tuned = _set()
    return _tuned


def _set() -> bool:
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    log.debug("malloc thresholds %s", "set" if done else "refused")
    return done
