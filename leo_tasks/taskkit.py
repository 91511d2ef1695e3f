"""What every task shares: flags, errors mapped to exit codes, project defaults,
connections to each host. Only this module and tasks.py know Invoke.

Every task maps leo's errors to a one-line message and an exit code (see
errors.py), so CI steps can branch on them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from invoke import Exit, Task, task

from . import composefile, validate
from .acme_client import LETS_ENCRYPT, LETS_ENCRYPT_STAGING, AcmeSettings
from .connect import open_connection, ssh_config_for
from .errors import DRY_RUN_CHANGES, ConnectionProblem, InvalidInput, LeoError, UndoFailed
from .fleet import (
    ALL_AT_ONCE,
    Done,
    Fleet,
    FleetFailed,
    Rollout,
    conclude,
    in_parallel,
    parse_batch,
)
from .history import Audit
from .hosts import HostSpec, parse_hosts, unique_targets
from .jsonout import Document
from .layout import DEPLOY_USER, WEB_SERVICE, AppPaths
from .projectconfig import host_groups, project_defaults
from .remote import (
    KEEPALIVE_COUNT_MAX,
    KEEPALIVE_INTERVAL,
    Liveness,
    LocalRemote,
    Remote,
    SSHRemote,
)
from .report import OUTPUT_LOCK, Reporter
from .steps import app as app_step
from .steps import history as history_step
from .steps import rollback as rollback_step
from .steps.base import Host
from .steps.preview import Preview
from .steps.push import PushResult, human_bytes
from .steps.rotate import AfterSwitch, RotateResult
from .timings import Timings, cost

T = TypeVar("T")

SHORT_FLAGS = {"host": "H", "app": "a", "verbose": "v"}


class LeoTask(Task):
    """Fixed short flags: `-H` for --host keeps `-h` meaning help (invoke gives it to host)."""

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, set(taken_names) | {"h", *SHORT_FLAGS.values()})
        if name in SHORT_FLAGS:
            opts["names"] = [opts["names"][0], SHORT_FLAGS[name]]
        return opts


HELP = {
    "app": "app name (default: `app` in ./leo.yaml)",
    "host": "[user@]host[:port] or a group from ./leo.yaml, comma-separated, or `local` "
    "(default: `host` in ./leo.yaml)",
    "verbose": "also print every remote command",
    "lock-wait": "seconds to wait for another deploy of this app to finish (default: fail at once)",
    "batch": "roll through the hosts N (or N%) at a time; a batch with a failure stops the run",
    "batch-wait": "seconds to pause between batches",
    "rollback-on-failure": "when a host fails, put the hosts this run moved back on their release",
    "json": "print one JSON document on stdout instead of text (README: JSON output)",
}


def leo_task(fn: Callable | None = None, **kwargs):
    """`@task` with leo's short flags and the shared help texts of the params it has."""

    def decorate(body: Callable) -> Task:
        params = {p.replace("_", "-") for p in inspect.signature(body).parameters}
        shared = {k: v for k, v in HELP.items() if k in params}
        return task(klass=LeoTask, **{**kwargs, "help": {**shared, **kwargs.get("help", {})}})(body)

    return decorate(fn) if fn is not None else decorate


def cli_errors(fn: Callable) -> Callable:
    """Turn leo's errors into `leo: message` and their exit code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LeoError as exc:
            raise Exit(f"leo: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("leo: interrupted", code=130) from None

    return wrapper


def resolve(c, app: str | None, host: str | None, *, need_app: bool = True):
    defaults = project_defaults(getattr(c, "config", None))
    # Only an absent flag falls back to leo.yaml: `--app "$APP"` with APP unset in
    # CI must fail, not deploy whatever app leo.yaml names.
    app = defaults.get("app") if app is None else app
    if need_app:
        if app is None:
            raise InvalidInput("no app given: pass --app NAME (or set `app:` in leo.yaml)")
        validate.app_name(app)
    groups = host_groups(getattr(c, "config", None))
    return app, parse_hosts(defaults.get("host") if host is None else host, groups)


def parse_number(
    value: str | None, flag: str, *, default: float, maximum: float, unit: str = "seconds"
) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"{flag} takes a number of {unit}, not {value!r}") from None
    if not 0 <= number <= maximum:
        raise InvalidInput(f"{flag} must be between 0 and {maximum:g} {unit}")
    return number


def parse_seconds(value: str | None, flag: str) -> float:
    return parse_number(value, flag, default=0.0, maximum=86400)


def parse_days(value: str | None, flag: str = "--days") -> float:
    return parse_number(value, flag, default=30.0, maximum=3650, unit="days")


def open_remote(
    c, spec: HostSpec, reporter: Reporter, *, user: str | None, accept_new: bool = False
) -> Remote:
    if spec.is_local:
        return LocalRemote(reporter, as_user=user)
    if user:
        spec = spec.with_default_user(user)
    conn = open_connection(
        spec, reporter=reporter, base_config=getattr(c, "config", None), accept_new=accept_new
    )
    return SSHRemote(conn, reporter, str(spec), liveness_of(conn.ssh_config))


def liveness_of(ssh_config: dict) -> Liveness:
    """ServerAliveInterval / ServerAliveCountMax from ~/.ssh/config, else leo's defaults."""

    def number(key: str, default: float, low: float) -> float:
        try:
            return max(low, float(ssh_config.get(key, default)))
        except (TypeError, ValueError):
            return default

    interval = number("serveraliveinterval", KEEPALIVE_INTERVAL, 0)
    return Liveness(
        interval=interval or KEEPALIVE_INTERVAL,  # 0 means off in OpenSSH; leo keeps it on
        count_max=int(number("serveralivecountmax", KEEPALIVE_COUNT_MAX, 1)),
    )


@contextmanager
def connected(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    *,
    user: str | None = DEPLOY_USER,
    accept_new: bool = False,
    timings: Timings | None = None,
) -> Iterator[Fleet]:
    """Connect to every host (in parallel) before anything is done on any: an
    unreachable host or a refused host key stops the run with nothing changed
    (exit 3), naming the host. With `timings`, each host's connect time and
    steps are collected for its summary (see `print_timings`)."""
    reporter = Reporter(verbose=verbose, timings=timings)
    lookup = ssh_config_for(getattr(c, "config", None)).base_ssh_config.lookup
    specs = unique_targets(hosts, user, lookup)

    def attempt(spec: HostSpec) -> Remote | LeoError:
        started = time.monotonic()
        try:
            remote = open_remote(c, spec, reporter, user=user, accept_new=accept_new)
            if timings is not None:
                timings.connected(remote.name, time.monotonic() - started)
            return remote
        except LeoError as exc:
            return exc
        except Exception as exc:  # e.g. a known_hosts line paramiko cannot parse
            return ConnectionProblem(f"cannot connect to {spec}: {exc!r}")

    # Trusting new host keys appends to known_hosts while other connections would
    # read it: one host at a time then (setup, once per host).
    opened = [attempt(s) for s in specs] if accept_new else in_parallel(specs, attempt)
    remotes = [r for r in opened if not isinstance(r, LeoError)]
    try:
        problems = [e for e in opened if isinstance(e, LeoError)]
        if problems:
            for problem in problems[1:]:
                reporter.note("fleet", f"also: {problem}")
            raise problems[0]
        yield Fleet([Host(r, reporter) for r in remotes], reporter)
    finally:
        for remote in remotes:
            remote.close()


def rollout_of(hosts: list[HostSpec], batch: str | None, batch_wait: str | None) -> Rollout:
    wait = parse_seconds(batch_wait, "--batch-wait")
    size = parse_batch(batch, len(hosts))
    if wait and not size:
        raise InvalidInput("--batch-wait needs --batch N: without batches all hosts go at once")
    return Rollout(size=size, wait=wait)


def each_host(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    action: Callable[[Host], Done | None],
    *,
    what: str,
    rollout: Rollout = ALL_AT_ONCE,
    user: str | None = DEPLOY_USER,
    accept_new: bool = False,
    audit: Audit | None = None,
) -> None:
    """Connect to every host, then run `action` on all of them at once, or a batch
    at a time (a batch with a failure stops the run); summary and exit status.
    With `audit`, each host's run is recorded in its history (a run that changes
    nothing, a dry run, passes None)."""
    with connected(c, hosts, verbose, user=user, accept_new=accept_new) as fleet:
        conclude(fleet, fleet.each(recorded(action, audit), rollout), what)


def recorded(
    action: Callable[[Host], Done | None], audit: Audit | None, *, started: float | None = None
) -> Callable[[Host], Done | None]:
    """`action`, recorded in each host's history with its result (see steps/history.py)."""
    if audit is None:
        return action
    return history_step.recorded(
        action,
        audit,
        started=started,
        release_of=lambda done: done.release if done else None,
        detail_of=lambda done: done.detail if done else "",
    )


@dataclass(frozen=True)
class AppRun:
    """What a task that changes an app was asked: which app, where, how to roll."""

    hosts: list[HostSpec]
    paths: AppPaths
    lock_wait: float
    rollout: Rollout


def app_run(
    c,
    app: str | None,
    host: str | None,
    lock_wait: str | None,
    batch: str | None,
    batch_wait: str | None,
    *,
    default_wait: float = 0.0,
) -> AppRun:
    """Flags of a task that changes an app, checked before connecting anywhere."""
    app, hosts = resolve(c, app, host)
    wait = parse_number(lock_wait, "--lock-wait", default=default_wait, maximum=86400)
    return AppRun(hosts, AppPaths(app), wait, rollout_of(hosts, batch, batch_wait))


def each_host_locked(
    c,
    run: AppRun,
    verbose: bool,
    action: Callable[[Host], Done | None],
    *,
    what: str,
    rollback_on_failure: bool = False,
    purpose: str | None = None,
    first: Callable[[Fleet], None] | None = None,
    lock_name: str = "deploy",
    audit: Audit | None = None,
    timed: bool = False,
) -> None:
    """`each_host` for tasks that change an app: every host's `lock_name` lock is
    taken first; with `rollback_on_failure`, the hosts this run moved go back to
    the release they had when any host fails (or on Ctrl-C). `first` runs once
    every lock is held, before any host deploys (deploy --push). With `audit`, each
    host's run (and a rollback on failure) is recorded in the app's history. `timed`:
    each host that ran ends with a line of timings (phases, round trips)."""
    paths = run.paths
    timings = Timings() if timed else None
    with connected(c, run.hosts, verbose, timings=timings) as fleet:
        # `purpose` is what `leo lock` and a refused run say holds the lock.
        with fleet.locked(paths, lock_name, purpose=purpose or what, wait=run.lock_wait):
            before: dict[str, int | None] = {}
            if rollback_on_failure:
                for host, value in fleet.gather(lambda h: rollback_step.current_release(h, paths)):
                    if isinstance(value, LeoError):
                        raise value
                    before[host.name] = value
            if first is not None:
                first(fleet)
            outcomes = fleet.each(recorded(action, audit), run.rollout)
            if rollback_on_failure and (fleet.interrupted or any(o.failed for o in outcomes)):
                fleet.roll_back(
                    outcomes,
                    before,
                    lambda h: rollback_step.current_release(h, paths),
                    lambda h, to: recorded(
                        lambda h: deployed(rollback_step.rollback(h, paths, to=to)),
                        rollback_audit(audit, to),
                    )(h),
                    switched=lambda exc: isinstance(exc, AfterSwitch | UndoFailed),
                )
        if timings is not None:
            for host, outcome in zip(fleet.hosts, outcomes, strict=True):
                if outcome.ran:
                    host.note(timings.summary(host.name, cost(host.remote)))
        conclude(fleet, outcomes, what)


def rollback_audit(audit: Audit | None, to: int) -> Audit | None:
    """The record of a rollback on failure: the run's own, as a rollback --to N."""
    if audit is None:
        return None
    args = {"to": to, "on_failure_of": audit.task}
    return dataclasses.replace(audit, task="rollback", args=args)


def deployed(result: RotateResult) -> Done:
    """A rotate's result, for the fleet summary."""
    return Done(release=result.release or None)


def pushed(result: PushResult) -> Done:
    """A push's result, for the fleet summary."""
    if not result.sent:
        return Done(detail="already there" if result.skipped else "nothing to push")
    return Done(detail=f"sent {', '.join(result.sent)} ({human_bytes(result.bytes_sent)})")


def each_host_read(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    read: Callable[[Host], T],
    show: Callable[[Host, T], None],
    *,
    user: str | None = DEPLOY_USER,
    document: Document | None = None,
) -> None:
    """Read-only tasks: read every host at once, then show each host's output in the
    order given (grouped per host, not interleaved). A host that fails is named and
    the others still shown; exit 1 (one host: that host's error and exit status).

    With a `document` (--json), a host that fails gets an entry with its error, and
    the document is printed once every host was read, before the run exits."""
    with connected(c, hosts, verbose, user=user) as fleet:
        failed: list[tuple[Host, LeoError]] = []
        for host, value in fleet.gather(read):
            if isinstance(value, LeoError):
                failed.append((host, value))
                if document is not None:
                    document.fail(host, value)
                if fleet.many:
                    with OUTPUT_LOCK:
                        for line in str(value).splitlines():
                            print(f"[{host.name}] leo: {line}", file=sys.stderr, flush=True)
            else:
                show(host, value)
        if document is not None:
            document.emit()
        if failed:
            if not fleet.many:
                raise failed[0][1]
            # Every host refused alike (bad input: 2): that status, as a run that
            # changes hosts would give it (fleet.conclude); anything else is 1.
            codes = {error.exit_code for _, error in failed}
            code = codes.pop() if len(failed) == len(fleet.hosts) and len(codes) == 1 else 1
            raise FleetFailed(f"failed on {', '.join(h.name for h, _ in failed)}", exit_code=code)


def each_host_preview(
    c, hosts: list[HostSpec], verbose: bool, preview: Callable[[Host], Preview], *, what: str
) -> None:
    """`--dry-run`: each host's preview on stdout, grouped per host; nothing is changed
    on any host, no lock is taken. Exit 0 when no host would change, DRY_RUN_CHANGES
    when one would; a host that cannot be read fails the run as in `each_host_read`."""
    changing: list[str] = []

    def show(host: Host, found: Preview) -> None:
        print_lines(host, found.lines)
        if found.changes:
            changing.append(host.name)

    each_host_read(c, hosts, verbose, preview, show)
    if changing:
        raise Exit(
            f"leo: {what} --dry-run: changes to make on {', '.join(changing)} "
            "(nothing was changed)",
            code=DRY_RUN_CHANGES,
        )


def acme_settings(directory, staging, ca_bundle, email) -> AcmeSettings:
    if directory and staging:
        raise InvalidInput("pass --directory or --staging, not both")
    url = directory or (LETS_ENCRYPT_STAGING if staging else LETS_ENCRYPT)
    if not url.startswith("https://"):
        raise InvalidInput(f"--directory must be an https:// ACME directory URL, not {url!r}")
    bundle = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or None
    if bundle and not Path(bundle).is_file():
        raise InvalidInput(f"--ca-bundle {bundle}: no such file")
    if email is not None and "@" not in email:
        raise InvalidInput(f"--email {email!r} is not an email address")
    return AcmeSettings(directory=url, ca_bundle=bundle, email=email)


def uploaded(path: str | None, text: str | None) -> str | None:
    """How a record names an uploaded file: its name and a hash, never its contents."""
    if path is None or text is None:
        return None
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{os.path.basename(path)} (sha256 {digest})"


def read_local(path: str, what: str) -> str:
    """A local file's text exactly as it is (CRLF line ends kept: it is uploaded as is)."""
    try:
        return Path(path).expanduser().read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc}") from exc


def app_files(
    compose: str | None,
    nginx: str | None,
    image: str | None = None,
    *,
    web: app_step.WebSettings | None = None,
) -> app_step.AppFiles:
    """The files a create or deploy uploads, checked here first. `web`: the app's web
    settings when known here (create); a deploy checks the web service on the host,
    where the app's settings are."""
    compose_text, warnings = None, []
    service = web.service if web else None
    if compose:
        compose_text = read_local(compose, "compose file")
        warnings = composefile.check(compose_text, source=compose, web=service).warnings
    elif image:
        port = web.port if web else None
        compose_text = composefile.default_compose(image, web=service or WEB_SERVICE, port=port)
        composefile.check(compose_text, web=service)
    nginx_text = read_local(nginx, "nginx site") if nginx else None
    return app_step.AppFiles(compose_text, nginx_text, warnings)


def default_pubkey() -> str:
    for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
        path = Path.home() / ".ssh" / name
        if path.is_file():
            return str(path)
    raise InvalidInput("no public key found in ~/.ssh: pass --pubkey FILE")


def print_lines(host: Host, lines: list[str]) -> None:
    """A task's output (not progress): on stdout, each line marked with its host."""
    with OUTPUT_LOCK:
        for line in lines:
            print(f"[{host.name}] {line}", flush=True)
