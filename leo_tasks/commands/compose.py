"""`docker compose` commands for one app, always with machine-readable output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..layout import AppPaths


@dataclass(frozen=True)
class Project:
    """What `docker compose` works on: the app's project (name and directory, so
    relative paths like `env_file: ./env` resolve in the app's directory), the
    compose file of this run and leo's override (override.py): the live ones,
    or a deploy's candidates that replace them only once the deploy succeeded.

    `override` is None only for an app no rotate has written one for yet (made
    by a leo before the override existed): compose then reads the file alone,
    as that leo ran it.
    """

    paths: AppPaths
    file: str
    override: str | None = None

    @classmethod
    def live(cls, paths: AppPaths, *, has_override: bool = True) -> Project:
        return cls(paths, paths.compose_file, paths.override_file if has_override else None)

    @property
    def app(self) -> str:
        return self.paths.app


def base(project: Project) -> list[str]:
    """`docker compose` pinned to the app's project name, directory and files.

    A person can do the same by hand: `cd /home/leo-deploy/apps/<app> && docker compose
    -f docker-compose.yml -f docker-compose.leo.yml ...` (the directory name is the
    project name).
    """
    files = ["--file", project.file] + (["--file", project.override] if project.override else [])
    return [
        "docker",
        "compose",
        "--ansi",
        "never",
        "--project-name",
        project.paths.app,
        "--project-directory",
        project.paths.dir,
        *files,
    ]


def config_json(project: Project) -> list[str]:
    """The resolved compose model (env_file values included) as JSON."""
    return [*base(project), "config", "--format", "json"]


# `leo ... --dry-run`: compose on files that are not on the host. The compose file
# is the first $1 bytes of stdin and leo's override the next $2 (read by size: no
# wait for an end of input); bash's process substitution hands compose a /dev/fd
# path to each, so neither is written anywhere on the host.
_WITH_FILES_FROM_STDIN = r"""
export LC_ALL=C
compose= override=
IFS= read -r -d '' -N "$1" compose
[ "$2" = 0 ] || IFS= read -r -d '' -N "$2" override
shift 2
"$@" 3< <(printf '%s' "$compose") 4< <(printf '%s' "$override")
"""


def with_files_from_stdin(
    paths: AppPaths, compose_text: str, override_text: str | None, *args: str
) -> tuple[list[str], str]:
    """argv and stdin of `docker compose ... ARGS` run on the given texts in place of
    the app's files (same project name and directory, so relative paths resolve alike)."""
    sizes = [str(len(text.encode())) for text in (compose_text, override_text or "")]
    project = Project(paths, "/dev/fd/3", "/dev/fd/4" if override_text is not None else None)
    argv = ["bash", "-c", _WITH_FILES_FROM_STDIN, "leo-preview", *sizes, *base(project), *args]
    return argv, compose_text + (override_text or "")


def dry_run_up(services: Iterable[str]) -> list[str]:
    """The arguments of compose's own dry run of `up` for `services`: it prints, per
    container, what `up` would do with it ("Running": nothing, "Recreate": its
    configuration or image changed), and changes nothing.

    Never `--detach`: some compose versions really recreated containers in a dry run
    of `up --detach` (docker/compose#14029); `--no-start` ends it after the create
    step instead. `--no-build` and `--pull never`: a dry run must not build (compose
    #13040) or reach a registry; the caller passes only services whose image is on
    the host."""
    return [
        "--dry-run",
        "up",
        "--no-start",
        "--no-build",
        "--no-deps",
        "--pull",
        "never",
        "--",
        *services,
    ]


def up(
    project: Project,
    services: Iterable[str] = (),
    *,
    no_deps: bool = False,
    no_recreate: bool = False,
    force_recreate: bool = False,
    scale: Mapping[str, int] | None = None,
) -> list[str]:
    argv = [*base(project), "up", "--detach", "--quiet-pull"]
    if no_deps:
        argv.append("--no-deps")
    if no_recreate:
        argv.append("--no-recreate")
    if force_recreate:
        argv.append("--force-recreate")
    for service, count in sorted((scale or {}).items()):
        argv += ["--scale", f"{service}={count}"]
    services = list(services)
    return [*argv, "--", *services] if services else argv


def start(project: Project) -> list[str]:
    return [*base(project), "start"]


def pull(project: Project, services: Iterable[str]) -> list[str]:
    return [*base(project), "pull", "--quiet", "--", *services]


def stop(project: Project) -> list[str]:
    return [*base(project), "stop"]


def run(project: Project, service: str, command: str, *, tty: bool) -> list[str]:
    """A one-off container; the command goes to `sh -c` (images may lack bash)."""
    argv = [*base(project), "run", "--rm"]
    if not tty:
        argv.append("-T")
    return [*argv, "--", service, "sh", "-c", command]
