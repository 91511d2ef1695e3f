"""What every task shares: flags, errors mapped to exit codes, project defaults,
connections to each host. Only this module and tasks.py know Invoke.

Every task maps leo's errors to a one-line message and an exit code (see
errors.py), so CI steps can branch on them.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Exit, Task, task

from . import composefile, validate
from .acme_client import LETS_ENCRYPT, LETS_ENCRYPT_STAGING, AcmeSettings
from .connect import open_connection, ssh_config_for
from .errors import InvalidInput, LeoError
from .hosts import HostSpec, parse_hosts, unique_targets
from .layout import DEPLOY_USER
from .projectconfig import project_defaults
from .remote import (
    KEEPALIVE_COUNT_MAX,
    KEEPALIVE_INTERVAL,
    Liveness,
    LocalRemote,
    Remote,
    SSHRemote,
)
from .report import Reporter
from .steps import app as app_step
from .steps.base import Host

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
    "host": "[user@]host[:port], comma-separated, or `local` (default: `host` in ./leo.yaml)",
    "verbose": "also print every remote command",
    "lock-wait": "seconds to wait for another deploy of this app to finish (default: fail at once)",
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
    return app, parse_hosts(defaults.get("host") if host is None else host)


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
) -> Iterator[list[Host]]:
    """Connect to every host before anything is done on any: an unreachable host or a
    refused host key stops the run with nothing changed (exit 3)."""
    reporter = Reporter(verbose=verbose)
    remotes: list[Remote] = []
    lookup = ssh_config_for(getattr(c, "config", None)).base_ssh_config.lookup
    try:
        for spec in unique_targets(hosts, user, lookup):
            remotes.append(open_remote(c, spec, reporter, user=user, accept_new=accept_new))
        yield [Host(r, reporter) for r in remotes]
    finally:
        for remote in remotes:
            remote.close()


def each_host(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    action: Callable[[Host], None],
    *,
    user: str | None = DEPLOY_USER,
    accept_new: bool = False,
) -> None:
    """Connect to every host, then run `action` on each in turn; the first failure stops
    the run."""
    with connected(c, hosts, verbose, user=user, accept_new=accept_new) as connected_hosts:
        for host in connected_hosts:
            action(host)


def all_hosts(
    c, hosts: list[HostSpec], verbose: bool, action: Callable[[list[Host]], None]
) -> None:
    """Connect to every host first, then act on all of them together (ACME needs the
    challenge on every host before the CA validates)."""
    with connected(c, hosts, verbose) as connected_hosts:
        action(connected_hosts)


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


def read_local(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc}") from exc


def app_files(
    compose: str | None, nginx: str | None, image: str | None = None
) -> app_step.AppFiles:
    compose_text, warnings = None, []
    if compose:
        compose_text = read_local(compose, "compose file")
        warnings = composefile.check(compose_text, source=compose).warnings
    elif image:
        compose_text = composefile.default_compose(image)
        composefile.check(compose_text)
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
    for line in lines:
        print(f"[{host.name}] {line}", flush=True)
