"""The Invoke tasks: parse flags, load project defaults, open connections, call steps.

The certificate tasks are in tls_tasks.py and `push` in push_tasks.py; every
one of them is in `ns`.

`ns` is the collection behind the `leo` program and the repository's tasks.py;
import it into your own tasks.py with `from leo_tasks import ns`.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from invoke import Collection, Exit

from . import composefile, localbuild, validate
from .appsettings import web_port
from .envfile import EnvFile
from .errors import InvalidInput
from .fleet import Done, Fleet, conclude
from .history import Audit, new_run_id
from .history_tasks import history_
from .jsonout import Document
from .layout import WEB_SERVICE, AppPaths
from .localdocker import LocalDocker, LocalImage
from .logs_tasks import logs
from .push_tasks import push
from .remote import stdin_is_tty
from .steps import app as app_step
from .steps import destroy as destroy_step
from .steps import env as env_step
from .steps import implode as implode_step
from .steps import lifecycle
from .steps import lock as lock_step
from .steps import preview as preview_step
from .steps import push as push_step
from .steps import releases as releases_step
from .steps import rollback as rollback_step
from .steps import rotate as rotate_step
from .steps import setup as setup_step
from .steps import status as status_step
from .steps.app import AppFiles
from .steps.base import Host
from .taskkit import (
    AppRun,
    app_files,
    app_run,
    cli_errors,
    connected,
    default_pubkey,
    deployed,
    each_host,
    each_host_locked,
    each_host_preview,
    each_host_read,
    leo_task,
    print_lines,
    pushed,
    read_local,
    recorded,
    resolve,
    rollout_of,
    uploaded,
)
from .tls_tasks import certs, letsencrypt

DRY_RUN_HELP = (
    "show what would change (files, images, containers, env names) and change nothing, "
    "no lock taken; exit 0: nothing to change, 5: changes to make"
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
        audit=Audit("setup", args={"key": setup_step.fingerprint(key)}, host_level=True),
    )


@leo_task(
    iterable=["domain"],
    help={
        "compose": "your compose file, uploaded as it is",
        "image": "image for a default compose file with one web service (instead of --compose)",
        "web-service": "the compose service nginx serves (default: web); kept as LEO_WEB_SERVICE",
        "port": "the port it listens on in its container (default: the image's single EXPOSE, "
        "else 5000); kept as LEO_WEB_PORT",
        "nginx": "your own nginx site file instead of the generated one",
        "domain": "server_name (repeatable; default: the app name)",
        "dry-run": DRY_RUN_HELP,
    },
)
@cli_errors
def create(
    c,
    app=None,
    host=None,
    compose=None,
    image=None,
    web_service=None,
    port=None,
    nginx=None,
    domain=None,
    batch=None,
    batch_wait=None,
    dry_run=False,
    verbose=False,
):
    """Create an app on the host: compose file, nginx site, env file; nothing started yet."""
    app, hosts = resolve(c, app, host)
    rollout = rollout_of(hosts, batch, batch_wait)
    if bool(compose) == bool(image):
        raise InvalidInput("pass exactly one of --compose FILE or --image IMAGE")
    web = app_step.WebSettings(
        validate.service_name(web_service) if web_service else WEB_SERVICE,
        web_port(port, source="--port") if port is not None else None,
    )
    files = app_files(compose, nginx, image, web=web)
    domains = [validate.domain(d) for d in (domain or [])] or [app]
    paths = AppPaths(app)
    if dry_run:
        each_host_preview(
            c,
            hosts,
            verbose,
            lambda h: preview_step.create(h, paths, files, domains, web),
            what="create",
        )
        return
    each_host(
        c,
        hosts,
        verbose,
        lambda h: app_step.create(h, paths, files, domains, web),
        what="create",
        rollout=rollout,
        audit=Audit(
            "create",
            app,
            {
                "compose": uploaded(compose, files.compose),
                "image": image,
                "web_service": web_service,
                "port": port,
                "nginx": uploaded(nginx, files.nginx_site),
                "domain": domains,
            },
        ),
    )


@leo_task(
    help={
        "compose": "new compose file to upload (as it is)",
        "nginx": "new nginx site to upload",
        "build": "build every service with `build:` here (`docker compose build`), send the "
        "images to the hosts and run them (needs --compose)",
        "push": "first copy the compose file's images that exist on this machine to the host "
        "(like `leo push`; skipped where the host has them)",
        "dry-run": DRY_RUN_HELP,
    }
)
@cli_errors
def deploy(
    c,
    app=None,
    host=None,
    compose=None,
    nginx=None,
    build=False,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    rollback_on_failure=False,
    push=False,
    dry_run=False,
    verbose=False,
):
    """Upload new files (if given), then rotate: the usual way to ship a release.

    The files take effect only if the deploy works: a failed deploy leaves the
    compose file, the nginx site and the running containers as they were.
    """
    run = app_run(c, app, host, lock_wait, batch, batch_wait)
    if build and not compose:
        raise InvalidInput(
            "--build needs --compose FILE: the compose file whose services it builds"
        )
    paths, files = run.paths, app_files(compose, nginx)
    docker = LocalDocker()
    if dry_run:
        _preview_deploy(c, run, verbose, files, docker, build=build, push=push)
        return
    built: list[LocalImage] = []
    if build:
        # Before connecting: a build that fails changes nothing on any host.
        made = localbuild.build(compose, paths.app, out=_to_stderr)
        files = dataclasses.replace(files, images={b.service: b.reference for b in made})
        built = docker.images([b.reference for b in made])
    # With --compose, what to push is known (and looked up here) before connecting.
    given = push_step.compose_images(files.compose, docker) if push and files.compose else None

    def push_first(fleet: Fleet) -> None:
        """Every host gets the images before any host deploys: a push that fails
        stops the run before a container changed anywhere."""

        def send(h: Host) -> Done:
            images = list(built)
            if push:
                found = given if given is not None else push_step.live_images(h, paths, docker)
                images += [i for i in found if i.id not in {b.id for b in built}]
            return pushed(push_step.push_images(h, images, compress=True))

        listed = [i.reference for i in [*built, *(given or [])]]
        # --push without --compose: the images of the compose file on each host.
        args = {"images": listed, "from_host_compose": push and given is None}
        pushing = Audit("push", paths.app, args, run=run_id)
        conclude(fleet, fleet.each(recorded(send, pushing)), "push", summarize=False)

    run_id = new_run_id()  # the push and the deploy it prepares, as one run

    each_host_locked(
        c,
        run,
        verbose,
        lambda h: deployed(rotate_step.rotate(h, paths, files=files)),
        what="deploy",
        purpose="rotate",
        timed=True,
        rollback_on_failure=rollback_on_failure,
        first=push_first if push or built else None,
        audit=Audit(
            "deploy",
            paths.app,
            {
                "compose": uploaded(compose, files.compose),
                "nginx": uploaded(nginx, files.nginx_site),
                "build": build,
                "push": push,
                "images": dict(files.images or {}),
                "rollback_on_failure": rollback_on_failure,
            },
            run=run_id,
        ),
    )


def _preview_deploy(
    c, run: AppRun, verbose: bool, files: AppFiles, docker: LocalDocker, *, build: bool, push: bool
) -> None:
    """deploy --dry-run: nothing is built, pushed or uploaded; each host says what would."""
    built: tuple[str, ...] = ()
    if build and files.compose is not None:
        services = composefile.services_of(files.compose, "the compose file")
        built = tuple(
            name
            for name, spec in services.items()
            if composefile.builds(spec) and not spec.get("profiles")
        )
    given = push_step.compose_images(files.compose, docker) if push and files.compose else None

    def preview(h: Host) -> preview_step.Preview:
        found = given if given is not None else []
        if push and given is None:
            found = push_step.live_images(h, run.paths, docker)
        brings = preview_step.Brings(built, {i.reference: i.id for i in found})
        return preview_step.deploy(h, run.paths, files, brings, title=_dry_title("deploy", run))

    each_host_preview(c, run.hosts, verbose, preview, what="deploy")


def _dry_title(what: str, run: AppRun) -> str:
    return f"{what} of {run.paths.app}, dry run (nothing on the host is changed):"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@leo_task(help={"dry-run": DRY_RUN_HELP})
@cli_errors
def rotate(
    c,
    app=None,
    host=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    rollback_on_failure=False,
    dry_run=False,
    verbose=False,
):
    """Zero-downtime deploy of what is on the host (the first deploy included)."""
    run = app_run(c, app, host, lock_wait, batch, batch_wait)
    if dry_run:
        title = _dry_title("rotate", run)
        each_host_preview(
            c,
            run.hosts,
            verbose,
            lambda h: preview_step.deploy(h, run.paths, AppFiles(), title=title),
            what="rotate",
        )
        return
    each_host_locked(
        c,
        run,
        verbose,
        lambda h: deployed(rotate_step.rotate(h, run.paths)),
        what="rotate",
        rollback_on_failure=rollback_on_failure,
        timed=True,
        audit=Audit("rotate", run.paths.app, {"rollback_on_failure": rollback_on_failure}),
    )


@leo_task
@cli_errors
def start(c, app=None, host=None, lock_wait=None, batch=None, batch_wait=None, verbose=False):
    """Start the app if it is not running, and point nginx at its containers."""
    run = app_run(c, app, host, lock_wait, batch, batch_wait)
    each_host_locked(
        c,
        run,
        verbose,
        lambda h: lifecycle.start(h, run.paths),
        what="start",
        audit=Audit("start", run.paths.app),
    )


@leo_task
@cli_errors
def stop(c, app=None, host=None, lock_wait=None, batch=None, batch_wait=None, verbose=False):
    """Stop the app's containers (nginx then answers 502 for it)."""
    run = app_run(c, app, host, lock_wait, batch, batch_wait)
    each_host_locked(
        c,
        run,
        verbose,
        lambda h: lifecycle.stop(h, run.paths),
        what="stop",
        audit=Audit("stop", run.paths.app),
    )


@leo_task(
    name="run",
    help={
        "service": "compose service (default: the app's web service)",
        "command": "command line, run with `sh -c` in a one-off container",
    },
)
@cli_errors
def run_(c, app=None, host=None, service=None, command=None, verbose=False):
    """Run a command in a one-off container; its output and exit status are passed back."""
    app, hosts = resolve(c, app, host)
    if service is not None:
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
def env_show(c, app=None, host=None, json=False, verbose=False):
    """Print the app's environment (as env-file lines)."""
    app, hosts = resolve(c, app, host)
    out = Document("env", app) if json else None

    def show(h: Host, values: dict[str, str]) -> None:
        text = env_step.render(values)
        if len(hosts) == 1:  # env-file lines as they are, to pipe or redirect
            print(text, end="", flush=True)
        else:
            print_lines(h, text.splitlines())

    each_host_read(
        c,
        hosts,
        verbose,
        lambda h: env_step.variables(h, AppPaths(app)),
        out.show(env_step.as_json) if out else show,
        document=out,
    )


ENV_LOCK_HELP = "seconds to wait while a rotate or another edit holds the env file (default 600)"


@leo_task(
    name="set",
    help={
        "name": "variable name",
        "value": "value, stored exactly as given",
        "lock-wait": ENV_LOCK_HELP,
        "dry-run": DRY_RUN_HELP,
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
    dry_run=False,
    verbose=False,
):
    """Set one variable in the app's env file (applies on the next rotate)."""
    run = app_run(c, app, host, lock_wait, batch, batch_wait, default_wait=env_step.LOCK_WAIT)
    if value is None:
        raise InvalidInput("no value given: pass --value VALUE (--value '' for empty)")
    validate.env_name(name or "")
    if dry_run:

        def preview(h: Host) -> preview_step.Preview:
            changed = env_step.set_value(h, run.paths, name, value, dry_run=True)
            return preview_step.env_edit(_dry_title("env.set", run), changed, f"set {name}")

        each_host_preview(c, run.hosts, verbose, preview, what="env.set")
        return

    def action(h: Host) -> None:
        with h.step(f"env.set {name}") as line:
            changed = env_step.set_value(h, run.paths, name, value, wait=run.lock_wait)
            line.outcome = (
                "changed: run `leo rotate` to restart the app with it" if changed else "unchanged"
            )

    # The value never reaches the record: the name only (the value redacts errors).
    audit = Audit("env.set", run.paths.app, {"name": name}, secret_values=(value,))
    each_host_locked(c, run, verbose, action, what="env.set", lock_name="env", audit=audit)


@leo_task(
    name="del",
    help={"name": "variable name", "lock-wait": ENV_LOCK_HELP, "dry-run": DRY_RUN_HELP},
)
@cli_errors
def env_del(
    c,
    app=None,
    host=None,
    name=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    dry_run=False,
    verbose=False,
):
    """Remove one variable from the app's env file (applies on the next rotate)."""
    run = app_run(c, app, host, lock_wait, batch, batch_wait, default_wait=env_step.LOCK_WAIT)
    validate.env_name(name or "")
    if dry_run:

        def preview(h: Host) -> preview_step.Preview:
            changed = env_step.delete(h, run.paths, name, dry_run=True)
            return preview_step.env_edit(_dry_title("env.del", run), changed, f"remove {name}")

        each_host_preview(c, run.hosts, verbose, preview, what="env.del")
        return

    def action(h: Host) -> None:
        with h.step(f"env.del {name}") as line:
            changed = env_step.delete(h, run.paths, name, wait=run.lock_wait)
            line.outcome = (
                "removed: run `leo rotate` to restart the app without it"
                if changed
                else "unchanged (not set)"
            )

    audit = Audit("env.del", run.paths.app, {"name": name})
    each_host_locked(c, run, verbose, action, what="env.del", lock_name="env", audit=audit)


@leo_task(
    name="push",
    help={
        "file": "a local dotenv file (NAME=VALUE lines, as `leo env` prints them)",
        "prune": "also remove the variables the file lacks (never leo's own LEO_* settings)",
        "lock-wait": ENV_LOCK_HELP,
        "dry-run": DRY_RUN_HELP,
    },
)
@cli_errors
def env_push(
    c,
    app=None,
    host=None,
    file=None,
    prune=False,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    dry_run=False,
    verbose=False,
):
    """Set every variable of a local env file in one write (applies on the next rotate).

    Prints the names added, changed and removed, never a value.
    """
    run = app_run(c, app, host, lock_wait, batch, batch_wait, default_wait=env_step.LOCK_WAIT)
    if not file:
        raise InvalidInput("no file given: pass --file .env.production")
    try:
        values = EnvFile.parse(read_local(file, "env file")).values()
    except InvalidInput as exc:
        raise InvalidInput(f"{file}: {exc}") from None
    for name in values:
        validate.env_name(name)
    if dry_run:

        def preview(h: Host) -> preview_step.Preview:
            done = env_step.push(h, run.paths, values, prune=prune, dry_run=True)
            what = done.describe()
            if what == "unchanged":  # same values, but the file would be written anew
                what = "rewrite the env file with the same values"
            return preview_step.env_edit(_dry_title("env.push", run), done.rewritten, what)

        each_host_preview(c, run.hosts, verbose, preview, what="env.push")
        return

    def action(h: Host) -> None:
        with h.step(f"env.push {os.path.basename(file)}") as line:
            done = env_step.push(h, run.paths, values, prune=prune, wait=run.lock_wait)
            line.outcome = done.describe()
            if done.describe() != "unchanged":
                line.outcome += ": run `leo rotate` to restart the app with it"

    audit = Audit(
        "env.push",
        run.paths.app,
        {"file": os.path.basename(file), "prune": prune, "names": sorted(values)},
        secret_values=tuple(values.values()),
    )
    each_host_locked(c, run, verbose, action, what="env.push", lock_name="env", audit=audit)


@leo_task
@cli_errors
def status(c, app=None, host=None, json=False, verbose=False):
    """Show the app's containers, what nginx points at, and whether they agree (exit 1 if not)."""
    app, hosts = resolve(c, app, host)
    out = Document("status", app) if json else None
    disagree = []

    def show(h: Host, found: status_step.Status) -> None:
        if out:
            out.add(h, status_step.as_json(found))
        else:
            print_lines(h, status_step.lines(found))
        if not found.agree:
            disagree.append(h.name)

    each_host_read(
        c, hosts, verbose, lambda h: status_step.read(h, AppPaths(app)), show, document=out
    )
    if disagree:
        raise Exit(f"leo: nginx and the web containers disagree on {', '.join(disagree)}", code=1)


@leo_task
@cli_errors
def releases(c, app=None, host=None, json=False, verbose=False):
    """List the app's recorded releases, newest first (* = current)."""
    app, hosts = resolve(c, app, host)
    out = Document("releases", app) if json else None
    each_host_read(
        c,
        hosts,
        verbose,
        lambda h: releases_step.load(h, AppPaths(app)),
        out.show(releases_step.releases_json)
        if out
        else lambda h, found: print_lines(h, releases_step.describe(found)),
        document=out,
    )


@leo_task(
    help={"to": "release number to go back to (default: the previous one)", "dry-run": DRY_RUN_HELP}
)
@cli_errors
def rollback(
    c,
    app=None,
    host=None,
    to=None,
    lock_wait=None,
    batch=None,
    batch_wait=None,
    dry_run=False,
    verbose=False,
):
    """Redeploy a recorded release (its compose file and exact images), zero-downtime.

    Without --to: the newest earlier release that is neither the current one nor
    one a rollback already left, so rolling back twice goes further back.
    """
    run = app_run(c, app, host, lock_wait, batch, batch_wait)
    target = None
    if to is not None:
        if not str(to).isdigit():
            raise InvalidInput(f"--to takes a release number, not {to!r}")
        target = int(to)
    if dry_run:

        def preview(h: Host) -> preview_step.Preview:
            _, release, files = rollback_step.target(h, run.paths, target)
            title = _dry_title(f"rollback to release {release.number}", run)
            return preview_step.deploy(h, run.paths, files, title=title)

        each_host_preview(c, run.hosts, verbose, preview, what="rollback")
        return
    each_host_locked(
        c,
        run,
        verbose,
        lambda h: deployed(rollback_step.rollback(h, run.paths, to=target)),
        what="rollback",
        purpose="rotate",
        timed=True,
        audit=Audit("rollback", run.paths.app, {"to": target}),
    )


@leo_task(help={"release": "end the processes holding the app's locks (a hung run)"})
@cli_errors
def lock(c, app=None, host=None, release=False, json=False, verbose=False):
    """Show who holds the app's locks; --release ends a hung run's hold on them."""
    app, hosts = resolve(c, app, host)
    out = Document("lock", app) if json else None
    each_host_read(
        c,
        hosts,
        verbose,
        lambda h: lock_step.states(h, AppPaths(app), release=release),
        out.show(lock_step.locks_json)
        if out
        else lambda h, found: print_lines(h, [state.describe() for state in found]),
        document=out,
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
        audit=Audit("destroy", app, {"volumes": volumes}),
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
        audit=Audit("implode", args={"volumes": volumes}, host_level=True),
    )


env = Collection("env", env_show, env_set, env_del, env_push)
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
    logs,
    releases,
    history_,
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
