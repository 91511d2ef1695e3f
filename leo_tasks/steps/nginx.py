"""Changing nginx safely: one change at a time on a host, tested, reloaded, confirmed.

A failed `nginx -s reload` is silent (the old config stays, the error goes to
a log) and a broken file blocks every later reload on the host, for every app.
So every change goes through a `transaction`:

- it holds the host-wide nginx lock, so one app's half-written site is never
  seen by another app's `nginx -t`;
- every write registers how to undo it;
- at the end, `nginx -t`, then one reload, confirmed by the master starting
  new workers (see commands/nginx.py);
- when the test, the reload or anything in between fails, every change is
  undone in reverse order and the error says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..commands import fs, nginx
from ..errors import CommandFailed, ConnectionProblem, LeoError, TimedOut, UndoFailed, annotated
from ..layout import HOME
from ..remote import Command, Result, run_all
from . import lock
from .base import Host, read_file

# Host-wide: every leo run that changes nginx takes it (apps, setup, implode).
NGINX_LOCK = f"{HOME}/.nginx.lock"
# Another run's change takes a second or two; a hung run loses the lock with its heartbeat.
LOCK_WAIT = 120.0
RELOAD_WAIT = 5  # seconds for nginx to switch to new workers after a reload (takes ms)


@dataclass(frozen=True)
class FileChange:
    path: str
    content: str | None  # None removes the file
    mode: int = 0o644
    sudo: bool = False  # root-owned files (leo.conf); app files belong to leo-deploy


@dataclass(frozen=True)
class Reloaded:
    """nginx applied a new configuration; `old_workers` may still be finishing requests."""

    old_workers: list[int] = field(default_factory=list)


class NginxRejected(LeoError):
    """`nginx -t` refused the configuration."""


class NginxReloadFailed(LeoError):
    """nginx did not apply a configuration that `nginx -t` accepted.

    `signalled`: the reload signal went out, so nginx may have applied the
    configuration after all (its old workers were slow to stop accepting, or the
    check timed out): putting the files back then needs a reload of its own.
    """

    def __init__(self, message: str, *, signalled: bool) -> None:
        super().__init__(message)
        self.signalled = signalled


def _where(stderr: str) -> str:
    """The `in FILE:LINE` nginx names, so the message points at the culprit."""
    found = re.findall(r"\[emerg\] (.*)", stderr)
    return found[0] if found else stderr.strip().splitlines()[-1] if stderr.strip() else ""


def test(host: Host, *, failing: str) -> None:
    """Run `nginx -t`; on failure raise NginxRejected("<failing>. nginx said: ...")."""
    result = host.remote.run(nginx.test(), sudo=True, check=False)
    if not result.ok:
        raise NginxRejected(f"{failing}. nginx said: {_where(result.stderr)}")


# Exit statuses of commands.nginx.reload_confirmed before the reload signal went out.
NOT_SIGNALLED = (3, 4)


def test_and_reload(host: Host, *, failing: str) -> Reloaded:
    """`nginx -t`, then (only if it passed) reload and confirm that nginx runs the new
    configuration: one round trip for both."""
    reload = Command(nginx.reload_confirmed(RELOAD_WAIT), check=False, timeout=RELOAD_WAIT + 30)
    test = Command(nginx.test(), sudo=True)
    try:
        _, result = run_all(host.remote, [test, reload], stop_at_failure=True)
    except CommandFailed as exc:  # nginx -t, checked: the reload did not run
        raise NginxRejected(f"{failing}. nginx said: {_where(exc.stderr)}") from exc
    except ConnectionProblem:
        raise  # the link is gone: exit 3, whatever the reload did
    except TimedOut as exc:
        if exc.argv[-len(test.argv) :] == list(test.argv):  # the reload did not run
            raise NginxRejected(f"{failing}: {exc}") from exc
        raise NginxReloadFailed(
            f"nginx on {host.name} did not confirm the reload: {exc}", signalled=True
        ) from exc
    except LeoError as exc:  # the runner: the reload may have run
        raise NginxReloadFailed(
            f"nginx on {host.name} did not confirm the reload: {exc}", signalled=True
        ) from exc
    return _reloaded(host, result)


def _reloaded(host: Host, result: Result) -> Reloaded:
    """What the confirmed reload said: applied (with the old workers), or why not."""
    if not result.ok:
        raise NginxReloadFailed(
            f"nginx on {host.name} did not apply the new configuration: "
            f"{_where(result.stderr) or f'exit {result.exited}'}",
            signalled=result.exited not in NOT_SIGNALLED,
        )
    words = result.stdout.split()
    return Reloaded([int(w) for w in words[1:] if w.isdigit()] if words[:1] == ["old"] else [])


def wait_retired(host: Host, pids: list[int], timeout: float) -> list[int]:
    """Wait until the pre-reload workers have exited, i.e. finished every request
    they had in flight to the old upstream. Returns PIDs still alive at timeout."""
    if not pids:
        return []
    result = host.remote.run(
        nginx.wait_gone(pids, max(1, round(timeout))), check=False, timeout=timeout + 30
    )
    return [int(p) for p in result.stdout.split() if p.isdigit()]


class Transaction:
    """The changes of one `transaction`, each with its undo."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.changed = False
        self.reloaded: Reloaded | None = None
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def write(self, change: FileChange) -> bool:
        """Write (or remove) a file unless it already has that content; returns changed."""
        if change.content is None:
            previous = read_file(self.host, change.path, sudo=change.sudo)
            if previous is None:
                return False
            _write(self.host, change, None)
        else:
            # Read and written in one round trip (the host leaves a file with the
            # same content alone).
            result = self.host.remote.run(
                fs.swap(change.path, mode=change.mode, owner="root" if change.sudo else None),
                sudo=change.sudo,
                stdin=change.content,
                check=False,
            )
            if not result.ok:
                why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exited}"]
                raise LeoError(f"could not write {change.path} on {self.host.name}: {why[0]}")
            previous = fs.parse_swapped(result.stdout)
            if previous == change.content:
                return False
        self.do_undo(f"restore {change.path}", lambda: _write(self.host, change, previous))
        return True

    def do_undo(self, what: str, undo: Callable[[], object]) -> None:
        """Register the undo of a change just made (a rename, a symlink switch)."""
        self._undo.append((what, undo))
        self.changed = True

    def reload_anyway(self) -> None:
        """Reload even if no file here changed (e.g. new files behind a symlink)."""
        self.changed = True

    def rollback(self) -> list[str]:
        """Undo every change, newest first; returns what could not be undone."""
        problems = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except LeoError as exc:
                problems.append(f"{what}: {str(exc).splitlines()[0]}")
        self._undo.clear()
        return problems


@contextmanager
def transaction(
    host: Host,
    *,
    failing: str,
    privileged: bool = False,
    locked: bool = True,
    test_only: bool = False,
) -> Iterator[Transaction]:
    """Make nginx changes in the block; at its end test, reload and confirm, or undo all.

    `failing` starts the error message ("nginx -t rejected the new app's site").
    `privileged`: the changes touch root-owned files (setup, implode).
    `test_only`: run `nginx -t` on the changes, then put every file back whatever the
    result (a new site is checked before a deploy starts anything).
    """
    with _nginx_lock(host, privileged=privileged, locked=locked) as lease:
        txn = Transaction(host)
        try:
            yield txn
            if txn.changed and not test_only:
                if lease is not None:
                    lease.check()  # never reload on behalf of a run that lost the lock
                txn.reloaded = test_and_reload(host, failing=failing)
            elif txn.changed:
                test(host, failing=failing)
        except LeoError as exc:
            raise _undone(host, txn, exc, failing) from exc
        except BaseException:
            txn.rollback()
            raise
        if test_only:
            _put_back_after_trial(host, txn)


def _undone(host: Host, txn: Transaction, exc: LeoError, failing: str) -> LeoError:
    """Undo the transaction after `exc`; the error to raise says how that went."""
    problems = txn.rollback()
    if not problems and isinstance(exc, NginxReloadFailed) and exc.signalled:
        # nginx may run the new files already: reload it onto the restored ones.
        try:
            test_and_reload(host, failing=f"{failing} (with the restored files)")
        except LeoError as again:
            problems.append(
                f"nginx could not be reloaded with the restored files "
                f"({str(again).splitlines()[0]}): it may run the new configuration"
            )
    if problems:
        failure = UndoFailed(f"{exc}\n  COULD NOT UNDO: " + "; ".join(problems))
        failure.exit_code = exc.exit_code
        return failure
    if not txn.changed:
        return annotated(exc, "no nginx file had been changed")
    return annotated(exc, "every nginx file leo had changed was put back as it was")


def _put_back_after_trial(host: Host, txn: Transaction) -> None:
    problems = txn.rollback()
    if problems:
        raise UndoFailed(
            "COULD NOT put nginx's files back after `nginx -t`: " + "; ".join(problems)
        )


@contextmanager
def _nginx_lock(host: Host, *, privileged: bool, locked: bool) -> Iterator[lock.Lease | None]:
    if not locked:
        yield None
        return
    with lock.hold_path(
        host,
        NGINX_LOCK,
        what=f"nginx on {host.name} is being changed by another run: nginx lock",
        purpose="nginx change",
        wait=LOCK_WAIT,
        sudo=privileged,
    ) as lease:
        yield lease


def try_out(host: Host, changes: list[FileChange], *, failing: str) -> bool:
    """`nginx -t` with `changes` written, then every file put back whatever the result.
    Returns whether any file differed (False: nothing to try)."""
    with transaction(
        host, failing=failing, privileged=any(c.sudo for c in changes), test_only=True
    ) as txn:
        for change in changes:
            txn.write(change)
    return txn.changed


def apply(host: Host, changes: list[FileChange], *, failing: str = "") -> Reloaded | None:
    """Write `changes` in one transaction. Returns None (and touches nothing) when every
    file already has its content."""
    privileged = any(c.sudo for c in changes)
    with transaction(
        host,
        failing=failing or f"nginx -t rejected the new configuration on {host.name}",
        privileged=privileged,
    ) as txn:
        for change in changes:
            txn.write(change)
    return txn.reloaded


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
