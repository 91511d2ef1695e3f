"""Per-app locks on the host: an atomic `mkdir`, with who holds it and since when.

mkdir is atomic on every filesystem, needs no daemon and survives the client
dying; the owner file makes a stale lock explainable and safe to break.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from ..commands import fs
from ..errors import LockHeld, StepFailed
from ..layout import AppPaths
from .base import Host, read_file

# mkdir the lock and record its owner in one round trip; fails if it exists.
_TAKE = 'mkdir -- "$1" && printf "%s\\n" "$2" > "$1/owner"'


def lock_path(paths: AppPaths, name: str) -> str:
    return f"{paths.state_dir}/{name}.lock"


def owner_line(purpose: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{purpose} by {getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} since {when}"


@contextmanager
def held(
    host: Host, paths: AppPaths, name: str, *, purpose: str, wait: float = 0.0
) -> Iterator[None]:
    """Hold the app's `name` lock for the block; wait up to `wait` seconds for it."""
    path = lock_path(paths, name)
    deadline = time.monotonic() + wait
    delay = 0.1
    while True:
        taken = host.remote.run(["sh", "-c", _TAKE, "sh", path, owner_line(purpose)], check=False)
        if taken.ok:
            break
        if "No such file" in taken.stderr:
            raise StepFailed(f"app {paths.app!r} does not exist on {host.name} (leo create?)")
        if time.monotonic() >= deadline:
            holder = (read_file(host, f"{path}/owner") or "").strip() or "an unknown run"
            raise LockHeld(
                f"{paths.app} is locked on {host.name} ({name}): {holder}. If that run is "
                f"dead, release it with `leo lock --app {paths.app} --host {host.name} "
                f"--release` (or remove {path} by hand)"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    try:
        yield
    finally:
        host.remote.run(fs.remove_tree(path), check=False)


def inspect(host: Host, paths: AppPaths, *, release: bool = False) -> list[str]:
    """Describe the app's held locks (and remove them with `release`)."""
    listing = host.remote.run(fs.list_dir(paths.state_dir), check=False)
    if not listing.ok:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    lines = []
    for entry in sorted(n for n in listing.stdout.split() if n.endswith(".lock")):
        path = f"{paths.state_dir}/{entry}"
        owner = (read_file(host, f"{path}/owner") or "").strip() or "unknown owner"
        if release:
            host.remote.run(fs.remove_tree(path))
            lines.append(f"released {entry[:-5]} lock ({owner})")
        else:
            lines.append(f"{entry[:-5]} lock held: {owner}")
    return lines or ["no lock held"]
