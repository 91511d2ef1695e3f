"""What leo prints while it works: one line per step, with host and duration.

Progress goes to stderr so that a task's real output (e.g. `leo env`) can be
piped from stdout. Lines are flushed at once: CI logs show them as they happen.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class StepLine:
    """The outcome a step reports; set `.outcome` inside the `with` block."""

    outcome: str = "done"
    details: list[str] = field(default_factory=list)


# Hosts of a fleet run report from threads of their own: one line at a time.
OUTPUT_LOCK = threading.Lock()


class Reporter:
    def __init__(self, *, verbose: bool = False, stream: TextIO | None = None) -> None:
        self.verbose = verbose
        self.stream = stream or sys.stderr

    def _print(self, text: str) -> None:
        with OUTPUT_LOCK:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, host: str, name: str) -> Iterator[StepLine]:
        line = StepLine()
        started = time.monotonic()
        try:
            yield line
        except BaseException:
            elapsed = time.monotonic() - started
            self._print(f"[{host}] {name}: FAILED ({elapsed:.2f}s)")
            raise
        elapsed = time.monotonic() - started
        self._print(f"[{host}] {name}: {line.outcome} ({elapsed:.2f}s)")
        for detail in line.details:
            self._print(f"[{host}]   {detail}")

    def note(self, host: str, text: str) -> None:
        self._print(f"[{host}] {text}")

    def command(self, host: str, argv: Sequence[str]) -> None:
        if self.verbose:
            # One line per command: an inline script's newlines are shown as "; ".
            self._print(f"[{host}] $ {shlex.join(argv)}".replace("\n", "; "))
