"""The Invoke tasks: parse flags, load project defaults, open connections, call steps.

`ns` is the collection behind the `leo` program and the repository's tasks.py;
import it into your own tasks.py with `from leo_tasks import ns`.
"""

from __future__ import annotations

import os
import sys

from invoke import Collection, Exit

from . import validate
from .errors import InvalidInput
from .fleet import Done, Fleet, conclude
from .layout import AppPaths
from .localdocker import LocalDocker
from .remote import stdin_is_tty
from .steps import app as app_step
from .steps import destroy as destroy_step
from .steps import env as env_step
from .steps import implode as implode_step
from .steps import lifecycle
from .steps import lock as lock_step
from .steps import push as push_step
from .steps import releases as releases_step
from .steps import rollback as rollback_step
from .steps import rotate as rotate_step
from .steps import setup as setup_step
from .steps import status as status_step
from .steps import tls as tls_step
from .steps.base import Host
from .taskkit import (
    acme_settings,
    app_files,
    cli_errors,
    connected,
    default_pubkey,
    deployed,
    each_host,
    each_host_locked,
    each_host_read,
    leo_task,
    parse_days,
    parse_number,
    parse_seconds,
    print_lines,
    read_local,
    resolve,
    rollout_of,
)


@leo_task(
    help={
        "pubkey": "public key to authorize for leo-deploy (default: ~/.ssh/id_*.pub)",
        "accept-new-host-key": "trust an unknown host key and record it in known_hosts",
    }
)
@cli_errors
def setup(
    c,
    host=None,
    pubkey=None,
    accept_new_host_key=False,
    batch=None,
    batch_wait=None,
    verbose=False,
):
    """Prepare a server for leo (as root or a sudoer); running it twice changes nothing."""
    _, hosts = resolve(c, None, host, need_app=False)
    rollout = rollout_of(hosts, batch, batch_wait)
    key_file = pubkey or default_pubkey()
    key = setup_step.check_pubkey(read_local(key_file, "public key"), key_file)
    each_host(
        c,
        hosts,
        verbose,
        lambda h: setup_step.setup(h, key),
        what="setup",
        rollout=rollout,
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
    c,
    app=None,
    host=None,
    compose=None,
    image=None,
    nginx=None,
    domain=None,
    batch=None,
    batch_wait=None,
    verbose=False,
):
    """Create an app on the host: compose file, nginx site, env file; nothing started yet."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    if bool(compose) == bool(image):
        raise InvalidInput("pass exactly one of --compose FILE or --image IMAGE")
    files = app_files(compose, nginx, image)
    domains = [validate.domain(d) for d in (domain or [])] or [app]
    paths = AppPaths(app)
    each_host(
        c,
        hosts,
        verbose,
        lambda h: app_step.create(h, paths, files, domains),
        what="create",
        rollout=rollout,
    )


@leo_task(
    help={
        "compose": "new compose file to upload",
        "nginx": "new nginx site to upload",
        "push": "first copy the compose file's images that exist on this machine to the host "
        "(like `leo push`; skipped where the host has them)",
    }
)
@cli_errors
def deploy(
    c,
    app=None,
    host=None,
    compose=None,
    nginx=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    rollback_on_failure=False,
    push=False,
    verbose=False,
):
    """Upload new files (if given), then rotate: the usual way to ship a release.

    The files take effect only if the deploy works: a failed deploy leaves the
    compose file, the nginx site and the running containers as they were.
    """
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    files = app_files(compose, nginx)
    paths, wait = AppPaths(app), parse_seconds(lock_wait, "--lock-wait")
    docker = LocalDocker()
    # With --compose, what to push is known (and looked up here) before connecting.
    given = push_step.compose_images(files.compose, docker) if push and files.compose else None

    def push_first(fleet: Fleet) -> None:
        """Every host gets the images before any host deploys: a push that fails
        stops the run before a container changed anywhere."""

        def send(h: Host) -> Done:
            images = given if given is not None else push_step.live_images(h, paths, docker)
            return pushed(push_step.push_images(h, images, compress=True))

        conclude(fleet, fleet.each(send), "push", summarize=False)

    each_host_locked(
        c,
        hosts,
        verbose,
        paths,
        lambda h: deployed(rotate_step.rotate(h, paths, files=files)),
        what="deploy",
        purpose="rotate",
        lock_wait=wait,
        rollout=rollout,
        rollback_on_failure=rollback_on_failure,
        first=push_first if push else None,
    )


def pushed(result: push_step.PushResult) -> Done:
    """A push's result, for the fleet summary."""
    if not result.sent:
        return Done(detail="already there" if result.skipped else "nothing to push")
    return Done(
        detail=f"sent {', '.join(result.sent)} ({push_step.human_bytes(result.bytes_sent)})"
    )


@leo_task(
    iterable=["image"],
    help={
        "image": "local image to copy, by name[:tag] or ID (repeatable)",
        "compress": "gzip the stream (default; --no-compress for a fast local network)",
    },
)
@cli_errors
def push(c, host=None, image=None, compress=True, verbose=False):
    """Copy local docker images to the hosts over SSH, no registry; skips what they have.

    `docker save` here streams into `docker load` on each host, all hosts at
    once. An image the host already has with the same ID is not sent again.
    """
    _, hosts = resolve(c, None, host, need_app=False)
    if not image:
        raise InvalidInput("no image given: pass --image IMAGE (repeatable)")
    references = [validate.pushed_image(ref) for ref in image]
    images = LocalDocker().images(references)  # all of them, before connecting anywhere
    each_host(
        c,
        hosts,
        verbose,
        lambda h: pushed(push_step.push_images(h, images, compress)),
        what="push",
    )


@leo_task
@cli_errors
def rotate(
    c,
    app=None,
    host=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    rollback_on_failure=False,
    verbose=False,
):
    """Zero-downtime deploy of what is on the host (the first deploy included)."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    paths, wait = AppPaths(app), parse_seconds(lock_wait, "--lock-wait")
    each_host_locked(
        c,
        hosts,
        verbose,
        paths,
        lambda h: deployed(rotate_step.rotate(h, paths)),
        what="rotate",
        lock_wait=wait,
        rollout=rollout,
        rollback_on_failure=rollback_on_failure,
    )


@leo_task
@cli_errors
def start(c, app=None, host=None, lock_wait=None, batch=None, batch_wait=None, verbose=False):
    """Start the app if it is not running, and point nginx at its containers."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    paths, wait = AppPaths(app), parse_seconds(lock_wait, "--lock-wait")
    each_host_locked(
        c,
        hosts,
        verbose,
        paths,
        lambda h: lifecycle.start(h, paths),
        what="start",
        lock_wait=wait,
        rollout=rollout,
    )


@leo_task
@cli_errors
def stop(c, app=None, host=None, lock_wait=None, batch=None, batch_wait=None, verbose=False):
    """Stop the app's containers (nginx then answers 502 for it)."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    paths, wait = AppPaths(app), parse_seconds(lock_wait, "--lock-wait")
    each_host_locked(
        c,
        hosts,
        verbose,
        paths,
        lambda h: lifecycle.stop(h, paths),
        what="stop",
        lock_wait=wait,
        rollout=rollout,
    )


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
    app, hosts = resolve(c, app, host)
    validate.service_name(service)
    if not command:
        raise InvalidInput("no command given: pass --command 'CMD'")
    statuses: list[int] = []
    tty = stdin_is_tty() and sys.stdout.isatty()
    # One host after the other: each one-off's output (and terminal) is whole.
    with connected(c, hosts, verbose) as fleet:
        for h in fleet.hosts:
            statuses.append(lifecycle.run(h, AppPaths(app), service, command, tty=tty))
    worst = next((s for s in statuses if s), 0)
    if worst:
        raise Exit(code=worst)


@leo_task(default=True, name="show")
@cli_errors
def env_show(c, app=None, host=None, verbose=False):
    """Print the app's environment (as env-file lines)."""
    app, hosts = resolve(c, app, host)

    def show(h: Host, text: str) -> None:
        if len(hosts) == 1:  # env-file lines as they are, to pipe or redirect
            print(text, end="", flush=True)
        else:
            print_lines(h, text.splitlines())

    each_host_read(c, hosts, verbose, lambda h: env_step.show(h, AppPaths(app)), show)


ENV_LOCK_HELP = "seconds to wait while a rotate or another edit holds the env file (default 600)"


@leo_task(
    name="set",
    help={
        "name": "variable name",
        "value": "value, stored exactly as given",
        "lock-wait": ENV_LOCK_HELP,
    },
)
@cli_errors
def env_set(
    c,
    app=None,
    host=None,
    name=None,
    value=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    verbose=False,
):
    """Set one variable in the app's env file (applies on the next rotate)."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    if value is None:
        raise InvalidInput("no value given: pass --value VALUE (--value '' for empty)")
    validate.env_name(name or "")
    wait = parse_number(lock_wait, "--lock-wait", default=env_step.LOCK_WAIT, maximum=86400)

    def action(h: Host) -> None:
        with h.step(f"env.set {name}") as line:
            changed = env_step.set_value(h, AppPaths(app), name, value, wait=wait)
            line.outcome = (
                "changed: run `leo rotate` to restart the app with it" if changed else "unchanged"
            )

    each_host_locked(
        c,
        hosts,
        verbose,
        AppPaths(app),
        action,
        what="env.set",
        lock_name="env",
        lock_wait=wait,
        rollout=rollout,
    )


@leo_task(name="del", help={"name": "variable name", "lock-wait": ENV_LOCK_HELP})
@cli_errors
def env_del(
    c, app=None, host=None, name=None, lock_wait=None, batch=None, batch_wait=None, verbose=False
):
    """Remove one variable from the app's env file (applies on the next rotate)."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    validate.env_name(name or "")
    wait = parse_number(lock_wait, "--lock-wait", default=env_step.LOCK_WAIT, maximum=86400)

    def action(h: Host) -> None:
        with h.step(f"env.del {name}") as line:
            changed = env_step.delete(h, AppPaths(app), name, wait=wait)
            line.outcome = (
                "removed: run `leo rotate` to restart the app without it"
                if changed
                else "unchanged (not set)"
            )

    each_host_locked(
        c,
        hosts,
        verbose,
        AppPaths(app),
        action,
        what="env.del",
        lock_name="env",
        lock_wait=wait,
        rollout=rollout,
    )


@leo_task
@cli_errors
def status(c, app=None, host=None, verbose=False):
    """Show the app's containers, what nginx points at, and whether they agree (exit 1 if not)."""
    app, hosts = resolve(c, app, host)
    disagree = []

    def show(h: Host, found: tuple[list[str], bool]) -> None:
        lines, agree = found
        print_lines(h, lines)
        if not agree:
            disagree.append(h.name)

    each_host_read(c, hosts, verbose, lambda h: status_step.status(h, AppPaths(app)), show)
    if disagree:
        raise Exit(f"leo: nginx and the web containers disagree on {', '.join(disagree)}", code=1)


@leo_task
@cli_errors
def releases(c, app=None, host=None, verbose=False):
    """List the app's recorded releases, newest first (* = current)."""
    app, hosts = resolve(c, app, host)
    each_host_read(
        c,
        hosts,
        verbose,
        lambda h: releases_step.describe(releases_step.load(h, AppPaths(app))),
        print_lines,
    )


@leo_task(help={"to": "release number to go back to (default: the previous one)"})
@cli_errors
def rollback(
    c, app=None, host=None, to=None, lock_wait=None, batch=None, batch_wait=None, verbose=False
):
    """Redeploy a recorded release (its compose file and exact images), zero-downtime.

    Without --to: the newest earlier release that is neither the current one nor
    one a rollback already left, so rolling back twice goes further back.
    """
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    target = None
    if to is not None:
        if not str(to).isdigit():
            raise InvalidInput(f"--to takes a release number, not {to!r}")
        target = int(to)
    paths, wait = AppPaths(app), parse_seconds(lock_wait, "--lock-wait")
    each_host_locked(
        c,
        hosts,
        verbose,
        paths,
        lambda h: deployed(rollback_step.rollback(h, paths, to=target)),
        what="rollback",
        purpose="rotate",
        lock_wait=wait,
        rollout=rollout,
    )


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
    app, hosts = resolve(c, app, host)
    settings = acme_settings(directory, staging, ca_bundle, email)
    domains = [validate.domain(d) for d in (domain or [])]
    due_days = parse_days(days)
    paths = AppPaths(app)
    with connected(c, hosts, verbose) as fleet:
        # One order for all hosts: the challenge is on every host before the CA
        # asks whichever one the domain points at.
        issued = tls_step.letsencrypt(
            fleet.hosts, paths, domains, settings, days=due_days, force=force
        )
        if issued is not None:
            outcomes = fleet.each(
                lambda h: tls_step.install(h, paths, issued.domains, issued.key, issued.chain)
            )
            conclude(fleet, outcomes, "installing the certificate")


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
    app, hosts = resolve(c, app, host)
    args: list[str] = []
    if directory:
        args += ["--directory", directory]
    if staging:
        args.append("--staging")
    if ca_bundle:
        args += ["--ca-bundle", ca_bundle]
    if email:
        args += ["--email", email]
    # Refuse what cannot go into a crontab line (a newline) before connecting.
    tls_step.cron_line(app, leo or "/usr/local/bin/leo", args, "/dev/null")

    def action(h: Host) -> None:
        with h.step("renewal cron job") as line:
            changed = tls_step.schedule(h, AppPaths(app), leo, args)
            line.outcome = "installed" if changed else "unchanged"

    each_host(c, hosts, verbose, action, what="letsencrypt.schedule")


@leo_task(help={"days": "exit 1 when a certificate expires within this many days (default 30)"})
@cli_errors
def certs(c, app=None, host=None, days=None, verbose=False):
    """Print each host's certificates for the app: domains, issuer, expiry."""
    app, hosts = resolve(c, app, host)
    limit = parse_days(days)
    expiring: list[str] = []

    def show(h: Host, found: tuple[list[str], bool]) -> None:
        lines, soon = found
        print_lines(h, lines)
        if soon:
            expiring.append(h.name)

    each_host_read(c, hosts, verbose, lambda h: tls_step.report(h, AppPaths(app), limit), show)
    if expiring:
        raise Exit(
            f"leo: a certificate expires within {limit:g} days on {', '.join(expiring)}", code=1
        )


@leo_task(help={"release": "end the processes holding the app's locks (a hung run)"})
@cli_errors
def lock(c, app=None, host=None, release=False, verbose=False):
    """Show who holds the app's locks; --release ends a hung run's hold on them."""
    app, hosts = resolve(c, app, host)

    each_host_read(
        c,
        hosts,
        verbose,
        lambda h: lock_step.inspect(h, AppPaths(app), release=release),
        print_lines,
    )


@leo_task(
    help={
        "yes": "confirm: this removes the app's containers, files and certificates",
        "volumes": "also remove the app's docker volumes (its data)",
    }
)
@cli_errors
def destroy(c, app=None, host=None, yes=False, volumes=False, verbose=False):
    """Remove one app from the host: containers, networks, files, nginx site."""
    app, hosts = resolve(c, app, host)
    if not yes:
        raise InvalidInput(f"destroy removes {app} and its files from the host: pass --yes")
    each_host(
        c,
        hosts,
        verbose,
        lambda h: destroy_step.destroy(h, AppPaths(app), volumes=volumes),
        what="destroy",
    )


@leo_task(
    help={
        "yes": "confirm: this removes every app, container and file leo manages",
        "volumes": "also remove the apps' docker volumes (their data)",
    }
)
@cli_errors
def implode(c, host=None, yes=False, volumes=False, verbose=False):
    """Remove leo from the server: apps' containers, user, home, nginx include, sudoers."""
    _, hosts = resolve(c, None, host, need_app=False)
    if not yes:
        raise InvalidInput("implode removes every leo app on the host: pass --yes to confirm")
    each_host(
        c,
        hosts,
        verbose,
        lambda h: implode_step.implode(h, volumes=volumes),
        what="implode",
        user=None,
    )


env = Collection("env", env_show, env_set, env_del)
letsencrypt = Collection("letsencrypt", letsencrypt_issue, letsencrypt_schedule)
ns = Collection(
    setup,
    create,
    deploy,
    push,
    rotate,
    start,
    stop,
    run_,
    status,
    releases,
    rollback,
    lock,
    certs,
    destroy,
    implode,
    env,
    letsencrypt,
)
ns.configure({"leo": {"app": None, "host": None}})

if os.environ.get("LEO_DEBUG"):
    import logging

    logging.basicConfig(level=logging.DEBUG)
