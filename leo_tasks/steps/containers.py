"""Facts about an app's containers on a host, addressed by ID (never by position)."""

from __future__ import annotations

import re

from ..commands import compose, docker
from ..commands.compose import Project
from ..errors import CommandFailed, InvalidInput, StepFailed
from ..facts import ComposeModel, Container, parse_compose_config, parse_inspect
from ..remote import Command, Result, run_all
from .base import Host


def containers(
    host: Host, app: str, service: str | None = None, *, oneoffs: bool = False
) -> list[Container]:
    """The app's service containers (or one service's), any state, oldest number first.

    One-off containers (`leo run`, `docker compose run`) belong to whoever
    started them: they are left out unless `oneoffs`, so a rotate never
    counts, serves or retires them.
    """
    [result] = run_all(host.remote, [listing(app, service)])
    return listed(host, result, oneoffs=oneoffs)


def listing(app: str, service: str | None = None) -> Command:
    """The command of `containers`, to send in a batch (`run_all`); `listed` reads it.

    check=False: a container removed between `ps` and `inspect` is just absent
    (inspect then still prints the others)."""
    return Command(docker.inspect_project(app, service), check=False)


def listed(host: Host, result: Result, *, oneoffs: bool = False) -> list[Container]:
    """`containers`' answer from the result of its `listing` command."""
    # Nothing at all printed means docker itself failed: never take that for "no containers".
    if not result.ok and not result.stdout.strip():
        raise CommandFailed(host.name, result.argv, result.exited, "", result.stderr)
    found = parse_inspect(result.stdout if result.stdout.strip() else "[]")
    return sorted(
        (c for c in found if oneoffs or not c.oneoff), key=lambda c: (c.service, c.number)
    )


def inspect(host: Host, ids: list[str], *, timeout: float | None = None) -> list[Container]:
    if not ids:
        return []
    # check=False: a container removed meanwhile is simply absent from the answer.
    kwargs = {"timeout": timeout} if timeout is not None else {}
    result = host.remote.run(docker.inspect(ids), check=False, **kwargs)
    return parse_inspect(result.stdout or "[]")


def compose_model(
    host: Host, project: Project, *, texts: tuple[str, str | None] | None = None
) -> ComposeModel:
    """The compose file as compose itself resolves it (fails early if it is broken).

    `texts`: a compose file and leo's override to resolve in place of the project's
    files, handed to compose without writing them on the host (a dry run)."""
    if texts is None:
        argv, stdin = compose.config_json(project), None
    else:
        argv, stdin = compose.with_files_from_stdin(
            project.paths, *texts, "config", "--format", "json"
        )
    result = host.remote.run(argv, stdin=stdin, check=False)
    live = texts is None and project.file == project.paths.compose_file
    if not result.ok and live and "no such file or directory" in result.stderr.lower():
        raise StepFailed(f"app {project.app!r} does not exist on {host.name} (run `leo create`)")
    if not result.ok:
        raise InvalidInput(
            f"docker compose on {host.name} cannot use the compose file: "
            f"{redact_values(result.stderr.strip())}"
        )
    return parse_compose_config(result.stdout)


def redact_values(message: str) -> str:
    """Compose quotes the offending value when it cannot read an env file
    (`unterminated quoted value "s3cret...`): keep the line, drop the value."""
    return re.sub(r'(value:?) ["\'].*', r"\1 (not shown)", message)


def logs_tail(host: Host, container: Container, lines: int = 20) -> str:
    result = host.remote.run(docker.logs(container.id, tail=lines), check=False)
    return (result.stdout + result.stderr).strip()


def describe(container: Container) -> str:
    health = f", {container.health}" if container.health else ""
    return f"{container.name} ({container.short_id}, {container.status}{health})"
