"""The Invoke tasks: parse flags, load project defaults, open connections, call steps.

Only this module knows Invoke. Every task maps leo's errors to a one-line
message and an exit code (see errors.py), so CI steps can branch on them.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

from invoke import Collection, Exit, Task, task

from . import composefile, validate
from .acme_client import LETS_ENCRYPT, LETS_ENCRYPT_STAGING, AcmeSettings
from .connect import open_connection
from .errors import InvalidInput, LeoError
from .hosts import HostSpec, parse_hosts
from .layout import DEPLOY_USER, AppPaths
from .projectconfig import project_defaults
from .remote import LocalRemote, Remote, SSHRemote, stdin_is_tty
from .report import Reporter
from .steps import app as app_step
from .steps import env as env_step
from .steps import implode as implode_step
from .steps import lifecycle
from .steps import lock as lock_step
from .steps import releases as releases_step
from .steps import rotate as rotate_step
from .steps import setup as setup_step
from .steps import status as status_step
from .steps import tls as tls_step
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


# ---- plumbing ---------------------------------------------------------------


def _resolve(c, app: str | None, host: str | None, *, need_app: bool = True):
    defaults = project_defaults(getattr(c, "config", None))
    # Only an absent flag falls back to leo.yaml: `--app "$APP"` with APP unset in
    # CI must fail, not deploy whatever app leo.yaml names.
    app = defaults.get("app") if app is None else app
    if need_app:
        if app is None:
            raise InvalidInput("no app given: pass --app NAME (or set `app:` in leo.yaml)")
        validate.app_name(app)
    return app, parse_hosts(defaults.get("host") if host is None else host)


def _number(
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


def _seconds(value: str | None, flag: str) -> float:
    return _number(value, flag, default=0.0, maximum=86400)


def _days(value: str | None, flag: str = "--days") -> float:
    return _number(value, flag, default=30.0, maximum=3650, unit="days")


def _open(
    c, spec: HostSpec, reporter: Reporter, *, user: str | None, accept_new: bool = False
) -> Remote:
    if spec.is_local:
        return LocalRemote(reporter, as_user=user)
    if user:
        spec = spec.with_default_user(user)
    conn = open_connection(
        spec, reporter=reporter, base_config=getattr(c, "config", None), accept_new=accept_new
    )
    return SSHRemote(conn, reporter, str(spec))


def _each_host(
    c,
    hosts: list[HostSpec],
    verbose: bool,
    action: Callable[[Host], None],
    *,
    user: str | None = DEPLOY_USER,
    accept_new: bool = False,
) -> Reporter:
    """Run `action` on each host in turn; the first failure stops the run."""
    reporter = Reporter(verbose=verbose)
    for spec in hosts:
        remote = _open(c, spec, reporter, user=user, accept_new=accept_new)
        try:
            action(Host(remote, reporter))
        finally:
            remote.close()
    return reporter


def _all_hosts(
    c, hosts: list[HostSpec], verbose: bool, action: Callable[[list[Host]], None]
) -> None:
    """Connect to every host first, then act on all of them together (ACME needs the
    challenge on every host before the CA validates)."""
    reporter = Reporter(verbose=verbose)
    remotes: list[Remote] = []
    try:
        for spec in hosts:
            remotes.append(_open(c, spec, reporter, user=DEPLOY_USER))
        action([Host(r, reporter) for r in remotes])
    finally:
        for remote in remotes:
            remote.close()


def _acme_settings(directory, staging, ca_bundle, email) -> AcmeSettings:
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


def _read_local(path: str, what: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc}") from exc


def _app_files(
    compose: str | None, nginx: str | None, image: str | None = None
) -> app_step.AppFiles:
    compose_text, warnings = None, []
    if compose:
        compose_text = _read_local(compose, "compose file")
        warnings = composefile.check(compose_text, source=compose).warnings
    elif image:
        compose_text = composefile.default_compose(image)
        composefile.check(compose_text)
    nginx_text = _read_local(nginx, "nginx site") if nginx else None
    return app_step.AppFiles(compose_text, nginx_text, warnings)


def _default_pubkey() -> str:
    for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
        path = Path.home() / ".ssh" / name
        if path.is_file():
            return str(path)
    raise InvalidInput("no public key found in ~/.ssh: pass --pubkey FILE")


# ---- tasks ------------------------------------------------------------------


@leo_task(
    help={
        "pubkey": "public key to authorize for leo-deploy (default: ~/.ssh/id_*.pub)",
        "accept-new-host-key": "trust an unknown host key and record it in known_hosts",
    }
)
@cli_errors
def setup(c, host=None, pubkey=None, accept_new_host_key=False, verbose=False):
    """Prepare a server for leo (as root or a sudoer); running it twice changes nothing."""
    _, hosts = _resolve(c, None, host, need_app=False)
    key_file = pubkey or _default_pubkey()
    key = setup_step.check_pubkey(_read_local(key_file, "public key"), key_file)
    _each_host(
        c,
        hosts,
        verbose,
        lambda h: setup_step.setup(h, key),
        user=None,
        accept_new=accept_new_host_key,
    )


@leo_task(
    iterable=["domain"],
    help={
        "compose": "compose file to use (needs a `web` service listening on port 5000)",
        "image": "image for a default compose file with one `web` service (instead of --compose)",
        "nginx": "your own nginx site file instead of the generated one",
        "domain": "server_name (repeatable; default: the app name)",
    },
)
@cli_errors
def create(
    c, app=None, host=None, compose=None, image=None, nginx=None, domain=None, verbose=False
):
    """Create an app on the host: compose file, nginx site, env file; nothing started yet."""
    app, hosts = _resolve(c, app, host)
    if bool(compose) == bool(image):
        raise InvalidInput("pass exactly one of --compose FILE or --image IMAGE")
    files = _app_files(compose, nginx, image)
    domains = [validate.domain(d) for d in (domain or [])] or [app]
    paths = AppPaths(app)
    _each_host(c, hosts, verbose, lambda h: app_step.create(h, paths, files, domains))


@leo_task(help={"compose": "new compose file to upload", "nginx": "new nginx site to upload"})
@cli_errors
def deploy(c, app=None, host=None, compose=None, nginx=None, lock_wait=None, verbose=False):
    """Upload new files (if given), then rotate: the usual way to ship a release."""
    app, hosts = _resolve(c, app, host)
    files = _app_files(compose, nginx)
    paths = AppPaths(app)

    def action(h: Host) -> None:
        rotate_step.rotate(
            h,
            paths,
            lock_wait=_seconds(lock_wait, "--lock-wait"),
            before=lambda: app_step.upload(h, paths, files),
        )

    _each_host(c, hosts, verbose, action)


@leo_task
@cli_errors
def rotate(c, app=None, host=None, lock_wait=None, verbose=False):
    """Zero-downtime deploy of what is on the host (the first deploy included)."""
    app, hosts = _resolve(c, app, host)
    paths = AppPaths(app)
    _each_host(
        c,
        hosts,
        verbose,
        lambda h: (
            rotate_step.rotate(h, paths, lock_wait=_seconds(lock_wait, "--lock-wait")) and None
        ),
    )


@leo_task
@cli_errors
def start(c, app=None, host=None, verbose=False):
    """Start the app if it is not running, and point nginx at its containers."""
    app, hosts = _resolve(c, app, host)
    _each_host(c, hosts, verbose, lambda h: lifecycle.start(h, AppPaths(app)))


@leo_task
@cli_errors
def stop(c, app=None, host=None, verbose=False):
    """Stop the app's containers (nginx then answers 502 for it)."""
    app, hosts = _resolve(c, app, host)
    _each_host(c, hosts, verbose, lambda h: lifecycle.stop(h, AppPaths(app)))


@leo_task(
    name="run",
    help={
        "service": "compose service (default: web)",
        "command": "command line, run with `sh -c` in a one-off container",
    },
)
@cli_errors
def run_(c, app=None, host=None, service="web", command=None, verbose=False):
    """Run a command in a one-off container; its output and exit status are passed back."""
    app, hosts = _resolve(c, app, host)
    validate.service_name(service)
    if not command:
        raise InvalidInput("no command given: pass --command 'CMD'")
    statuses: list[int] = []
    tty = stdin_is_tty() and sys.stdout.isatty()
    _each_host(
        c,
        hosts,
        verbose,
        lambda h: statuses.append(lifecycle.run(h, AppPaths(app), service, command, tty=tty)),
    )
    worst = next((s for s in statuses if s), 0)
    if worst:
        raise Exit(code=worst)


@leo_task(default=True, name="show")
@cli_errors
def env_show(c, app=None, host=None, verbose=False):
    """Print the app's environment (as env-file lines)."""
    app, hosts = _resolve(c, app, host)
    _each_host(
        c, hosts, verbose, lambda h: print(env_step.show(h, AppPaths(app)), end="", flush=True)
    )


@leo_task(name="set", help={"name": "variable name", "value": "value, stored exactly as given"})
@cli_errors
def env_set(c, app=None, host=None, name=None, value=None, verbose=False):
    """Set one variable in the app's env file (applies on the next rotate)."""
    app, hosts = _resolve(c, app, host)
    if value is None:
        raise InvalidInput("no value given: pass --value VALUE (--value '' for empty)")
    validate.env_name(name or "")

    def action(h: Host) -> None:
        with h.step(f"env.set {name}") as line:
            changed = env_step.set_value(h, AppPaths(app), name, value)
            line.outcome = (
                "changed: run `leo rotate` to restart the app with it" if changed else "unchanged"
            )

    _each_host(c, hosts, verbose, action)


@leo_task(name="del", help={"name": "variable name"})
@cli_errors
def env_del(c, app=None, host=None, name=None, verbose=False):
    """Remove one variable from the app's env file (applies on the next rotate)."""
    app, hosts = _resolve(c, app, host)
    validate.env_name(name or "")

    def action(h: Host) -> None:
        with h.step(f"env.del {name}") as line:
            changed = env_step.delete(h, AppPaths(app), name)
            line.outcome = (
                "removed: run `leo rotate` to restart the app without it"
                if changed
                else "unchanged (not set)"
            )

    _each_host(c, hosts, verbose, action)


@leo_task
@cli_errors
def status(c, app=None, host=None, verbose=False):
    """Show the app's containers, what nginx points at, and whether they agree (exit 1 if not)."""
    app, hosts = _resolve(c, app, host)
    disagree = []

    def action(h: Host) -> None:
        lines, agree = status_step.status(h, AppPaths(app))
        for line in lines:
            print(f"[{h.name}] {line}", flush=True)
        if not agree:
            disagree.append(h.name)

    _each_host(c, hosts, verbose, action)
    if disagree:
        raise Exit(f"leo: nginx and the web containers disagree on {', '.join(disagree)}", code=1)


@leo_task
@cli_errors
def releases(c, app=None, host=None, verbose=False):
    """List the app's recorded releases, newest first (* = current)."""
    app, hosts = _resolve(c, app, host)

    def action(h: Host) -> None:
        for line in releases_step.describe(releases_step.load(h, AppPaths(app))):
            print(f"[{h.name}] {line}", flush=True)

    _each_host(c, hosts, verbose, action)


@leo_task(help={"to": "release number to go back to (default: the previous one)"})
@cli_errors
def rollback(c, app=None, host=None, to=None, lock_wait=None, verbose=False):
    """Redeploy a recorded release (its compose file and exact images), zero-downtime."""
    app, hosts = _resolve(c, app, host)
    target = None
    if to is not None:
        if not str(to).isdigit():
            raise InvalidInput(f"--to takes a release number, not {to!r}")
        target = int(to)
    paths = AppPaths(app)

    def action(h: Host) -> None:
        release = releases_step.rollback_target(releases_step.load(h, paths), target)

        def install() -> None:
            with h.step(f"install compose file of release {release.number}"):
                pinned = releases_step.pinned_compose(h, paths, release)
                app_step.upload(h, paths, app_step.AppFiles(compose=pinned))

        rotate_step.rotate(
            h,
            paths,
            lock_wait=_seconds(lock_wait, "--lock-wait"),
            before=install,
            note=f"rollback to release {release.number}",
        )

    _each_host(c, hosts, verbose, action)


ACME_HELP = {
    "email": "contact for the CA (default: LETS_ENCRYPT_EMAIL in the app's env file)",
    "domain": "domain for the certificate (repeatable; default: the site's server_names)",
    "directory": "ACME directory URL (default: Let's Encrypt production)",
    "staging": "use Let's Encrypt's staging directory",
    "ca-bundle": "CA file to trust for the ACME server (e.g. Pebble's; or REQUESTS_CA_BUNDLE)",
    "days": "renew when a certificate expires within this many days (default 30)",
    "force": "request a new certificate even if the current one is not due",
}


@leo_task(name="letsencrypt", default=True, iterable=["domain"], help=ACME_HELP)
@cli_errors
def letsencrypt_issue(
    c,
    app=None,
    host=None,
    email=None,
    domain=None,
    directory=None,
    staging=False,
    ca_bundle=None,
    days=None,
    force=False,
    verbose=False,
):
    """Get or renew the app's certificate (HTTP-01 on every host) and serve HTTPS."""
    app, hosts = _resolve(c, app, host)
    settings = _acme_settings(directory, staging, ca_bundle, email)
    domains = [validate.domain(d) for d in (domain or [])]
    due_days = _days(days)
    _all_hosts(
        c,
        hosts,
        verbose,
        lambda hs: tls_step.letsencrypt(
            hs, AppPaths(app), domains, settings, days=due_days, force=force
        ),
    )


@leo_task(
    name="schedule",
    help={
        "leo": "absolute path of leo on the server (default: `command -v leo` there)",
        **{
            k: v
            for k, v in ACME_HELP.items()
            if k in ("directory", "staging", "ca-bundle", "email")
        },
    },
)
@cli_errors
def letsencrypt_schedule(
    c,
    app=None,
    host=None,
    leo=None,
    directory=None,
    staging=False,
    ca_bundle=None,
    email=None,
    verbose=False,
):
    """Install a twice-daily renewal job in leo-deploy's crontab on the server (--host local)."""
    app, hosts = _resolve(c, app, host)
    args: list[str] = []
    if directory:
        args += ["--directory", directory]
    if staging:
        args.append("--staging")
    if ca_bundle:
        args += ["--ca-bundle", ca_bundle]
    if email:
        args += ["--email", email]

    def action(h: Host) -> None:
        with h.step("renewal cron job") as line:
            changed = tls_step.schedule(h, AppPaths(app), leo, args)
            line.outcome = "installed" if changed else "unchanged"

    _each_host(c, hosts, verbose, action)


@leo_task(help={"days": "exit 1 when a certificate expires within this many days (default 30)"})
@cli_errors
def certs(c, app=None, host=None, days=None, verbose=False):
    """Print each host's certificates for the app: domains, issuer, expiry."""
    app, hosts = _resolve(c, app, host)
    limit = _days(days)
    expiring: list[str] = []

    def action(h: Host) -> None:
        lines, soon = tls_step.report(h, AppPaths(app), limit)
        for line in lines:
            print(f"[{h.name}] {line}", flush=True)
        if soon:
            expiring.append(h.name)

    _each_host(c, hosts, verbose, action)
    if expiring:
        raise Exit(
            f"leo: a certificate expires within {limit:g} days on {', '.join(expiring)}", code=1
        )


@leo_task(help={"release": "end the processes holding the app's locks (a hung run)"})
@cli_errors
def lock(c, app=None, host=None, release=False, verbose=False):
    """Show who holds the app's locks; --release ends a hung run's hold on them."""
    app, hosts = _resolve(c, app, host)

    def action(h: Host) -> None:
        for line in lock_step.inspect(h, AppPaths(app), release=release):
            print(f"[{h.name}] {line}", flush=True)

    _each_host(c, hosts, verbose, action)


@leo_task(
    help={
        "yes": "confirm: this removes every app, container and file leo manages",
        "volumes": "also remove the apps' docker volumes (their data)",
    }
)
@cli_errors
def implode(c, host=None, yes=False, volumes=False, verbose=False):
    """Remove leo from the server: apps' containers, user, home, nginx include, sudoers."""
    _, hosts = _resolve(c, None, host, need_app=False)
    if not yes:
        raise InvalidInput("implode removes every leo app on the host: pass --yes to confirm")
    _each_host(c, hosts, verbose, lambda h: implode_step.implode(h, volumes=volumes), user=None)


env = Collection("env", env_show, env_set, env_del)
letsencrypt = Collection("letsencrypt", letsencrypt_issue, letsencrypt_schedule)
ns = Collection(
    setup,
    create,
    deploy,
    rotate,
    start,
    stop,
    run_,
    status,
    releases,
    rollback,
    lock,
    certs,
    implode,
    env,
    letsencrypt,
)
ns.configure({"leo": {"app": None, "host": None}})

if os.environ.get("LEO_DEBUG"):
    import logging

    logging.basicConfig(level=logging.DEBUG)
