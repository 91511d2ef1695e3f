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
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO, TypeVar

from .errors import InvalidInput, LeoError
from .layout import AppPaths
from .report import OUTPUT_LOCK, Reporter
from .steps import lock
from .steps.base import Host

T = TypeVar("T")

OK = "ok"
FAILED = "FAILED"
NOT_STARTED = "not started"
ROLLED_BACK = "rolled back"
ROLLBACK_FAILED = "ROLLBACK FAILED"


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
    result: str = NOT_STARTED
    seconds: float | None = None
    release: int | None = None
    detail: str = ""
    error: LeoError | None = None

    @property
    def failed(self) -> bool:
        return self.result in (FAILED, ROLLBACK_FAILED)

    @property
    def ran(self) -> bool:
        return self.result != NOT_STARTED


class Fleet:
    """The connected hosts of one run, in the order the user gave them."""

    def __init__(self, hosts: list[Host], reporter: Reporter) -> None:
        self.hosts = hosts
        self.reporter = reporter

    @property
    def many(self) -> bool:
        return len(self.hosts) > 1

    def each(
        self, work: Callable[[Host], Done | None], rollout: Rollout = ALL_AT_ONCE
    ) -> list[Outcome]:
        """Run `work` on every host, a batch at a time; stop after a batch with a failure."""
        outcomes = {h.name: Outcome(h.name) for h in self.hosts}
        groups = batches(self.hosts, rollout.size)
        for index, group in enumerate(groups):
            if len(groups) > 1:
                if index and rollout.wait:
                    self.reporter.note("fleet", f"waiting {rollout.wait:g}s before the next batch")
                    time.sleep(rollout.wait)
                names = ", ".join(h.name for h in group)
                self.reporter.note("fleet", f"batch {index + 1}/{len(groups)}: {names}")
            for host, outcome in zip(
                group, self._parallel(group, self._attempt(work)), strict=True
            ):
                outcomes[host.name] = outcome
            failed = [h.name for h in group if outcomes[h.name].failed]
            if failed and index + 1 < len(groups):
                self.reporter.note(
                    "fleet",
                    f"stopping: {', '.join(failed)} failed; "
                    f"{_hosts(sum(len(g) for g in groups[index + 1 :]))} not started",
                )
                break
        return [outcomes[h.name] for h in self.hosts]

    def gather(self, read: Callable[[Host], T]) -> list[tuple[Host, T | LeoError]]:
        """`read` on every host at once; each host's value, or the error it raised."""

        def attempt(host: Host) -> T | LeoError:
            try:
                return read(host)
            except LeoError as exc:
                return exc

        return list(zip(self.hosts, self._parallel(self.hosts, attempt), strict=True))

    @contextmanager
    def locked(self, paths: AppPaths, *, purpose: str, wait: float) -> Iterator[None]:
        """Every host's deploy lock, taken one host at a time in a fixed order (sorted
        names: two fleet runs over the same hosts cannot each hold what the other
        waits for), before any host changes. One held lock stops the run: the locks
        already taken are released, nothing was changed."""
        path = lock.lock_path(paths, "deploy")
        taken: list[Host] = []
        try:
            for host in sorted(self.hosts, key=lambda h: h.name):
                host.locks[path] = lock.take(host, paths, "deploy", purpose=purpose, wait=wait)
                taken.append(host)
            if self.many:
                self.reporter.note("fleet", f"deploy lock taken on all {len(taken)} hosts")
            yield
        finally:
            for host in taken:
                host.locks.pop(path).holder.release()

    def _attempt(self, work: Callable[[Host], Done | None]) -> Callable[[Host], Outcome]:
        def attempt(host: Host) -> Outcome:
            started = time.monotonic()
            try:
                done = work(host) or Done()
            except LeoError as exc:
                self._report_failure(host, exc)
                return Outcome(host.name, FAILED, time.monotonic() - started, error=exc)
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

    def _parallel(self, hosts: list[Host], fn: Callable[[Host], T]) -> list[T]:
        if len(hosts) == 1:
            return [fn(hosts[0])]
        with ThreadPoolExecutor(max_workers=len(hosts), thread_name_prefix="leo-host") as pool:
            return list(pool.map(fn, hosts))

    def _report_failure(self, host: Host, exc: LeoError) -> None:
        # One host: the CLI prints the error itself. Several: say it where it happened.
        if self.many:
            lines = str(exc).splitlines() or [type(exc).__name__]
            self.reporter.note(host.name, f"error: {lines[0]}")
            for line in lines[1:]:
                self.reporter.note(host.name, line if line.startswith(" ") else f"  {line}")


def roll_back_moved(
    fleet: Fleet,
    outcomes: list[Outcome],
    before: dict[str, int | None],
    current: Callable[[Host], int | None],
    roll_back: Callable[[Host, int], Done | None],
) -> None:
    """Put every host this run moved back on the release it had before the run.

    "Moved" is read from each host's records, not assumed: a host that failed
    before its switch was already put back by its own run and is left alone.
    """
    by_name = {o.host: o for o in outcomes}
    ran = [h for h in fleet.hosts if by_name[h.name].ran]
    now = dict((h.name, value) for h, value in fleet.gather(current))
    moved: list[Host] = []
    for host in ran:
        outcome, was, is_now = by_name[host.name], before.get(host.name), now.get(host.name)
        if isinstance(is_now, LeoError):
            outcome.detail = _joined(outcome.detail, f"could not read its releases: {is_now}")
        elif is_now == was:
            continue
        elif was is None:
            outcome.detail = _joined(outcome.detail, "no earlier release to go back to")
        else:
            moved.append(host)
    if not moved:
        return
    fleet.reporter.note(
        "fleet", f"rolling back {', '.join(h.name for h in moved)} to their previous releases"
    )

    def back(host: Host) -> Outcome:
        target = before[host.name]
        assert target is not None
        return fleet._attempt(lambda h: roll_back(h, target))(host)

    for host, result in zip(moved, fleet._parallel(moved, back), strict=True):
        outcome = by_name[host.name]
        if result.failed:
            outcome.result = ROLLBACK_FAILED
            outcome.detail = _joined(outcome.detail, f"rollback: {_first_line(result.error)}")
            outcome.error = outcome.error or result.error
        else:
            outcome.result = f"{FAILED}, {ROLLED_BACK}" if outcome.failed else ROLLED_BACK
            outcome.release = result.release
            outcome.detail = _joined(outcome.detail, f"back on release {before[host.name]}")


def summary(outcomes: list[Outcome]) -> list[str]:
    """A table: host, result, release (for tasks that deploy), duration, and the first
    line of its error or what it did."""
    releases = any(o.release is not None for o in outcomes)
    header = ("HOST", "RESULT", *(("RELEASE",) if releases else ()), "TIME")
    rows = [(header, "DETAIL")]
    for o in outcomes:
        release = ("-" if o.release is None else str(o.release),) if releases else ()
        seconds = "-" if o.seconds is None else f"{o.seconds:.1f}s"
        rows.append(
            ((o.host, o.result, *release, seconds), _joined(_first_line(o.error), o.detail))
        )
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
    if summarize or failed:
        out = stream or sys.stderr
        with OUTPUT_LOCK:
            print("", file=out)
            for line in summary(outcomes):
                print(line, file=out, flush=True)
    if not failed:
        return
    codes = {o.error.exit_code for o in failed if o.error is not None}
    untouched = all(o.failed or not o.ran for o in outcomes) and not any(
        ROLLED_BACK in o.result for o in outcomes
    )
    code = codes.pop() if untouched and len(codes) == 1 and codes <= {2, 3, 4} else 1
    skipped = sum(1 for o in outcomes if not o.ran)
    tail = f"; {skipped} not started" if skipped else ""
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
