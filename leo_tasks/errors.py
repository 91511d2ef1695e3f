"""Exceptions leo raises, each mapped to an exit code the CLI returns.

Exit codes are part of the interface (CI steps branch on them):
0 ok, 1 a step failed on a host, 2 bad input (nothing was changed),
3 could not connect or host key refused, 4 the app is locked by another run,
5 a --dry-run found changes to make (0: nothing to change; nothing was changed).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

# `--dry-run`: the run would change something (CI gates branch on it).
DRY_RUN_CHANGES = 5


class LeoError(Exception):
    """Base class: a message meant for the person running leo."""

    exit_code = 1


class InvalidInput(LeoError):
    """Bad flag, name or file: refused before anything on a host is touched."""

    exit_code = 2


class ConnectionProblem(LeoError):
    """SSH could not connect, authenticate, or verify the host key."""

    exit_code = 3


class LockHeld(LeoError):
    """Another leo run holds the app's lock."""

    exit_code = 4


class StepFailed(LeoError):
    """A step found a state it cannot proceed from (e.g. an app that does not exist)."""


class TimedOut(LeoError):
    """A command on a host hit its `timeout` (exit 124): it was stopped, not refused."""

    def __init__(self, argv: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.argv = list(argv)


class CommandFailed(LeoError):
    """A command on a host exited non-zero; carries everything needed to debug it."""

    def __init__(
        self, host: str, argv: Sequence[str], exited: int, stdout: str, stderr: str
    ) -> None:
        self.host = host
        self.argv = list(argv)
        self.exited = exited
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"command exited {self.exited} on {self.host}: {shlex.join(self.argv)}"]
        detail = (self.stderr.strip() or self.stdout.strip())[-2000:]
        if detail:
            lines += ["  " + line for line in detail.splitlines()]
        return "\n".join(lines)


class UndoFailed(LeoError):
    """A failed run could not put back what it had changed: the host is not as it was."""


def annotated(exc: LeoError, text: str) -> LeoError:
    """`exc` with `text` added on a line of its own, same class and exit code.

    Used to say what a failed run put back (or could not) after the error
    that stopped it.
    """
    # Built without calling __init__: subclasses take other arguments (CommandFailed).
    new = type(exc).__new__(type(exc))
    new.__dict__.update(exc.__dict__)
    new.args = (f"{exc}\n  {text}",)
    return new
