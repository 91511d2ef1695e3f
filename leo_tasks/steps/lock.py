"""Per-app locks on the host that cannot go stale: `flock`, held by a process
that lives exactly as long as the leo run holding it.

The holder is `flock <lock> sh -c '...; exec cat'` started over the run's SSH
connection (or as a local child). It exits when leo closes its stdin, and
also when leo dies: kill -9, a dropped connection or a crashed laptop all
close the channel, `cat` sees EOF, and the kernel frees the lock. Beside
the lock, `<lock>.owner` says who holds it and `<lock>.pid` which process.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from ..errors import LockHeld, StepFailed
from ..layout import AppPaths
from .base import Host, read_file

LOCKS = ("deploy", "env")

# Runs under flock: record the holder, say so, then wait for EOF on stdin.
# `exec cat` keeps the PID written to $1.pid, so `leo lock --release` can end it.
_HOLD = 'echo $$ > "$1.pid"; printf "%s\\n" "$2" > "$1.owner"; echo locked; exec cat >/dev/null'

# Prints "free" or "held" for lock file $1 without waiting.
_PROBE = 'if flock --nonblock "$1" true; then echo free; else echo held; fi'


def lock_path(paths: AppPaths, name: str) -> str:
    return f"{paths.state_dir}/{name}.lock"


def who() -> str:
    """The person or CI job running leo, as user@machine."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def owner_line(purpose: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{purpose} by {who()} pid {os.getpid()} since {when}"


def flock_argv(path: str, purpose: str, wait: float) -> list[str]:
    timing = ["--wait", f"{wait:g}"] if wait > 0 else ["--nonblock"]
    return [
        "flock",
        *timing,
        "--conflict-exit-code",
        "75",
        path,
        "sh",
        "-c",
        _HOLD,
        "sh",
        path,
        owner_line(purpose),
    ]


@contextmanager
def held(
    host: Host, paths: AppPaths, name: str, *, purpose: str, wait: float = 0.0
) -> Iterator[None]:
    """Hold the app's `name` lock for the block; wait up to `wait` seconds for it."""
    path = lock_path(paths, name)
    holder = host.remote.hold(flock_argv(path, purpose, wait))
    if holder.first_line().strip() != "locked":
        status, stderr = holder.failure()
        holder.release()
        if status == 75:
            owner = (read_file(host, f"{path}.owner") or "").strip() or "an unknown run"
            waited = f" (waited {wait:g}s)" if wait else ""
            raise LockHeld(
                f"{paths.app} is locked on {host.name}{waited}: {name} lock held by {owner}. "
                "Wait with --lock-wait SECONDS, or see `leo lock`"
            )
        if "No such file" in stderr:
            raise StepFailed(f"app {paths.app!r} does not exist on {host.name} (leo create?)")
        raise StepFailed(f"could not take the {name} lock on {host.name}: {stderr.strip()}")
    try:
        yield
    finally:
        holder.release()


def inspect(host: Host, paths: AppPaths, *, release: bool = False) -> list[str]:
    """Describe the app's locks; with `release`, end the processes holding them."""
    if read_file(host, paths.compose_file) is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    lines = []
    for name in LOCKS:
        path = lock_path(paths, name)
        state = host.remote.run(["sh", "-c", _PROBE, "sh", path], check=False).stdout.strip()
        if state != "held":
            lines.append(f"{name} lock free")
            continue
        owner = (read_file(host, f"{path}.owner") or "").strip() or "unknown owner"
        if not release:
            lines.append(f"{name} lock held: {owner}")
            continue
        pid = (read_file(host, f"{path}.pid") or "").strip()
        if pid.isdigit():
            host.remote.run(["kill", "--", pid], check=False)
        lines.append(f"released {name} lock ({owner})")
    return lines
