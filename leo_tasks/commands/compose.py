"""`docker compose` commands for one app, always with machine-readable output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..layout import AppPaths


def base(paths: AppPaths) -> list[str]:
    """`docker compose` pinned to the app's project name, directory and file.

    A person can do the same by hand: `cd /home/leo-deploy/apps/<app> && docker compose ...`
    (the directory name is the project name).
    """
    return [
        "docker",
        "compose",
        "--ansi",
        "never",
        "--project-name",
        paths.app,
        "--project-directory",
        paths.dir,
        "--file",
        paths.compose_file,
    ]


def config_json(paths: AppPaths) -> list[str]:
    """The resolved compose model (env_file values included) as JSON."""
    return [*base(paths), "config", "--format", "json"]


def up(
    paths: AppPaths,
    services: Iterable[str] = (),
    *,
    no_deps: bool = False,
    no_recreate: bool = False,
    scale: Mapping[str, int] | None = None,
    remove_orphans: bool = False,
) -> list[str]:
    argv = [*base(paths), "up", "--detach", "--quiet-pull"]
    if no_deps:
        argv.append("--no-deps")
    if no_recreate:
        argv.append("--no-recreate")
    if remove_orphans:
        argv.append("--remove-orphans")
    for service, count in sorted((scale or {}).items()):
        argv += ["--scale", f"{service}={count}"]
    services = list(services)
    return [*argv, "--", *services] if services else argv


def start(paths: AppPaths) -> list[str]:
    return [*base(paths), "start"]


def pull(paths: AppPaths, services: Iterable[str]) -> list[str]:
    return [*base(paths), "pull", "--quiet", "--", *services]


def stop(paths: AppPaths) -> list[str]:
    return [*base(paths), "stop"]


def down(paths: AppPaths, *, volumes: bool = False) -> list[str]:
    argv = [*base(paths), "down", "--remove-orphans"]
    return [*argv, "--volumes"] if volumes else argv


def run(paths: AppPaths, service: str, command: str, *, tty: bool) -> list[str]:
    """A one-off container; the command goes to `sh -c` (images may lack bash)."""
    argv = [*base(paths), "run", "--rm"]
    if not tty:
        argv.append("-T")
    return [*argv, "--", service, "sh", "-c", command]
