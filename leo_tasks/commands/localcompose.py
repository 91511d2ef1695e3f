"""`docker compose` commands run on this machine over the user's own compose file.

Unlike commands/compose.py (the app's project on a host, named by leo), these
leave the project name to compose: the user's `name:`, COMPOSE_PROJECT_NAME or
the directory, exactly as a `docker compose build` they typed would. The
project directory is the compose file's, so `build: .`, `env_file:` and the
project's `.env` resolve there whatever directory leo runs in.
"""

from __future__ import annotations

import os


def project_directory(compose_file: str) -> str:
    """The directory of `compose_file` as written (`.` for a bare file name)."""
    return os.path.dirname(compose_file) or "."


def base(compose_file: str, *global_flags: str, file: str | None = None) -> list[str]:
    """`docker compose` on `compose_file`, `global_flags` before the subcommand.
    `file`: read that instead (`-`: stdin), in `compose_file`'s project directory."""
    return [
        "docker",
        "compose",
        "--ansi",
        "never",
        *global_flags,
        "--project-directory",
        project_directory(compose_file),
        "--file",
        file or compose_file,
    ]


def config_json(compose_file: str) -> list[str]:
    """The model as JSON: services, their `build:`, the project's `name`.

    `--no-interpolate`: without it compose also reads every `env_file:`, and
    `env_file: ./env` (leo's env file) exists only on the host, so the config
    of an ordinary leo app failed here. Names with `${VAR}` are interpolated
    by `image_names_from_stdin` instead, which reads no env file.
    """
    return [*base(compose_file), "config", "--no-interpolate", "--format", "json"]


def image_names_from_stdin(compose_file: str, project: str) -> list[str]:
    """The image names of a model read from stdin, interpolated as compose does for
    `compose_file`: in its directory (its `.env`) and under the project's name."""
    name = ["--project-name", project] if project else []
    return [*base(compose_file, *name, file="-"), "config", "--images"]


def build(compose_file: str, service: str) -> list[str]:
    """Build one service's image, with plain line-by-line progress.

    `--progress plain` prints whole lines a log can keep (the default TTY
    progress redraws the screen); in compose 2.40 it is a global flag.
    """
    return [*base(compose_file, "--progress", "plain"), "build", "--", service]
