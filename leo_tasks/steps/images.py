"""Getting the release's images onto the host: `docker login` and `docker compose pull`.

Only images that come from a registry are pulled. An image built or loaded on
the host (no RepoDigests) is used as it is: pulling its name would fetch
something else or fail. `pull_policy: never` or `build` in the compose file
is honoured too.
"""

from __future__ import annotations

from ..appsettings import AppSettings
from ..commands import compose, docker
from ..commands.compose import Project
from ..errors import LeoError
from ..facts import ComposeModel, parse_image_origins
from ..remote import Command, run_all
from .base import Host

NO_PULL = {"never", "build"}


def _pullable(model: ComposeModel) -> dict[str, list[str]]:
    """image -> the services that run it, for the images compose may pull."""
    by_image: dict[str, list[str]] = {}
    for name, spec in model.services.items():
        image = spec.get("image")
        if image and spec.get("pull_policy", "always") not in NO_PULL:
            by_image.setdefault(image, []).append(name)
    return by_image


def _origins(by_image: dict[str, list[str]]) -> Command:
    return Command(docker.image_origins(list(by_image)))


def origins_command(model: ComposeModel) -> Command | None:
    """The command `pull` starts with (where each image came from), to prefetch."""
    by_image = _pullable(model)
    return _origins(by_image) if by_image else None


def pull(host: Host, project: Project, model: ComposeModel, settings: AppSettings) -> None:
    by_image = _pullable(model)
    with host.step("pull images") as line:
        if not by_image:
            line.outcome = "nothing to pull"
            return
        [found] = run_all(host.remote, [_origins(by_image)])
        origins = parse_image_origins(found.stdout)
        wanted = sorted(
            s for image, names in by_image.items() if origins.get(image) != "local" for s in names
        )
        if not wanted:
            line.outcome = "all images are local builds: nothing to pull"
            return
        if settings.registry:
            login(host, settings)
        result = host.remote.run(
            compose.pull(project, wanted), check=False, timeout=settings.command_timeout
        )
        if not result.ok:
            raise LeoError(
                f"docker compose pull failed on {host.name}; the app's files and "
                "containers were not changed (images pulled so far stay in docker):\n"
                f"{result.stderr.strip()}"
            )
        line.outcome = f"pulled {', '.join(wanted)}"


def login(host: Host, settings: AppSettings) -> None:
    registry = settings.registry
    assert registry is not None
    result = host.remote.run(
        docker.login(registry.registry, registry.username),
        stdin=registry.password + "\n",
        check=False,
    )
    if not result.ok:
        raise LeoError(
            f"docker login to {registry.registry} as {registry.username} failed on "
            f"{host.name}: {result.stderr.strip()}"
        )
