"""`leo logs`: the app's container logs, from one host or a fleet, so far or followed."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time

from invoke import Exit

from . import validate
from .commands.logs import LogQuery
from .errors import LeoError
from .fleet import FleetFailed, in_parallel
from .hosts import HostSpec
from .layout import AppPaths
from .logview import HostLogs, Layout, LogLine, parse_grep, parse_since, parse_tail
from .report import OUTPUT_LOCK
from .steps import logs as logs_step
from .steps.base import Host
from .taskkit import cli_errors, connected, each_host_read, leo_task, resolve


@leo_task(
    help={
        "service": "only this compose service's containers (default: every service)",
        "since": "only lines since then: a duration (30s, 10m, 2h, 1d) or an ISO 8601 time",
        "tail": "only the last N lines of each container (before --grep)",
        "follow": "keep printing new lines, from every host, until Ctrl-C",
        "grep": "only lines matching this regular expression (Python syntax)",
        "oneoffs": "also the one-off containers of `leo run`",
        "timestamps": "show docker's timestamp of each line",
    }
)
@cli_errors
def logs(
    c,
    app=None,
    host=None,
    service=None,
    since=None,
    tail=None,
    follow=False,
    grep=None,
    oneoffs=False,
    timestamps=False,
    verbose=False,
):
    """Print the app's container logs: every service, old containers of a rotate too.

    Each line reads `[host] container | text`. Without --follow each host's lines
    come together, in the order the hosts were given, merged by time. With
    --follow every host streams at once until Ctrl-C, which stops the followers
    on every host and exits 0.
    """
    app, hosts = resolve(c, app, host)
    if service is not None:
        validate.service_name(service)
    query = LogQuery(
        service=service,
        since=None if since is None else parse_since(since),
        tail=None if tail is None else parse_tail(tail),
        oneoffs=oneoffs,
    )
    # --grep filters here, in Python, not with grep on the host: the pattern never
    # has to be quoted into a remote command, it means the same on every host
    # (no GNU/busybox grep dialects), and it sees the app's text without leo's
    # prefix or docker's timestamp. What it costs: the lines it drops still cross
    # the link (--since and --tail do cut on the host).
    pattern = None if grep is None else parse_grep(grep)
    paths = AppPaths(app)
    if follow:
        _follow(c, hosts, verbose, paths, query, pattern, timestamps)
        return

    def show(h: Host, found: HostLogs) -> None:
        quiet = logs_step.nothing_found(h, found)
        if quiet:
            h.note(quiet)
        lines = Layout(h.name, pattern, timestamps).all(found, found.in_time_order())
        try:
            with OUTPUT_LOCK:
                for line in lines:
                    print(line)
                sys.stdout.flush()
        except BrokenPipeError:  # `leo logs | head`: the reader has all it wanted
            _drop_stdout()
            raise Exit(code=0) from None

    each_host_read(c, hosts, verbose, lambda h: logs_step.read(h, paths, query), show)


def _follow(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    paths: AppPaths,
    query: LogQuery,
    pattern: re.Pattern[str] | None,
    timestamps: bool,
) -> None:
    """Every host streams at once, line by line, until Ctrl-C (or until every stream
    ended by itself: the app is missing, the link was lost)."""
    with connected(c, hosts, verbose) as fleet:
        streams = in_parallel(fleet.hosts, lambda h: logs_step.Stream(h, paths, query))
        ended: dict[str, LeoError | None] = {}
        closed = threading.Event()  # our stdout went away (`leo logs -f | head`)

        def pump(stream: logs_step.Stream) -> None:
            layout = Layout(stream.host.name, pattern, timestamps)

            def emit(found: HostLogs, line: LogLine) -> None:
                text = layout.format(found, line)
                if text is None or closed.is_set():
                    return
                try:
                    with OUTPUT_LOCK:
                        print(text, flush=True)
                except (BrokenPipeError, ValueError):
                    _drop_stdout()
                    closed.set()

            ended[stream.host.name] = stream.pump(emit)
            if ended[stream.host.name] is not None and fleet.many:
                with OUTPUT_LOCK:
                    print(f"[{stream.host.name}] leo: {ended[stream.host.name]}", file=sys.stderr)

        threads = [
            threading.Thread(target=pump, args=(s,), daemon=True, name=f"leo-logs-{s.host.name}")
            for s in streams
        ]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads) and not closed.is_set():
                closed.wait(0.2)
        except KeyboardInterrupt:
            pass  # how a follow ends: not an error (exit 0 once every host is clean)
        finally:
            # Every host at once: each stop waits until its host's followers are gone,
            # all of them within one deadline (a host slow to answer must not hold
            # the Ctrl-C up: its command got EOF and ends by itself).
            deadline = time.monotonic() + STOP_WAIT
            _stop_all(streams, deadline)
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            slow = [t.name.removeprefix("leo-logs-") for t in threads if t.is_alive()]
            if slow:
                with OUTPUT_LOCK:
                    print(
                        f"leo: stopped waiting for {', '.join(slow)} to end its followers "
                        "(they got end-of-input and stop by themselves)",
                        file=sys.stderr,
                    )
    failed = [(name, error) for name, error in ended.items() if error is not None]
    if failed:
        if len(streams) == 1:
            raise failed[0][1]
        raise FleetFailed(f"failed on {', '.join(name for name, _ in failed)}")


# Seconds Ctrl-C waits, in all, for every host's followers to end.
STOP_WAIT = 12.0


def _stop_all(streams: list[logs_step.Stream], deadline: float) -> None:
    stoppers = [threading.Thread(target=s.stop, daemon=True) for s in streams]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(max(0.0, deadline - time.monotonic()))


def _drop_stdout() -> None:
    """After the reader closed our stdout: send what is left to /dev/null, so that
    Python's final flush does not complain about the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
