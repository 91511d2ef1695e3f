"""Per-app locks on the host that cannot go stale: `flock`, held by a process
that lives exactly as long as the leo run holding it.

The holder is `flock <lock> bash -c '...'` started over the run's SSH
connection (or as a local child). It exits when leo closes its stdin, and
also when leo dies: kill -9 or a crashed laptop close the channel and the
holder sees EOF; a link that went silent stops leo's heartbeats and the
holder gives up after `Liveness.silence` seconds. Then the kernel frees the
lock. Beside the lock, `<lock>.owner` says who holds it and `<lock>.pid`
which process.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import ConnectionProblem, LeoError, LockHeld, StepFailed
from ..layout import AppPaths
from ..remote import Holder
from .base import Host, read_file

LOCKS = ("deploy", "env")

# Runs under flock: record the holder, say so, then read heartbeats until EOF
# (leo released the lock or died) or until none came for $3 seconds (the link
# went silent). $$ is written to $1.pid so `leo lock --release` can end it.
# bash for `read -t`; every Debian host has it.
# The two files are written beside and renamed into place: one that another user
# made (root, during setup) is replaced, not left to name a run long gone.
_HOLD = (
    'echo $$ > "$1.pid.$$" && mv -f "$1.pid.$$" "$1.pid"; '
    'printf "%s\\n" "$2" > "$1.owner.$$" && mv -f "$1.owner.$$" "$1.owner"; echo locked; '
    'while read -r -t "$3" _; do :; done'
)

# Prints "held" when some process holds a flock on file $1, else "free",
# without taking the lock: a probe that took it, even for an instant, would
# make a deploy starting at that instant fail as "locked". /proc/locks names
# each lock's file as MAJOR:MINOR:INODE (hex major and minor).
_PROBE = r"""
set -- $(stat -c '%d %i' -- "$1" 2>/dev/null)
[ -n "$2" ] || { echo free; exit 0; }
dev=$(printf '%02x:%02x' $(( ($1 >> 8) & 0xfff )) $(( ($1 & 0xff) | (($1 >> 12) & 0xfff00) )))
if grep -q " FLOCK .* $dev:$2 " /proc/locks; then echo held; else echo free; fi
"""


def lock_path(paths: AppPaths, name: str) -> str:
    return f"{paths.state_dir}/{name}.lock"


def who() -> str:
    """The person or CI job running leo, as user@machine."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


def owner_line(purpose: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{purpose} by {who()} pid {os.getpid()} since {when}"


def flock_argv(path: str, purpose: str, wait: float, silence: float) -> list[str]:
    timing = ["--wait", f"{wait:g}"] if wait > 0 else ["--nonblock"]
    return [
        "flock",
        *timing,
        "--conflict-exit-code",
        "75",
        path,
        "bash",
        "-c",
        _HOLD,
        "bash",
        path,
        owner_line(purpose),
        str(max(1, math.ceil(silence))),
    ]


def probe_argv(path: str) -> list[str]:
    return ["sh", "-c", _PROBE, "sh", path]


@dataclass
class Lease:
    """A lock this run holds; `check()` before a step that must not run without it."""

    holder: Holder
    what: str
    host: str

    def check(self) -> None:
        if not self.holder.alive():
            raise LockLost(
                f"{self.what} on {self.host} was released under this run (no heartbeat "
                "reached the host for too long: was leo suspended or the link down?); stopping"
            )


def acquire(
    host: Host, path: str, *, what: str, purpose: str, wait: float = 0.0, sudo: bool = False
) -> Lease:
    """Take the flock on `path`, waiting up to `wait` seconds. Raises LockHeld (another
    run has it), ConnectionProblem (the link died meanwhile) or NoLock (flock failed)."""
    silence = host.remote.liveness.silence
    holder = host.remote.hold(flock_argv(path, purpose, wait, silence), sudo=sudo)
    if holder.first_line().strip() == "locked":
        return Lease(holder, what, host.name)
    status, stderr = holder.failure()
    holder.release()
    if status == 75:
        owner = (read_file(host, f"{path}.owner", sudo=sudo) or "").strip() or "an unknown run"
        waited = f" (waited {wait:g}s)" if wait else ""
        raise LockHeld(f"{what} held by {owner}{waited}")
    if status < 0:  # the channel closed with no exit status: the link is gone
        raise ConnectionProblem(f"lost the SSH connection to {host.name} while taking {what}")
    raise NoLock(f"could not take {what} on {host.name}: {stderr.strip() or f'exit {status}'}")


@contextmanager
def hold_path(
    host: Host, path: str, *, what: str, purpose: str, wait: float = 0.0, sudo: bool = False
) -> Iterator[Lease]:
    """Hold the flock on `path` for the block; wait up to `wait` seconds for it."""
    lease = acquire(host, path, what=what, purpose=purpose, wait=wait, sudo=sudo)
    try:
        yield lease
    finally:
        lease.holder.release(wait=False)


def take(host: Host, paths: AppPaths, name: str, *, purpose: str, wait: float = 0.0) -> Lease:
    """Take the app's `name` lock; the errors say which app, on which host."""
    try:
        return acquire(
            host, lock_path(paths, name), what=f"{name} lock", purpose=purpose, wait=wait
        )
    except LockHeld as exc:
        raise LockHeld(
            f"{paths.app} is locked on {host.name}: {exc}. "
            "Wait with --lock-wait SECONDS, or see `leo lock`"
        ) from None
    except NoLock as exc:
        if "No such file" in str(exc):
            raise StepFailed(
                f"app {paths.app!r} does not exist on {host.name} (leo create?)"
            ) from None
        raise


@contextmanager
def held(
    host: Host, paths: AppPaths, name: str, *, purpose: str, wait: float = 0.0
) -> Iterator[Lease]:
    """Hold the app's `name` lock for the block; wait up to `wait` seconds for it.

    A lock the host already holds for this run (a fleet run takes every host's
    deploy lock first) is used as it is, and stays held after the block.
    """
    path = lock_path(paths, name)
    if path in host.locks:
        yield host.locks[path]
        return
    lease = take(host, paths, name, purpose=purpose, wait=wait)
    try:
        yield lease
    finally:
        lease.holder.release(wait=False)


def is_held(host: Host, path: str) -> bool:
    return host.remote.run(probe_argv(path), check=False).stdout.strip() == "held"


@dataclass(frozen=True)
class Owner:
    """Who holds a lock, from its `.owner` line (see `owner_line`); None: not in it."""

    line: str  # the whole line, as `leo lock` prints it
    purpose: str | None = None
    by: str | None = None
    pid: int | None = None
    since: str | None = None  # ISO 8601 UTC


_OWNER = re.compile(r"(?P<purpose>.+) by (?P<by>\S+) pid (?P<pid>\d+) since (?P<since>\S+)")


def parse_owner(line: str) -> Owner:
    """An `.owner` line; one written by another version of leo keeps only its text."""
    found = _OWNER.fullmatch(line.strip())
    if not found:
        return Owner(line.strip())
    return Owner(
        line.strip(),
        purpose=found["purpose"],
        by=found["by"],
        pid=int(found["pid"]),
        since=found["since"],
    )


@dataclass(frozen=True)
class LockState:
    """One of the app's locks as `leo lock` found it (and whether it ended the hold)."""

    name: str
    held: bool
    holder: Owner | None = None  # None when free, or held with no readable owner
    released: bool = False

    def describe(self) -> str:
        owner = self.holder.line if self.holder else "unknown owner"
        if not self.held:
            return f"{self.name} lock free"
        if self.released:
            return f"released {self.name} lock ({owner})"
        return f"{self.name} lock held: {owner}"

    def as_json(self) -> dict[str, Any]:
        holder = self.holder or Owner("")
        return {
            "name": self.name,
            "held": self.held,
            "holder": holder.line or None,
            "purpose": holder.purpose,
            "by": holder.by,
            "pid": holder.pid,
            "since": holder.since,
            "released": self.released,
        }


def states(host: Host, paths: AppPaths, *, release: bool = False) -> list[LockState]:
    """The app's locks; with `release`, end the processes holding them."""
    if read_file(host, paths.compose_file) is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    found = []
    for name in LOCKS:
        path = lock_path(paths, name)
        if not is_held(host, path):
            found.append(LockState(name, held=False))
            continue
        owner = (read_file(host, f"{path}.owner") or "").strip()
        holder = parse_owner(owner) if owner else None
        if release:
            pid = (read_file(host, f"{path}.pid") or "").strip()
            if pid.isdigit():
                host.remote.run(["kill", "--", pid], check=False)
        found.append(LockState(name, held=True, holder=holder, released=release))
    return found


def locks_json(found: list[LockState]) -> dict[str, Any]:
    """The app's locks for --json (see schemas/lock.schema.json)."""
    return {"locks": [state.as_json() for state in found]}


class LockLost(LeoError):
    """The host gave up a lock this run held (its heartbeat stopped reaching the host)."""


class NoLock(StepFailed):
    """flock could not even start (e.g. the lock's directory is missing)."""
