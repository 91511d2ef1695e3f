"""leo_tasks: zero-downtime docker compose deploys behind nginx, over SSH.

`from leo_tasks import ns` gives the Invoke collection for your own tasks.py.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):
    # Import the task collection lazily: `leo_tasks.envfile` and friends stay
    # importable without pulling in Invoke/Fabric.
    if name == "ns":
        from .tasks import ns

        return ns
    raise AttributeError(name)


__all__ = ["__version__", "ns"]
