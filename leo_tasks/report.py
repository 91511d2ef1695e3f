"""What leo prints while it works: one line per step, with host and duration.

Progress goes to stderr so that a task's real output (e.g. `leo env`) can be
piped from stdout. Lines are flushed at once: CI logs show them as they happen.
On a terminal a long step (a push) also redraws one line in place while it
runs; logs get only the step's final line.
"""

from __future__ import annotations

import shlex
import sys
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


class Reporter:
    def __init__(
        self, *, verbose: bool = False, stream: TextIO | None = None, live: bool | None = None
    ) -> None:
        self.verbose = verbose
        self.stream = stream or sys.stderr
        # Whether in-place progress may be drawn: only on a terminal, never in a log.
        self.live = _is_terminal(self.stream) if live is None else live
        self._drawn = False

    def _print(self, text: str) -> None:
        if self._drawn:
            self.stream.write(_CLEAR_LINE)
            self._drawn = False
        print(text, file=self.stream, flush=True)

    def progress(self, host: str, text: str) -> None:
        """Redraw the line in place on a terminal (the next line replaces it); else nothing."""
        if self.live:
            self.stream.write(f"{_CLEAR_LINE}[{host}] {text}")
            self.stream.flush()
            self._drawn = True

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


# Back to the start of the line, and erase it.
_CLEAR_LINE = "\r\x1b[K"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
