"""Run a task on many hosts: all at once, or in rolling batches.

The per-host algorithm stays in steps/; this module only decides where and
when it runs and what one host's failure means for the others:

- Every host of a batch runs in a thread of its own; progress lines keep
  their `[host]` prefix.
- A batch with a failed host stops the run: later batches are never touched.
- Tasks that change an app take every host's deploy lock first, in a fixed
  order, so that a held lock anywhere stops the run before any host changed.
- With rollback on failure, the hosts this run moved go back to the release
  they had, so the fleet ends on one release.
- At the end, a summary per host, and an exit status that says whether all
  hosts succeeded.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from .errors import InvalidInput, LeoError
from .layout import AppPaths
from .report import OUTPUT_LOCK, Reporter
from .steps import lock
from .steps.base import Host

T = TypeVar("T")
R = TypeVar("R")

OK = "ok"
FAILED = "FAILED"
NOT_STARTED = "not started"
ROLLED_BACK = "rolled back"
ROLLBACK_FAILED = "ROLLBACK FAILED"

# Hosts worked on at once; a bigger batch queues behind these (bounded threads,
# and a bastion's sshd drops connections beyond its MaxStartups anyway).
MAX_PARALLEL = 32
INTERRUPTED = 130  # exit status of a run stopped by Ctrl-C, as a shell reports SIGINT


class FleetFailed(LeoError):
    """One or more hosts failed; the summary above says which and why."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Rollout:
    """How hosts are taken: `size` at a time (None: all at once), `wait` seconds apart."""

    size: int | None = None
    wait: float = 0.0


ALL_AT_ONCE = Rollout()


def parse_batch(text: str | None, hosts: int) -> int | None:
    """`--batch 2` (hosts) or `--batch 25%` (of the hosts, rounded down, at least one)."""
    if text is None or str(text).strip() == "":
        return None
    raw = str(text).strip()
    percent = raw.endswith("%")
    number = raw[:-1] if percent else raw
    if not number.isdigit() or int(number) < 1 or (percent and int(number) > 100):
        raise InvalidInput(
            f"--batch takes a number of hosts (2) or a percentage (25%), not {text!r}"
        )
    if percent:
        return max(1, math.floor(hosts * int(number) / 100))
    return int(number)


def batches(items: list[T], size: int | None) -> list[list[T]]:
    if not items:
        return []
    step = size or len(items)
    return [items[i : i + step] for i in range(0, len(items), step)]


@dataclass
class Done:
    """What a host's work reports for the summary."""

    release: int | None = None
    detail: str = ""


@dataclass
class Outcome:
    host: str
    result: str = NOT_STARTED  # OK, FAILED or NOT_STARTED: what the host's own run did
    seconds: float | None = None
    release: int | None = None
    detail: str = ""
    error: LeoError | None = None
    rollback: str = ""  # ROLLED_BACK or ROLLBACK_FAILED when rollback on failure acted

    @property
    def failed(self) -> bool:
        """The host's run failed, or putting it back did (a host that failed and was
        rolled back still failed: the run as a whole did not do what was asked)."""
        return self.result == FAILED or self.rollback == ROLLBACK_FAILED

    @property
    def ran(self) -> bool:
        return self.result != NOT_STARTED

    @property
    def shown(self) -> str:
        return f"{self.result}, {self.rollback}" if self.rollback else self.result


def in_parallel(items: list[T], fn: Callable[[T], R]) -> list[R]:
    """`fn` on every item at once (at most MAX_PARALLEL threads), results in order.

    Ctrl-C does not abandon the items in flight: each finishes (a host's run ends
    consistent either way), none is started after it, then _Interrupted carries
    the results (None for an item never started). `kill -9` abandons them (each
    host's locks free themselves).
    """
    if len(items) == 1:
        return [fn(items[0])]
    stop = threading.Event()
    filed: list[tuple[R | None, BaseException | None] | None] = [None] * len(items)

    def run(index: int) -> None:
        if stop.is_set():
            return  # queued behind MAX_PARALLEL, never started
        try:
            filed[index] = (fn(items[index]), None)
        except BaseException as exc:  # handed to the caller below
            filed[index] = (None, exc)

    def on_ctrl_c(signum: int, frame: object) -> None:
        # No KeyboardInterrupt here: raised in the middle of a submit or a
        # join it would lose track of threads that still run.
        if not stop.is_set():
            print(
                "leo: interrupted: starting nothing new; waiting for the hosts in flight "
                "to finish (kill -9 leo to abandon them)",
                file=sys.stderr,
                flush=True,
            )
        stop.set()

    previous = _handle_sigint(on_ctrl_c)
    try:
        with ThreadPoolExecutor(
            max_workers=min(len(items), MAX_PARALLEL), thread_name_prefix="leo"
        ) as pool:
            for index in range(len(items)):
                pool.submit(run, index)
    finally:
        _handle_sigint(previous)
    for entry in filed:
        if entry is not None and entry[1] is not None:
            raise entry[1]
    results = [entry[0] if entry is not None else None for entry in filed]
    if stop.is_set():
        raise _Interrupted(results)
    return results  # type: ignore[return-value]  (every item ran: none is None)


def _handle_sigint(handler: Any) -> Any:
    """Install a SIGINT handler from the main thread; elsewhere leave it (None)."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C during in_parallel, raised once every item finished: carries their results."""

    def __init__(self, results: list) -> None:
        super().__init__()
        self.results = results


class Fleet:
    """The connected hosts of one run, in the order the user gave them."""

    def __init__(self, hosts: list[Host], reporter: Reporter) -> None:
        self.hosts = hosts
        self.reporter = reporter
        self.interrupted = False  # Ctrl-C: no further host or batch was started

    @property
    def many(self) -> bool:
        return len(self.hosts) > 1

    def each(
        self, work: Callable[[Host], Done | None], rollout: Rollout = ALL_AT_ONCE
    ) -> list[Outcome]:
        """Run `work` on every host, a batch at a time; stop after a batch with a failure
        (or after Ctrl-C)."""
        outcomes = {h.name: Outcome(h.name) for h in self.hosts}
        groups = batches(self.hosts, rollout.size)
        for index, group in enumerate(groups):
            if len(groups) > 1:
                if index and rollout.wait:
                    self.reporter.note("fleet", f"waiting {rollout.wait:g}s before the next batch")
                    self._sleep(rollout.wait)
                if self.interrupted:
                    break
                names = ", ".join(h.name for h in group)
                self.reporter.note("fleet", f"batch {index + 1}/{len(groups)}: {names}")
            for host, outcome in zip(group, self._each_of(group, work), strict=True):
                outcomes[host.name] = outcome
            left = sum(len(g) for g in groups[index + 1 :])
            failed = [h.name for h in group if outcomes[h.name].failed]
            if (failed or self.interrupted) and left:
                why = "interrupted" if self.interrupted else f"{', '.join(failed)} failed"
                self.reporter.note("fleet", f"stopping: {why}; {_hosts(left)} not started")
                break
        return [outcomes[h.name] for h in self.hosts]

    def gather(self, read: Callable[[Host], T]) -> list[tuple[Host, T | LeoError]]:
        """`read` on every host at once; each host's value, or the error it raised."""

        def attempt(host: Host) -> T | LeoError:
            try:
                return read(host)
            except LeoError as exc:
                return exc

        return list(zip(self.hosts, in_parallel(self.hosts, attempt), strict=True))

    @contextmanager
    def locked(
        self, paths: AppPaths, name: str = "deploy", *, purpose: str, wait: float
    ) -> Iterator[None]:
        """Every host's `name` lock, taken one host at a time in a fixed order (sorted
        names: two fleet runs over the same hosts cannot each hold what the other
        waits for), before any host changes. One held lock stops the run: the locks
        already taken are released, nothing was changed."""
        path = lock.lock_path(paths, name)
        taken: list[Host] = []
        try:
            for host in sorted(self.hosts, key=lambda h: h.name):
                host.locks[path] = lock.take(host, paths, name, purpose=purpose, wait=wait)
                taken.append(host)
            if self.many:
                self.reporter.note("fleet", f"{name} lock taken on all {len(taken)} hosts")
            yield
        finally:
            for host in taken:
                try:
                    host.locks.pop(path).holder.release(wait=False)
                except Exception as exc:  # the others must still be released
                    self.reporter.note(host.name, f"could not release the {name} lock: {exc}")

    def roll_back(
        self,
        outcomes: list[Outcome],
        before: dict[str, int | None],
        current: Callable[[Host], int | None],
        roll_back: Callable[[Host, int], Done | None],
        switched: Callable[[LeoError], bool],
    ) -> None:
        """Put every host this run moved back on the release it had before the run.

        Moved: its current release differs from the one it had, or its run failed
        after its switch (`switched`: the new containers may serve without a release
        recorded). A host that failed before its switch was put back by its own run.
        """
        by_name = {o.host: o for o in outcomes}
        now = {
            h.name: value
            for h, value in self.gather(lambda h: current(h) if by_name[h.name].ran else None)
        }
        moved: list[Host] = []
        for host in self.hosts:
            outcome, was, is_now = by_name[host.name], before.get(host.name), now[host.name]
            if not outcome.ran:
                continue
            if isinstance(is_now, LeoError):
                outcome.detail = _joined(outcome.detail, f"could not read its releases: {is_now}")
            elif is_now == was and not (outcome.error is not None and switched(outcome.error)):
                continue
            elif was is None:
                outcome.detail = _joined(outcome.detail, "no earlier release to go back to")
            else:
                moved.append(host)
        if not moved:
            return
        self.reporter.note(
            "fleet", f"rolling back {', '.join(h.name for h in moved)} to their previous releases"
        )

        def back(host: Host) -> Outcome:
            target = before[host.name]
            assert target is not None
            return self._attempt(lambda h: roll_back(h, target))(host)

        for host, result in zip(moved, self._in_parallel(moved, back), strict=True):
            outcome = by_name[host.name]
            if result.result == FAILED:
                outcome.rollback = ROLLBACK_FAILED
                outcome.detail = _joined(outcome.detail, f"rollback: {_first_line(result.error)}")
                outcome.error = outcome.error or result.error
            else:
                outcome.rollback = ROLLED_BACK
                outcome.release = result.release
                outcome.detail = _joined(outcome.detail, f"back on release {before[host.name]}")

    def _each_of(self, group: list[Host], work: Callable[[Host], Done | None]) -> list[Outcome]:
        return self._in_parallel(group, self._attempt(work))

    def _in_parallel(self, hosts: list[Host], fn: Callable[[Host], Outcome]) -> list[Outcome]:
        try:
            return in_parallel(hosts, fn)
        except _Interrupted as stop:
            self.interrupted = True
            return [r or Outcome(h.name) for h, r in zip(hosts, stop.results, strict=True)]

    def _sleep(self, seconds: float) -> None:
        try:
            time.sleep(seconds)
        except KeyboardInterrupt:
            self.interrupted = True

    def _attempt(self, work: Callable[[Host], Done | None]) -> Callable[[Host], Outcome]:
        def attempt(host: Host) -> Outcome:
            started = time.monotonic()
            try:
                done = work(host) or Done()
            except LeoError as exc:
                self._report_failure(host, exc)
                return Outcome(host.name, FAILED, time.monotonic() - started, error=exc)
            except KeyboardInterrupt:
                # A host run in this thread (a batch of one): its run already put back
                # what it had changed before the switch. One host alone: as before.
                if not self.many:
                    raise
                self.interrupted = True
                error = LeoError("interrupted")
                return Outcome(host.name, FAILED, time.monotonic() - started, error=error)
            except Exception as exc:
                # A bug hit on one host: the others' results still matter.
                if not self.many:
                    raise
                for line in traceback.format_exc().splitlines():
                    self.reporter.note(host.name, line)
                error = LeoError(f"internal error: {exc!r}")
                return Outcome(host.name, FAILED, time.monotonic() - started, error=error)
            return Outcome(host.name, OK, time.monotonic() - started, done.release, done.detail)

        return attempt

    def _report_failure(self, host: Host, exc: LeoError) -> None:
        # One host: the CLI prints the error itself. Several: say it where it happened.
        if self.many:
            lines = str(exc).splitlines() or [type(exc).__name__]
            self.reporter.note(host.name, f"error: {lines[0]}")
            for line in lines[1:]:
                self.reporter.note(host.name, line if line.startswith(" ") else f"  {line}")


def summary(outcomes: list[Outcome]) -> list[str]:
    """A table: host, result, release (for tasks that deploy), duration, and the first
    line of its error or what it did."""
    releases = any(o.release is not None for o in outcomes)
    header = ("HOST", "RESULT", *(("RELEASE",) if releases else ()), "TIME")
    rows = [(header, "DETAIL")]
    for o in outcomes:
        release = ("-" if o.release is None else str(o.release),) if releases else ()
        seconds = "-" if o.seconds is None else f"{o.seconds:.1f}s"
        rows.append(((o.host, o.shown, *release, seconds), _joined(_first_line(o.error), o.detail)))
    widths = [max(len(cells[i]) for cells, _ in rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        + ("  " + detail if detail else "")
        for cells, detail in rows
    ]


def conclude(
    fleet: Fleet,
    outcomes: list[Outcome],
    what: str,
    *,
    stream: TextIO | None = None,
    summarize: bool = True,
) -> None:
    """One host: its error as it is (message and exit status unchanged). Several: the
    summary, then exit 1 naming the failed hosts, or 2-4 when every host failed that
    way before changing anything."""
    if not fleet.many:
        if outcomes and outcomes[0].error is not None:
            raise outcomes[0].error
        return
    failed = [o for o in outcomes if o.failed]
    if summarize or failed or fleet.interrupted:
        out = stream or sys.stderr
        with OUTPUT_LOCK:
            print("", file=out)
            for line in summary(outcomes):
                print(line, file=out, flush=True)
    skipped = sum(1 for o in outcomes if not o.ran)
    tail = f"; {skipped} not started" if skipped else ""
    if fleet.interrupted:
        raise FleetFailed(f"{what} interrupted{tail}", exit_code=INTERRUPTED)
    if not failed:
        return
    # Connecting and locking happen before any host runs (exit 3/4 from there).
    # Here only refusals that come before a change (bad input, a lock held) keep
    # their own status, and only when every host that ran was refused alike.
    codes = {o.error.exit_code for o in failed if o.error is not None}
    untouched = all(o.failed or not o.ran for o in outcomes) and not any(
        o.rollback for o in outcomes
    )
    code = codes.pop() if untouched and len(codes) == 1 and codes <= {2, 4} else 1
    raise FleetFailed(f"{what} failed on {', '.join(o.host for o in failed)}{tail}", exit_code=code)


def _first_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _hosts(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
