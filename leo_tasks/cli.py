"""The `leo` console script: the same tasks as `inv`, as a standalone program."""

from __future__ import annotations

import os
import re
import select
import signal
import sys

from invoke import Exit, ParseError, Program

from . import __version__
from .errors import InvalidInput
from .tasks import ns

# Invoke's own wording, matched to give leo's one-line, actionable message instead.
_UNKNOWN = re.compile(r"No idea what '(?P<token>.*)' is!")
_NEEDS_VALUE = re.compile(r"Flag <Argument: (?P<name>[^ >]+).*> needed value")


def parse_error_message(error: ParseError) -> str:
    """One line saying what was wrong on the command line and where to look.

    The parser context names the task whose flags were being read; it is None (or
    has no name) for leo's own options, before any task was named.
    """
    text = " ".join(str(error).split())
    task = getattr(error.context, "name", None)
    unknown = _UNKNOWN.fullmatch(text)
    if unknown:
        token = unknown["token"]
        if not token.startswith("-"):
            return f"leo: unknown task {token!r}: see `leo --list`"
        if task:
            return f"leo: unknown flag {token!r} for {task}: see `leo {task} --help`"
        return f"leo: unknown option {token!r}: see `leo --help`"
    needs_value = _NEEDS_VALUE.match(text)
    if needs_value:
        flag = needs_value["name"].replace("_", "-")
        flag = f"-{flag}" if len(flag) == 1 else f"--{flag}"
        return f"leo: {flag} needs a value"
    return f"leo: {text}"


def _bad_input(message: str) -> Exit:
    # Program.run prints an Exit's message on stderr and exits with its code.
    return Exit(message, code=InvalidInput.exit_code)


class LeoProgram(Program):
    """Invoke's Program, but a mistyped command line exits 2 ("bad input, nothing was
    changed"), like every other refusal, instead of Invoke's 1 ("a step failed")."""

    def parse_core(self, argv) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise _bad_input(parse_error_message(exc)) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise _bad_input(parse_error_message(exc)) from None

    def parse_cleanup(self) -> None:
        # `--list NAME` with no such group is an unknown task name too; Invoke
        # exits 1 for it with a message of its own.
        root = self.args.list.value
        if isinstance(root, str):
            try:
                self.collection.subcollection_from_path(root)
            except KeyError:
                raise _bad_input(f"leo: unknown task group {root!r}: see `leo --list`") from None
        try:
            super().parse_cleanup()
        except ParseError as exc:  # `--help NAME` for a task that does not exist
            raise _bad_input(parse_error_message(exc)) from None


program = LeoProgram(namespace=ns, version=__version__, name="leo", binary="leo")


def main() -> None:
    try:
        program.run()
    except BrokenPipeError:
        # `leo env | head`: the reader of stdout went away. End quietly, like any
        # Unix tool, not with a traceback. (Not by restoring SIGPIPE's default
        # action: that would also kill leo, silently, when an SSH socket or the
        # pipe to a local command breaks, instead of reporting it.)
        if not _stdout_broken():
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)


def _stdout_broken() -> bool:
    """Whether nobody reads stdout any more (a pipe whose reader exited reports POLLERR)."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))
    except (OSError, ValueError):
        return False
