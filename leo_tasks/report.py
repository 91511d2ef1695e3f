"""What leo prints while it works: one line per step, with host and duration.

Progress goes to stderr so that a task's real output (e.g. `leo env`) can be
piped from stdout. Lines are flushed at once: CI logs show them as they happen.
On a terminal a long step (a push) also redraws one line in place while it
runs; logs get only the step's final line.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from .timings import Timings


@dataclass
class StepLine:
    """The outcome a step reports; set `.outcome` inside the `with` block."""

    outcome: str = "done"
    details: list[str] = field(default_factory=list)


# Hosts of a fleet run report from threads of their own: one line at a time.
OUTPUT_LOCK = threading.Lock()


class Reporter:
    def __init__(
        self,
        *,
        verbose: bool = False,
        stream: TextIO | None = None,
        live: bool | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.verbose = verbose
        self.timings = timings  # collects step durations for the summary, when given
        self.stream = stream or sys.stderr
        # Whether in-place progress may be drawn: only on a terminal, never in a log.
        self.live = _is_terminal(self.stream) if live is None else live
        self._drawn = False
        self._live_lines: dict[str, str] = {}

    def _print(self, text: str) -> None:
        with OUTPUT_LOCK:
            if self._drawn:
                self.stream.write(_CLEAR_LINE)
                self._drawn = False
            print(text, file=self.stream, flush=True)
            if self._live_lines:
                self._draw()

    def progress(self, host: str, text: str | None) -> None:
        """Redraw one line in place on a terminal, with every host's latest progress
        (hosts of a fleet push at the same time); None ends a host's part. Logs get
        nothing: only the step's final line."""
        if not self.live:
            return
        with OUTPUT_LOCK:
            if text is None:
                self._live_lines.pop(host, None)
            else:
                self._live_lines[host] = text
            self._draw()

    def _draw(self) -> None:
        line = " | ".join(f"[{h}] {t}" for h, t in self._live_lines.items())
        self.stream.write(_CLEAR_LINE + line[: _width(self.stream) - 1])
        self.stream.flush()
        self._drawn = bool(line)

    @contextmanager
    def step(self, host: str, name: str) -> Iterator[StepLine]:
        line = StepLine()
        started = time.monotonic()
        try:
            yield line
        except BaseException:
            elapsed = time.monotonic() - started
            if self.timings is not None:
                self.timings.step(host, name, elapsed)
            self._print(f"[{host}] {name}: FAILED ({elapsed:.2f}s)")
            raise
        elapsed = time.monotonic() - started
        if self.timings is not None:
            self.timings.step(host, name, elapsed)
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


def _width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 100


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
