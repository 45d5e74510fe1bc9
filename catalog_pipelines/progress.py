"""A one-line progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ProgressFn = Callable[[str, float], None]


def quiet(_phase: str, _fraction: float) -> None:
    """The default: long runs stay quiet when nobody is watching."""


def never_back(progress: ProgressFn) -> ProgressFn:
    """`progress` that holds its highest fraction: an import that starts over on another path
    (a file read whole after all) goes on from where it was, not back to the start."""
    highest = 0.0

    def report(phase: str, fraction: float) -> None:
        nonlocal highest
        highest = max(highest, fraction)
        progress(phase, highest)

    return report


class TerminalProgress:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()

    def __call__(self, phase: str, fraction: float) -> None:
        filled = int(self.width * max(0.0, min(1.0, fraction)))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.monotonic() - self.started
        end = "\n" if fraction >= 1.0 else ""
        self.stream.write(
            f"\r{self.label} [{bar}] {fraction:4.0%} {phase:<12} {elapsed:6.1f}s{end}"
        )
        self.stream.flush()


def for_terminal(label: str, stream: TextIO | None = None) -> ProgressFn:
    stream = stream or sys.stderr
    return TerminalProgress(label, stream) if stream.isatty() else quiet
