"""Changing nginx safely: write, `nginx -t`, restore on failure, then exactly one reload.

A failed `nginx -s reload` is silent (the old config stays, the error goes to
a log) and a broken file blocks every later reload on the host, for every app.
So every change goes through `apply`: nothing is reloaded unless the whole
configuration tests clean, and a config that does not test clean is rolled back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..commands import fs, nginx
from ..errors import LeoError
from ..facts import parse_nginx_workers
from .base import Host, read_file


@dataclass(frozen=True)
class FileChange:
    path: str
    content: str | None  # None removes the file
    mode: int = 0o644
    sudo: bool = False  # root-owned files (leo.conf); app files belong to leo-deploy


class NginxRejected(LeoError):
    """`nginx -t` refused the configuration; the previous files were restored."""


def _where(stderr: str) -> str:
    """The `in FILE:LINE` nginx names, so the message points at the culprit."""
    found = re.findall(r"\[emerg\] (.*)", stderr)
    return found[0] if found else stderr.strip().splitlines()[-1] if stderr.strip() else ""


def test(host: Host, *, failing: str) -> None:
    """Run `nginx -t`; on failure raise NginxRejected("<failing>: <what nginx said>")."""
    result = host.remote.run(nginx.test(), sudo=True, check=False)
    if not result.ok:
        raise NginxRejected(f"{failing}. nginx said: {_where(result.stderr)}")


def reload(host: Host) -> None:
    result = host.remote.run(nginx.reload(), sudo=True, check=False)
    if not result.ok:
        raise LeoError(
            f"nginx -s reload failed on {host.name} (is nginx running?): "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )


# Waits until none of the given PIDs exists, for at most $1 seconds; prints
# the ones still alive on timeout. /proc works for any user, kill -0 does not.
_WAIT_GONE = r"""
end=$(( $(date +%s) + $1 )); shift
while :; do
  alive=""
  for p in "$@"; do [ -d "/proc/$p" ] && alive="$alive $p"; done
  [ -z "$alive" ] && exit 0
  [ "$(date +%s)" -ge "$end" ] && { echo $alive; exit 1; }
  sleep 0.1
done
"""


def workers(host: Host) -> list[int]:
    """nginx's current worker PIDs: the ones a reload will retire."""
    return parse_nginx_workers(host.remote.run(nginx.processes(), check=False).stdout)


def wait_retired(host: Host, pids: list[int], timeout: float) -> list[int]:
    """Wait until the pre-reload workers have exited, i.e. finished every request
    they had in flight to the old upstream. Returns PIDs still alive at timeout."""
    if not pids:
        return []
    result = host.remote.run(
        ["sh", "-c", _WAIT_GONE, "sh", str(max(1, round(timeout))), *map(str, pids)],
        check=False,
        timeout=timeout + 30,
    )
    return [int(p) for p in result.stdout.split() if p.isdigit()]


def apply(host: Host, changes: list[FileChange], *, reload_nginx: bool = True) -> bool:
    """Write `changes`, test, and reload once; on a failed test put everything back.

    Returns False (and touches nothing) when every file already has its content.
    """
    previous = {c.path: read_file(host, c.path, sudo=c.sudo) for c in changes}
    pending = [c for c in changes if previous[c.path] != c.content]
    if not pending:
        return False
    for change in pending:
        _write(host, change, change.content)
    result = host.remote.run(nginx.test(), sudo=True, check=False)
    if not result.ok:
        for change in pending:
            _write(host, change, previous[change.path])
        raise NginxRejected(
            f"nginx -t rejected the new configuration on {host.name}; the previous files "
            f"were restored and nginx was not reloaded. nginx said: {_where(result.stderr)}"
        )
    if reload_nginx:
        reload(host)
    return True


def _write(host: Host, change: FileChange, content: str | None) -> None:
    if content is None:
        host.remote.run(fs.remove_file(change.path), sudo=change.sudo)
    else:
        host.remote.put(
            content.encode(),
            change.path,
            mode=change.mode,
            sudo=change.sudo,
            owner="root" if change.sudo else None,
        )
