"""nginx control. Both run through `sudo -n` for leo-deploy (see the sudoers drop-in)."""

from __future__ import annotations


def test() -> list[str]:
    return ["nginx", "-t"]


def reload() -> list[str]:
    return ["nginx", "-s", "reload"]


def processes() -> list[str]:
    """nginx's processes with their titles (master / worker / shutting down)."""
    return ["ps", "-C", "nginx", "-o", "pid=,args="]
