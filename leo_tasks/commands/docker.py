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
        "nl='\n'; for i; do "
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


# `leo push`: images copied from this machine's engine with `docker save` into
# `docker load` on the host, with no registry in between.


def exposed_ports(reference: str) -> list[str]:
    """The image's EXPOSE instructions as JSON (`{"8000/tcp": {}}`, or `null`)."""
    return [
        "docker",
        "image",
        "inspect",
        "--format",
        "{{json .Config.ExposedPorts}}",
        "--",
        reference,
    ]


def inspect_image(reference: str) -> list[str]:
    """`<id> <size>` of one image, run on this machine; exits 1 if it is missing.

    One image per call: `docker image inspect a b` exits 1 when either is missing,
    and its output no longer says which line belongs to which.
    """
    return ["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", "--", reference]


def image_ids(references: Sequence[str]) -> list[str]:
    """One line per image on the host: `<reference>\t<image id>` or `<reference>\tmissing`.

    Any failure other than "No such image" (no docker, no permission, daemon
    down) stops with the error: it must not read as "missing" and send every image.
    """
    script = (
        "nl='\n'; for i; do "
        'if out=$(docker image inspect --format "{{.Id}}" -- "$i" 2>&1); then '
        # The ID is the last line: a warning docker prints first (a config file it
        # cannot read) must not be taken for it.
        'printf "%s\\t%s\\n" "$i" "${out##*"$nl"}"; '
        'else case $out in *"No such image"*|*"no such image"*) printf "%s\\tmissing\\n" "$i";; '
        '*) printf "%s\\n" "$out" >&2; exit 1;; esac; fi; done'
    )
    return ["sh", "-c", script, "sh", *references]


def save(references: Sequence[str]) -> list[str]:
    """A tar of the images (every layer, with their tags) on stdout."""
    return ["docker", "image", "save", "--", *references]


def load() -> list[str]:
    """Reads a `docker save` tar on stdin, plain or gzip-compressed (docker detects which)."""
    return ["docker", "image", "load"]
