"""Facts about an app's containers on a host, addressed by ID (never by position)."""

from __future__ import annotations

from ..commands import compose, docker
from ..errors import LeoError, StepFailed
from ..facts import ComposeModel, Container, parse_compose_config, parse_inspect
from ..layout import AppPaths
from .base import Host


def containers(host: Host, app: str, service: str | None = None) -> list[Container]:
    """All containers of the app (or of one service), any state, oldest number first."""
    # check=False: a container removed between `ps` and `inspect` is just absent.
    result = host.remote.run(docker.inspect_project(app, service), check=False)
    found = parse_inspect(result.stdout if result.stdout.strip() else "[]")
    return sorted(found, key=lambda c: (c.service, c.number))


def inspect(host: Host, ids: list[str]) -> list[Container]:
    if not ids:
        return []
    # check=False: a container removed meanwhile is simply absent from the answer.
    return parse_inspect(host.remote.run(docker.inspect(ids), check=False).stdout or "[]")


def compose_model(host: Host, paths: AppPaths) -> ComposeModel:
    """The compose file as compose itself resolves it (fails early if it is broken)."""
    result = host.remote.run(compose.config_json(paths), check=False)
    if not result.ok and "no such file or directory" in result.stderr.lower():
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name} (run `leo create`)")
    if not result.ok:
        raise LeoError(
            f"docker compose cannot read {paths.compose_file} on {host.name}: "
            f"{result.stderr.strip()}"
        )
    return parse_compose_config(result.stdout)


def logs_tail(host: Host, container: Container, lines: int = 20) -> str:
    result = host.remote.run(docker.logs(container.id, tail=lines), check=False)
    return (result.stdout + result.stderr).strip()


def network_for(app: str) -> str:
    """Compose's default network for the project: where nginx reaches web."""
    return f"{app}_default"


def describe(container: Container) -> str:
    health = f", {container.health}" if container.health else ""
    return f"{container.name} ({container.short_id}, {container.status}{health})"
