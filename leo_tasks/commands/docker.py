"""Plain `docker` commands on containers that leo addresses by ID."""

from __future__ import annotations

from collections.abc import Sequence

from ..imagetags import release_tag_filter

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"


def project_containers(app: str, service: str | None = None) -> list[str]:
    """IDs of every container of a compose project (any state), one per line."""
    argv = [
        "docker",
        "ps",
        "--all",
        "--quiet",
        "--no-trunc",
        "--filter",
        f"label={PROJECT_LABEL}={app}",
    ]
    if service:
        argv += ["--filter", f"label={SERVICE_LABEL}={service}"]
    return argv


def inspect_project(app: str, service: str | None = None) -> list[str]:
    """`docker container inspect` of every container of the project (or one service),
    in one round trip; prints `[]` when there is none."""
    script = (
        'ids=$(docker ps --all --quiet --no-trunc --filter "label=$1" ${2:+--filter "label=$2"}) '
        '&& if [ -z "$ids" ]; then echo "[]"; else docker container inspect -- $ids; fi'
    )
    service_label = f"{SERVICE_LABEL}={service}" if service else ""
    return ["sh", "-c", script, "sh", f"{PROJECT_LABEL}={app}", service_label]


def inspect(ids: Sequence[str]) -> list[str]:
    return ["docker", "container", "inspect", "--", *ids]


def stop(ids: Sequence[str], *, timeout: int | None = None) -> list[str]:
    argv = ["docker", "stop"]
    if timeout is not None:
        argv += ["--time", str(timeout)]
    return [*argv, "--", *ids]


def remove(ids: Sequence[str]) -> list[str]:
    return ["docker", "rm", "--force", "--", *ids]


def exit_codes(ids: Sequence[str]) -> list[str]:
    """`<id> <exit code>` per container: after `docker stop`, 137 means SIGKILL."""
    return ["docker", "container", "inspect", "--format", "{{.Id}} {{.State.ExitCode}}", "--", *ids]


def logs(container_id: str, *, tail: int = 20) -> list[str]:
    return ["docker", "logs", "--tail", str(tail), "--", container_id]


def project_networks(app: str) -> list[str]:
    return ["docker", "network", "ls", "--quiet", "--filter", f"label={PROJECT_LABEL}={app}"]


def remove_networks(ids: Sequence[str]) -> list[str]:
    return ["docker", "network", "rm", "--", *ids]


def project_volumes(app: str) -> list[str]:
    return ["docker", "volume", "ls", "--quiet", "--filter", f"label={PROJECT_LABEL}={app}"]


def remove_volumes(names: Sequence[str]) -> list[str]:
    return ["docker", "volume", "rm", "--", *names]


def login(registry: str, username: str) -> list[str]:
    """The password is read from stdin: it never appears in argv or `ps`."""
    return ["docker", "login", "--username", username, "--password-stdin", "--", registry]


def tag(image_id: str, reference: str) -> list[str]:
    return ["docker", "image", "tag", image_id, reference]


def remove_images(references: Sequence[str]) -> list[str]:
    return ["docker", "image", "rm", "--", *references]


def image_origins(images: Sequence[str]) -> list[str]:
    """One line per image: `<image>\t<number of registry digests>` or `<image>\tmissing`.

    An image with no RepoDigests was built or loaded on the host, not pulled:
    pulling it would fetch something else, or fail.
    """
    script = (
        "for i; do "
        'n=$(docker image inspect --format "{{len .RepoDigests}}" -- "$i" 2>/dev/null) '
        '|| n=missing; printf "%s\\t%s\\n" "$i" "$n"; done'
    )
    return ["sh", "-c", script, "sh", *images]


def release_tags(app: str) -> list[str]:
    """The rollback tags leo made for `app` (see imagetags.py), one per line."""
    return [
        "docker",
        "image",
        "ls",
        "--filter",
        f"reference={release_tag_filter(app)}",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]
