"""`leo logs` on one host: the app's container logs so far, or followed as they come.

One command per host either way (commands/logs.py): it lists the containers
and prints their logs, so a fleet of N hosts costs N round trips, not one per
container.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import paramiko

from ..commands import logs as logs_cmd
from ..errors import CommandFailed, ConnectionProblem, LeoError, StepFailed
from ..layout import AppPaths
from ..logview import HostLogs, LogLine
from ..remote import Holder
from .base import Host

# Seconds a dump of every container's logs may take (a big log is mostly transfer).
DUMP_TIMEOUT = 600.0


def read(host: Host, paths: AppPaths, query: logs_cmd.LogQuery) -> HostLogs:
    """Every matching container's lines so far (as the host's docker keeps them)."""
    argv = logs_cmd.dump(paths.compose_file, paths.app, query)
    # On a channel of its own, streamed: a big log never sits in a file on the host
    # (leo's command runner keeps each command's output in memory there until sent).
    result = host.remote.feed(argv, [], check=False, timeout=DUMP_TIMEOUT)
    if result.exited == logs_cmd.NO_APP:
        raise _no_app(host, paths)
    if not result.ok:
        raise CommandFailed(host.name, result.argv, result.exited, result.stdout, result.stderr)
    logs = HostLogs.parse(result.stdout)
    if not logs.names and query.service:
        raise _no_service(host, paths, query, logs)
    return logs


def nothing_found(host: Host, logs: HostLogs) -> str | None:
    """What to say on stderr when the app has no container at all on the host."""
    if logs.names:
        return None
    return f"no containers of the app on {host.name} (not deployed yet?)"


class Stream:
    """One host's `docker logs --follow` of the app, until `stop()` or the link ends.

    The command on the host waits on its stdin: `stop()` closes it, and the host
    then kills every `docker logs` it started and exits 0 (see commands/logs.py).
    A killed leo or a lost link close the channel, with the same effect.
    """

    def __init__(self, host: Host, paths: AppPaths, query: logs_cmd.LogQuery) -> None:
        self.host = host
        self.paths = paths
        self.query = query
        self.logs = HostLogs(keep=False)  # each line is emitted, not kept
        silence = host.remote.liveness.silence
        argv = logs_cmd.follow(paths.compose_file, paths.app, query, silence=silence)
        self.holder: Holder = host.remote.hold(argv, binary=True)

    def pump(self, emit: Callable[[HostLogs, LogLine], None]) -> LeoError | None:
        """Pass each log line to `emit` as it comes, until the stream ends. Returns why
        it ended when that is a failure (None: it was stopped, or ended cleanly)."""
        stdout = self.holder.process.stdout
        while True:
            try:
                raw = stdout.readline()
            except (OSError, paramiko.SSHException, EOFError, ValueError):
                raw = b""
            if not raw:
                break
            line = self.logs.take(raw.decode("utf-8", "replace"))
            if line is not None:
                emit(self.logs, line)
            elif self.logs.none_at_start:
                self.logs.none_at_start = False
                if self.query.service:
                    self.stop()
                    return _no_service(self.host, self.paths, self.query, self.logs)
                self.host.note("no containers of the app yet: waiting for some to start")
        return self._ending()

    def _ending(self) -> LeoError | None:
        try:
            status, stderr = self.holder.failure()
        except (OSError, paramiko.SSHException, EOFError, ValueError):
            status, stderr = -1, ""
        if status == 0:
            return None
        if status == logs_cmd.NO_APP:
            return _no_app(self.host, self.paths)
        if status < 0:
            return ConnectionProblem(f"lost the SSH connection to {self.host.name}")
        return StepFailed(
            f"following the logs on {self.host.name} ended with exit status {status}"
            + (f": {stderr.strip()[-500:]}" if stderr.strip() else "")
        )

    def stop(self) -> None:
        """Close the host command's stdin and wait (10 s at most) until it has exited."""
        with contextlib.suppress(OSError, paramiko.SSHException, EOFError, ValueError):
            self.holder.release()


def _no_app(host: Host, paths: AppPaths) -> StepFailed:
    return StepFailed(f"app {paths.app!r} does not exist on {host.name}")


def _no_service(
    host: Host, paths: AppPaths, query: logs_cmd.LogQuery, logs: HostLogs
) -> StepFailed:
    have = ", ".join(logs.services) or "none"
    return StepFailed(
        f"{paths.app} has no containers of service {query.service!r} on {host.name} "
        f"(services with containers: {have})"
    )
