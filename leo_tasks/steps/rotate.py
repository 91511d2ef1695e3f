"""`leo rotate` / `leo deploy`: replace an app's containers without dropping a request.

1. Read the compose file of this run (the live one, or the file a deploy
   uploaded as a candidate beside it) the way compose resolves it on the host.
2. Pull the images that come from a registry.
3. Start the new release beside the old one: services the file adds, one-shot
   services web waits for (migrations) run to completion, then N new web
   containers and new containers of LEO_ROTATE_SERVICES; wait until every one
   is ready.
4. Switch: the upstream (and a new site) in one nginx transaction, tested,
   reloaded and confirmed.
5. Drain, retire the old containers and the services the file dropped, update
   the other services, install the compose file, record the release.

Until the switch, a failure puts everything back: containers this run created
are removed, those it started are stopped, nginx's files are restored, and the
candidate compose file is deleted, so the next `leo rotate` deploys what was
there before. After the switch the new release is serving; what fails then is
reported and the rest still runs.

The first deploy (no web container running) brings every service up with
compose's own ordering and fails unless every web container is ready.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from .. import rotatable
from ..appsettings import AppSettings
from ..commands import compose, docker, fs
from ..commands.compose import Project
from ..envfile import EnvFile
from ..errors import LeoError, StepFailed, UndoFailed, annotated
from ..facts import ComposeModel, Container
from ..layout import AppPaths
from ..remote import Command, prefetch, run_all
from . import images, lock, releases, webport
from .app import AppFiles, Staged, stage
from .base import Host, read_files
from .containers import compose_model, containers, describe, listed, listing
from .health import HealthPolicy, wait_ready, web_policy
from .serving import Switch, await_ready, drain, restored_message, retire, switch_upstream

# States of a web (or rotated) container that only a failed or killed run leaves
# behind. Other services' stopped containers are the user's (a database after
# `leo stop`, a paused service) and are never removed.
LEFTOVER_STATES = ("exited", "created", "dead")
ENV_LOCK_WAIT = 60.0  # an env.set holds it for a second


@dataclass
class RotateResult:
    first_deploy: bool = False
    started: list[str] = field(default_factory=list)  # container names
    retired: list[str] = field(default_factory=list)
    release: int = 0


@dataclass(frozen=True)
class App:
    """An app as one run deploys it: its compose model and LEO_* settings."""

    project: Project
    model: ComposeModel
    settings: AppSettings
    # The port nginx and the health checks use: LEO_WEB_PORT, else found in the web
    # image once it is on the host (webport.resolve).
    port: int | None = None
    port_found: str = ""  # how: webport.SET, EXPOSED, DEFAULT or KEPT

    @property
    def web(self) -> str:
        return self.settings.web_service

    @property
    def rotated(self) -> tuple[str, ...]:
        """Services replaced side by side: web, then LEO_ROTATE_SERVICES."""
        extra = [s for s in self.settings.rotate_services if s in self.model.services]
        return (self.web, *extra)

    @property
    def networks(self) -> list[str]:
        return self.model.reachable_networks(self.web)

    @property
    def web_port(self) -> int:
        assert self.port is not None, "webport.resolve(app) first"
        return self.port

    def web_policy(self) -> HealthPolicy:
        return web_policy(self.settings, self.networks, self.web_port)

    def service_policy(self) -> HealthPolicy:
        return HealthPolicy(http=False, timeout=self.settings.health_timeout)


def load_app(
    host: Host, paths: AppPaths, staged: Staged | None = None, *, rotating: bool = True
) -> App:
    """Read the app as compose resolves it; refuse (exit 2) what cannot be rotated.

    `staged`: a rotate's files and settings; without it, the live ones.
    `rotating` False (stop, run): nothing is rotated, nothing is refused for it.
    """
    if staged is None:
        live = read_files(host, [paths.env_file, paths.override_file])
        # The env file first: leo's parser names a bad line without its value;
        # compose's error would quote the value (a secret) in a CI log.
        env = EnvFile.parse(live[paths.env_file] or "").values()
        project = Project.live(paths, has_override=live[paths.override_file] is not None)
        staged = Staged(project, AppSettings.from_env(env), {})
    model = compose_model(host, staged.project)
    if rotating:
        rotatable.check(model, staged.settings.web_service, staged.settings.rotate_services)
    return App(staged.project, model, staged.settings)


def rotate(
    host: Host,
    paths: AppPaths,
    *,
    lock_wait: float = 0.0,
    files: AppFiles | None = None,
    note: str = "",
    origin: int = 0,
    rolled_back_from: int | None = None,
) -> RotateResult:
    """Deploy under the app's deploy lock, and its env lock so that no `env.set`
    lands half-way through (a release reads one env file). `files` (deploy,
    rollback) are the new compose file and site: used only if the deploy works."""
    with (
        lock.held(host, paths, "deploy", purpose="rotate", wait=lock_wait) as lease,
        lock.held(host, paths, "env", purpose="rotate", wait=ENV_LOCK_WAIT),
    ):
        run = _Run(host, paths, lease, note)
        run.provenance = {"origin": origin, "rolled_back_from": rolled_back_from}
        try:
            staged = stage(host, paths, files or AppFiles(), run.candidates)
            return run.deploy(staged, files.nginx_site if files else None)
        except LeoError as exc:
            raise run.failed(exc) from exc
        except BaseException:  # interrupted, or a bug: still put back what we changed
            run.failed(LeoError("interrupted"))
            raise
        finally:
            if run.drop_candidate and run.candidates:
                # Moved into place on success; any other end of the run drops them
                # (over a lost link it cannot: the next rotate's sweep will).
                with contextlib.suppress(LeoError):
                    host.remote.run(["rm", "-f", "--", *run.candidates], check=False)


class _Run:
    """One rotate: its phases, and what to put back if it fails before the switch."""

    def __init__(self, host: Host, paths: AppPaths, lease: lock.Lease, note: str) -> None:
        self.host = host
        self.paths = paths
        self.lease = lease
        self.note = note
        self.before: list[Container] | None = None  # the containers to go back to
        self.serving = False  # a previous release was serving when this run started
        self.switched = False
        self.provenance: dict[str, int | None] = {}
        # False when the candidate compose file must stay: this run lost its lock
        # (another run may be using it), or installing it after the switch failed.
        self.drop_candidate = True
        self.candidates: list[str] = []  # the candidate files this run uploaded
        self.supplied: dict[str, str] = {}  # service -> image leo's override names
        self.history: releases.History | None = None

    def deploy(self, staged: Staged, site: str | None) -> RotateResult:
        host, paths = self.host, self.paths
        self.supplied = staged.images
        with host.step("read app") as line:
            app = load_app(host, paths, staged)
            line.outcome = f"services: {', '.join(sorted(app.model.services))}; web: {app.web}"
        # The next three steps' reads, in one round trip (a pull drops what it made stale).
        reads = [
            images.origins_command(app.model),
            releases.history_command(paths),
            webport.exposed_command(app),
        ]
        prefetch(host.remote, [c for c in reads if c is not None])
        images.pull(host, app.project, app.model, app.settings)
        # Read once under the deploy lock: the web port and the release record use it.
        self.history = releases.read_history(host, paths)
        app = webport.resolve(host, app, self.history.releases)
        found = _remove_temp_files(host, paths, keep=self.candidates)
        leftovers = [c for c in found if c.service in app.rotated and c.status in LEFTOVER_STATES]
        if leftovers:
            _remove(host, leftovers, f"remove leftovers {', '.join(c.name for c in leftovers)}")
        current = [c for c in found if c not in leftovers]
        running_web = [c for c in current if c.service == app.web and c.running]
        self.before, self.serving = current, bool(running_web)

        self.lease.check()
        if running_web:
            result, switch = self._start_beside_old(app, current, site)
        else:
            result, switch = self._first_deploy(app, site)
        self.switched = True
        return self._finish(app, current, switch, result)

    def _first_deploy(self, app: App, site: str | None) -> tuple[RotateResult, Switch]:
        host, paths = self.host, self.paths
        replicas = app.model.replicas(app.web)
        with host.step("first deploy: start all services") as line:
            # Compose's own ordering: dependencies first, migrations
            # (service_completed_successfully) run to completion before web.
            # Services that run already (web crashed, the database did not) are
            # left as they are: the first deploy must not replace what it could
            # not put back. The update after the switch applies their changes.
            host.remote.run(
                compose.up(
                    app.project,
                    scale={app.web: replicas},
                    no_recreate=any(c.running for c in self.before or []),
                ),
                timeout=app.settings.command_timeout + app.settings.release_timeout,
            )
            started = [c for c in containers(host, paths.app) if c.service in app.rotated]
            web = [c for c in started if c.service == app.web]
            line.outcome = ", ".join(describe(c) for c in web) or "no web container"
        if len(web) < replicas:
            raise StepFailed(
                f"docker compose created {len(web)} {app.web} containers on {host.name}, "
                f"{replicas} expected"
            )
        # Every web container must be ready, a crashed one included: a first
        # deploy that serves 502 is a failed deploy.
        ready = await_ready(host, [c.id for c in web], app.web_policy())
        others = [c.id for c in started if c.service != app.web]
        if others:
            await_ready(host, others, app.service_policy(), title="wait until services are ready")
        self.lease.check()
        switch = switch_upstream(
            host, paths, ready, networks=app.networks, port=app.web_port, site=site
        )
        return RotateResult(first_deploy=True, started=[c.name for c in ready]), switch

    def _start_beside_old(
        self, app: App, current: list[Container], site: str | None
    ) -> tuple[RotateResult, Switch]:
        host, paths, model = self.host, self.paths, app.model
        release_phase = model.release_phase(app.rotated)
        # A paused or restarting container is the user's business, not missing.
        present = {c.service for c in current if c.status in ("running", "paused", "restarting")}
        added = [
            s
            for s in model.services
            if s not in present and s not in app.rotated and s not in release_phase
        ]
        if added:  # e.g. a service new in the compose file: web may depend on it
            with host.step(f"start services {', '.join(added)}"):
                host.remote.run(
                    compose.up(app.project, added, no_deps=True),
                    timeout=app.settings.command_timeout,
                )
            needed = {d for s in app.rotated for d in model.depends_on(s)}
            wait_for = [
                c.id for c in containers(host, paths.app) if c.service in needed & set(added)
            ]
            if wait_for:
                await_ready(host, wait_for, app.service_policy(), title="wait until they are ready")
        for service in release_phase:
            _run_to_completion(host, app, service)

        new: dict[str, list[Container]] = {}
        for service in app.rotated:
            old = [c for c in current if c.service == service]
            new[service] = _start_beside(host, app, service, old)
        # The first poll starts from the web containers as listed after their `compose
        # up` (a round trip less): what docker said of them after they started. Without
        # a HEALTHCHECK, each must still answer HTTP now.
        web = new[app.web]
        fresh = web if len(app.rotated) == 1 else None  # else listed before the others' up
        ready = await_ready(host, [c.id for c in web], app.web_policy(), known=fresh)
        others = [c.id for s in app.rotated[1:] for c in new[s]]
        if others:
            await_ready(host, others, app.service_policy(), title="wait until services are ready")

        self.lease.check()
        switch = switch_upstream(
            host, paths, ready, networks=app.networks, port=app.web_port, site=site
        )
        return RotateResult(started=[c.name for cs in new.values() for c in cs]), switch

    def _finish(
        self, app: App, current: list[Container], switch: Switch, result: RotateResult
    ) -> RotateResult:
        """After the switch: the new release serves. Every step still runs; what
        fails is reported at the end (exit 1) with what is serving."""
        host, paths, model = self.host, self.paths, app.model
        problems: list[str] = []
        self.lease.check()  # another run may own the app now: leave it to that run

        def attempt(action, *args) -> None:
            try:
                action(*args)
            except LeoError as exc:
                problems.append(str(exc))

        if switch.changed:
            attempt(drain, host, switch.old_workers, app.settings.drain_seconds)
        for service in app.rotated:
            # A first deploy may have kept a container that was there (compose
            # started it again): it serves now and is not old.
            old = [c for c in current if c.service == service and c.name not in result.started]
            attempt(retire, host, old, f"retire {', '.join(c.name for c in old)}")
            result.retired += [c.name for c in old]
        dropped = [c for c in current if c.service not in model.services]
        attempt(
            retire,
            host,
            dropped,
            f"remove {', '.join(sorted({c.service for c in dropped}))}: "
            "no longer in the compose file",
        )
        release_phase = model.release_phase(app.rotated)
        paused = sorted({c.service for c in current if c.status == "paused"})
        if paused:  # someone paused it on purpose; compose could not start it anyway
            host.note(f"left paused as it is: {', '.join(paused)}")
        converge = [
            s
            for s in model.services
            if s not in app.rotated and s not in release_phase and s not in paused
        ]
        if converge:
            attempt(_update, host, app, converge)
        advice = f"fix the cause, then `leo rotate --app {paths.app}` finishes the job"
        installed = True
        if self.candidates:
            try:
                _install_candidates(host, paths, app.project)
                self.candidates = []  # in place: nothing left to drop
            except LeoError as exc:
                # The candidate stays; a release recorded now would name the old file.
                installed, self.drop_candidate = False, False
                problems.append(f"its compose files could not be installed: {exc}")
                advice = "no release was recorded: fix the cause, then run the same deploy again"
        if installed:
            try:
                # What the release record needs, in one round trip. (Not with the
                # install: a read that failed would read as an install that failed.)
                found, compose_file = run_all(
                    host.remote,
                    [listing(paths.app), Command(fs.read(paths.compose_file), check=False)],
                )
                running = [c for c in listed(host, found) if c.running]
                compose_text = compose_file.stdout if compose_file.ok else ""
                refs = {name: spec.get("image", "") for name, spec in model.services.items()}
                web = {"service": app.web, "port": app.web_port, "how": app.port_found}
                recorded = releases.record(
                    host,
                    paths,
                    compose_text,
                    running,
                    refs,
                    self.note,
                    web=web,
                    supplied=self.supplied,
                    history=self.history,
                    **self.provenance,
                )
                result.release = recorded.number
            except LeoError as exc:
                problems.append(f"recording the release failed: {exc}")
        if problems:
            serving = ", ".join(result.started) or "the new containers"
            raise AfterSwitch(
                f"the new release is serving ({serving}), but:\n  - "
                + "\n  - ".join(p.replace("\n", "\n    ") for p in problems)
                + f"\n  {advice}",
                release=result.release or None,
            )
        return result

    def failed(self, exc: LeoError) -> LeoError:
        """The error to report, after putting back what this run changed."""
        if isinstance(exc, lock.LockLost):
            self.drop_candidate = False  # the path may be another run's candidate now
        if isinstance(exc, AfterSwitch) or self.switched:
            return exc
        if isinstance(exc, lock.LockLost):
            return annotated(
                exc,
                "nothing was put back: another run may be working on the app now. "
                f"See `leo status --app {self.paths.app}`",
            )
        if isinstance(exc, UndoFailed):
            return annotated(
                exc,
                "the new containers were left running, as nginx may point at them. "
                f"See `leo status --app {self.paths.app}`; no release was recorded",
            )
        if self.before is None:
            outcome = "nothing on the host was changed"
        else:
            outcome = restored_message(self.host, self.paths.app, self.before, serving=self.serving)
        return annotated(exc, f"{outcome}; no release was recorded")


class AfterSwitch(LeoError):
    """The new release serves, but a step after the switch failed."""

    def __init__(self, message: str, release: int | None = None) -> None:
        super().__init__(message)
        self.release = release  # recorded before the failure, if it was


def _remove_temp_files(host: Host, paths: AppPaths, *, keep: list[str]) -> list[Container]:
    """Remove what a killed deploy left (its candidates, unless they are this run's);
    with it in the same round trip, the app's containers (returned)."""
    candidates = [paths.candidate_compose_file, paths.candidate_override_file]
    also = [c for c in candidates if c not in keep]
    removed, found = run_all(
        host.remote,
        [Command(fs.remove_temp_files(paths.dir, also=also), check=False), listing(paths.app)],
    )
    if removed.stdout.split():
        host.note(f"removed {len(removed.stdout.split())} temp files left by an interrupted run")
    return listed(host, found)


def _run_to_completion(host: Host, app: App, service: str) -> None:
    """The release phase: run a one-shot (a migration) that web waits for, to exit 0,
    before any new web container starts; a failure stops the deploy before the switch."""
    with host.step(f"release phase: run {service} to completion") as line:
        host.remote.run(
            compose.up(app.project, [service], no_deps=True, force_recreate=True),
            timeout=app.settings.command_timeout,
        )
        ids = [c.id for c in containers(host, app.project.app, service)]
        policy = HealthPolicy(completes=True, timeout=app.settings.release_timeout)
        wait_ready(host, ids, policy)
        line.outcome = "exited 0"


def _start_beside(host: Host, app: App, service: str, old: list[Container]) -> list[Container]:
    """Start the service's replica count of new containers next to `old`."""
    count = app.model.replicas(service)
    with host.step(f"start {count} new {service}") as line:
        up = compose.up(
            app.project,
            [service],
            no_deps=True,
            no_recreate=True,
            scale={service: len(old) + count},
        )
        # With the listing of what runs now, in one round trip (none when `up` failed).
        _, after = run_all(
            host.remote,
            [Command(up, timeout=app.settings.command_timeout), listing(app.project.app, service)],
            stop_at_failure=True,
        )
        old_ids = {c.id for c in old}
        new = [c for c in listed(host, after) if c.id not in old_ids]
        line.outcome = ", ".join(c.name for c in new)
    if not new:
        raise StepFailed(f"docker compose started no new {service} container on {host.name}")
    return new


def _update(host: Host, app: App, services: list[str]) -> None:
    """Bring the services that are not rotated up to date (recreated if changed)."""
    with host.step(f"update {', '.join(services)}"):
        host.remote.run(
            compose.up(app.project, services, no_deps=True), timeout=app.settings.command_timeout
        )


def _install_candidates(host: Host, paths: AppPaths, project: Project) -> None:
    """Move the run's candidate files into place (one command: both or, on a failure
    half-way, the error says so and the next deploy writes both again)."""
    moves = []
    names = []
    if project.file != paths.compose_file:
        moves.append((project.file, paths.compose_file, paths.previous_compose_file))
        names.append("docker-compose.yml")
    if project.override and project.override != paths.override_file:
        moves.append((project.override, paths.override_file, paths.previous_override_file))
        names.append(paths.override_file.rsplit("/", 1)[-1])
    with host.step(f"install {' and '.join(names)}"):
        host.remote.run(fs.install_candidates(moves))


def _remove(host: Host, items: list[Container], title: str) -> None:
    with host.step(title):
        host.remote.run(docker.remove([c.id for c in items]), check=False)
