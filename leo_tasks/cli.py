"""The `leo` console script: the same tasks as `inv`, as a standalone program."""

from __future__ import annotations

import signal

from invoke import Program

from . import __version__
from .tasks import ns

program = Program(namespace=ns, version=__version__, name="leo", binary="leo")


def main() -> None:
    # `leo env | head` should end quietly, like any Unix tool, not with a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    program.run()
