"""`leo rotate`: replace an app's containers without dropping a request.

For the web service: start N new containers next to the old ones, wait until
they are ready, point nginx at them (one `nginx -t`, one reload), let
in-flight requests drain, then stop and remove the old ones by ID. If the new
containers never get ready, or nginx refuses the config, the new containers
are removed and nginx and the old containers are left exactly as they were.

The first deploy (nothing running) brings every service up and serves web at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import templates
from ..appsettings import AppSettings
from ..commands import compose, docker, fs
from ..envfile import EnvFile
from ..errors import LeoError, StepFailed
from ..facts import ComposeModel, Container
from ..layout import WEB_SERVICE, AppPaths
from . import images, lock, nginx, releases
from .base import Host, read_file
from .containers import compose_model, containers, describe, network_for
from .health import HealthPolicy, wait_ready, web_policy


@dataclass
class RotateResult:
    first_deploy: bool = False
    started: list[str] = field(default_factory=list)  # container names
    retired: list[str] = field(default_factory=list)
    release: int = 0


def load_app(host: Host, paths: AppPaths) -> tuple[ComposeModel, AppSettings]:
    model = compose_model(host, paths)
    if WEB_SERVICE not in model.services:
        raise StepFailed(f"{paths.compose_file} on {host.name} has no `{WEB_SERVICE}` service")
    env = EnvFile.parse(read_file(host, paths.env_file) or "").values()
    return model, AppSettings.from_env(env)


def rotate(
    host: Host,
    paths: AppPaths,
    *,
    lock_wait: float = 0.0,
    before: Callable[[], object] | None = None,
    note: str = "",
) -> RotateResult:
    """Rotate under the app's deploy lock; `before` runs first under the same lock
    (deploy uploads its files there, so no other run sees them half-way)."""
    with lock.held(host, paths, "deploy", purpose="rotate", wait=lock_wait):
        if before is not None:
            before()
        with host.step("read app") as line:
            model, settings = load_app(host, paths)
            line.outcome = f"services: {', '.join(sorted(model.services))}"
        _remove_temp_files(host, paths)
        images.pull(host, paths, model, settings)
        result = _rotate_locked(host, paths, model, settings)
        compose_text = read_file(host, paths.compose_file) or ""
        running = [c for c in containers(host, paths.app) if c.running]
        refs = {name: spec.get("image", "") for name, spec in model.services.items()}
        result.release = releases.record(host, paths, compose_text, running, refs, note).number
        return result


def _remove_temp_files(host: Host, paths: AppPaths) -> None:
    found = host.remote.run(fs.remove_temp_files(paths.dir), check=False).stdout.split()
    if found:
        host.note(f"removed {len(found)} temp files left by an interrupted run")


def _rotate_locked(
    host: Host, paths: AppPaths, model: ComposeModel, settings: AppSettings
) -> RotateResult:
    result = RotateResult()
    current = containers(host, paths.app)
    _remove_leftovers(host, [c for c in current if not c.running])
    running_web = [c for c in current if c.running and c.service == WEB_SERVICE]
    policy = web_policy(settings)

    if not running_web:
        result.first_deploy = True
        with host.step("first deploy: start all services") as line:
            host.remote.run(
                compose.up(
                    paths, remove_orphans=True, scale={WEB_SERVICE: model.replicas(WEB_SERVICE)}
                )
            )
            web = [c for c in containers(host, paths.app, WEB_SERVICE) if c.running]
            line.outcome = ", ".join(c.name for c in web) or "no web container running"
        new = await_ready(host, paths, [c.id for c in web], policy, remove_on_failure=False)
        switch_upstream(host, paths, new)
        result.started = [c.name for c in new]
        return result

    others = [s for s in model.services if s != WEB_SERVICE]
    running_services = {c.service for c in current if c.running}
    missing = [s for s in others if s not in running_services]
    if missing:  # e.g. a service added to the compose file: web may depend on it
        with host.step(f"start new services {', '.join(missing)}"):
            host.remote.run(compose.up(paths, missing, no_deps=True))

    new = _start_beside(host, paths, WEB_SERVICE, running_web, model.replicas(WEB_SERVICE))
    ready = await_ready(host, paths, [c.id for c in new], policy, remove_on_failure=True)
    old_workers = nginx.workers(host)
    try:
        switched = switch_upstream(host, paths, ready)
    except LeoError:
        _remove(host, new, "remove new containers")
        raise
    result.started = [c.name for c in ready]
    if switched:
        _drain(host, old_workers, settings.drain_seconds)
    _retire(host, running_web)
    result.retired = [c.name for c in running_web]

    for service in settings.rotate_services:
        if service not in model.services:
            host.note(f"LEO_ROTATE_SERVICES names {service!r}, which is not in the compose file")
            continue
        old = [c for c in current if c.running and c.service == service]
        fresh = _start_beside(host, paths, service, old, model.replicas(service))
        await_ready(
            host,
            paths,
            [c.id for c in fresh],
            HealthPolicy(http=False, timeout=settings.health_timeout),
            remove_on_failure=True,
        )
        _retire(host, old)

    converge = [s for s in others if s not in settings.rotate_services]
    if converge:
        with host.step(f"update {', '.join(converge)}"):
            host.remote.run(compose.up(paths, converge, no_deps=True, remove_orphans=True))
    return result


def _start_beside(
    host: Host, paths: AppPaths, service: str, old: list[Container], count: int
) -> list[Container]:
    """Start `count` new containers of `service` next to `old`, with the current config."""
    with host.step(f"start {count} new {service}") as line:
        host.remote.run(
            compose.up(
                paths, [service], no_deps=True, no_recreate=True, scale={service: len(old) + count}
            )
        )
        old_ids = {c.id for c in old}
        new = [c for c in containers(host, paths.app, service) if c.id not in old_ids]
        line.outcome = ", ".join(c.name for c in new)
    if not new:
        raise StepFailed(f"docker compose started no new {service} container on {host.name}")
    return new


def await_ready(
    host: Host, paths: AppPaths, ids: list[str], policy: HealthPolicy, *, remove_on_failure: bool
) -> list[Container]:
    with host.step("wait until ready") as line:
        try:
            ready = wait_ready(host, paths.app, ids, policy)
        except LeoError:
            if remove_on_failure:
                host.remote.run(docker.remove(ids), check=False)
                host.note("removed the new containers; the previous release keeps serving")
            raise
        line.outcome = ", ".join(describe(c) for c in ready)
    return ready


def switch_upstream(host: Host, paths: AppPaths, web: list[Container]) -> bool:
    """Point nginx at `web` (one test, one reload); returns False if it already did."""
    with host.step("switch nginx upstream") as line:
        addresses = []
        for container in web:
            address = container.address(network_for(paths.app))
            if not address:
                raise StepFailed(
                    f"{describe(container)} has no address on network "
                    f"{network_for(paths.app)} (networks: {', '.join(container.networks)})"
                )
            addresses.append(address)
        content = templates.upstream(paths, addresses, [c.name for c in web])
        changed = nginx.apply(host, [nginx.FileChange(paths.upstream_conf, content)])
        line.outcome = (", ".join(addresses) or "no containers") + (
            "" if changed else " (unchanged)"
        )
    return changed


def _drain(host: Host, old_workers: list[int], max_seconds: float) -> None:
    """Wait until no request can still reach the old containers.

    `nginx -s reload` returns before nginx has switched: the old workers keep
    serving what they accepted, with the old upstream. Once they have exited,
    nothing is in flight to the old containers. Not a blind sleep: it ends as
    soon as they are gone, and at `max_seconds` for long-lived connections.
    """
    with host.step("drain old nginx workers") as line:
        if not old_workers:  # `ps` unavailable: fall back to a short grace period
            time.sleep(min(2.0, max_seconds))
            line.outcome = "could not list nginx workers; waited"
            return
        still = nginx.wait_retired(host, old_workers, max_seconds)
        line.outcome = (
            f"{len(still)} old workers still busy after {max_seconds:g}s "
            "(long-lived connections); going on"
            if still
            else "done"
        )


def _retire(host: Host, old: list[Container]) -> None:
    if not old:
        return
    with host.step(f"retire {', '.join(c.name for c in old)}"):
        ids = [c.id for c in old]
        host.remote.run(docker.stop(ids))  # honours each container's stop_grace_period
        host.remote.run(docker.remove(ids))


def _remove(host: Host, items: list[Container], title: str) -> None:
    with host.step(title):
        host.remote.run(docker.remove([c.id for c in items]), check=False)


def _remove_leftovers(host: Host, leftovers: list[Container]) -> None:
    """Stopped containers (a failed run, a `leo stop`) would be counted by `--scale`."""
    if leftovers:
        _remove(host, leftovers, f"remove stopped {', '.join(c.name for c in leftovers)}")
