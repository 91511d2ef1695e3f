"""Writing and reading the audit logs on a host (one remote command each)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from .. import history
from ..commands import history as commands
from ..errors import LockHeld
from ..facts import parse_files
from ..layout import DEPLOY_HOST_LOG, HOST_LOG, AppPaths
from .base import Host
from .lock import who

T = TypeVar("T")


def log_of(audit: history.Audit) -> str:
    if audit.host_level:
        return HOST_LOG
    return AppPaths(audit.app).history_file if audit.app else DEPLOY_HOST_LOG


def append(host: Host, audit: history.Audit, entry: dict) -> None:
    """Append one record; setup and implode write the host log as root (sudo)."""
    host.remote.run(
        commands.append(log_of(audit), private=not audit.host_level),
        sudo=audit.host_level,
        stdin=history.encode(entry),
        timeout=30,
    )


def record(
    host: Host,
    audit: history.Audit,
    *,
    started: float,
    exc: BaseException | None = None,
    release: int | None = None,
    detail: str = "",
) -> None:
    """Record a run on this host that began at `started` (a time.monotonic()). Never
    raises: a record that cannot be written is said on stderr, and the run keeps its
    own result and exit status."""
    seconds = time.monotonic() - started
    entry = history.record(
        audit,
        when=datetime.now(UTC) - timedelta(seconds=seconds),
        who=who(),
        ci=history.ci_job(os.environ),
        seconds=seconds,
        exc=exc,
        release=release,
        detail=detail,
    )
    try:
        append(host, audit, entry)
    except Exception as failure:
        first = (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        host.note(f"leo: could not record this run in {log_of(audit)}: {first}")


def recorded(
    action: Callable[[Host], T],
    audit: history.Audit,
    *,
    started: float | None = None,
    release_of: Callable[[T], int | None] = lambda _: None,
    detail_of: Callable[[T], str] = lambda _: "",
) -> Callable[[Host], T]:
    """`action`, recorded on the host it ran on: its result (ok, failed, refused,
    interrupted), how long it took (since `started`, a time.monotonic(), when the
    run began earlier) and what it returned. A run refused because the app's lock
    was held is not recorded: it changed nothing and did nothing."""

    def run(host: Host) -> T:
        clock = time.monotonic() if started is None else started
        try:
            value = action(host)
        except LockHeld:
            raise
        except BaseException as exc:
            # A rotate that failed after its switch may have recorded its release.
            release = getattr(exc, "release", None)
            number = release if isinstance(release, int) else None
            record(host, audit, started=clock, exc=exc, release=number)
            raise
        record(
            host,
            audit,
            started=clock,
            release=release_of(value),
            detail=detail_of(value),
        )
        return value

    return run


def read(host: Host, paths: Sequence[str], limit: int) -> list[history.Log]:
    """The last lines of each log, enough for `limit` records (absent logs: none)."""
    # A few more lines than asked: a line cut short does not cost a record.
    found = parse_files(host.remote.run(commands.tails(paths, limit + 5)).stdout)
    return [history.parse(path, found.get(path, "")) for path in paths]
