"""The `leo` console script: the same tasks as `inv`, as a standalone program."""

from __future__ import annotations

from invoke import Program

from . import __version__
from .tasks import ns

program = Program(namespace=ns, version=__version__, name="leo", binary="leo")


def main() -> None:
    program.run()
