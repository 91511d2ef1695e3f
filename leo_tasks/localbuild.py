"""`leo deploy --build`: build the compose file's images on this machine, tag them by content.

Every service with `build:` is built with the local `docker compose build`,
one service at a time so that each one's output stays whole and prefixed, and
its image is tagged `leo-<app>-<service>:<first 12 hex digits of its ID>`.
The tag follows from the image, so a tag never names two different images, and
an unchanged project (served from the build cache) gets the same tags again.
The ID covers more than the Dockerfile: compose labels each image with its
project, service and compose version, so two services with the same `build: .`
get two IDs, and a new compose version gives new tags.

All of it happens before leo connects to any host: a failed build stops the
deploy with nothing changed anywhere. Commands run with subprocess argv, never
a shell; a build's output is streamed as it comes (only its last lines are kept,
for the error) and a build that is interrupted or runs out of time is stopped
with its whole process group: `docker compose` is the docker CLI running the
compose plugin as a child, which may run `docker buildx bake` in turn.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .commands import docker, localcompose
from .errors import InvalidInput, LeoError
from .imagetags import COMPONENT, built_repository
from .localdocker import LocalDocker

# The last lines of a failed build that its error quotes: BuildKit prints the
# failing step's output and the error itself at the end.
TAIL_LINES = 15
# `docker compose config` and `docker image tag` only read files or ask the engine.
QUICK_TIMEOUT = 60.0
# How long a stopped build gets to cancel cleanly (SIGTERM) before SIGKILL.
STOP_GRACE = 5.0
# Read size; and a "line" longer than this is passed on in pieces, so a build
# that prints without newlines cannot fill memory.
CHUNK = 64 * 1024
IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
TAG_DIGITS = 12


@dataclass(frozen=True)
class Built:
    """A service's freshly built image and the tag leo gave it."""

    service: str
    reference: str  # "leo-<component(app)>-<component(service)>:<12 hex of the image ID>"
    image_id: str  # "sha256:..."


class BuildFailed(LeoError):
    """A service's `docker compose build` exited non-zero on this machine."""

    exit_code = 1

    def __init__(self, service: str, exited: int, tail: Sequence[str], argv: Sequence[str]) -> None:
        self.service = service
        self.exited = exited
        self.tail = list(tail)
        self.argv = list(argv)
        super().__init__(self._message())

    def _message(self) -> str:
        how = f"was killed by signal {-self.exited}" if self.exited < 0 else f"exited {self.exited}"
        lines = [
            f"building service {self.service} failed: `{shlex.join(self.argv)}` {how}; "
            "nothing was changed on any host"
        ]
        if self.tail:
            lines.append(f"last {len(self.tail)} lines of its output:")
            lines += ["  " + line for line in self.tail]
        return "\n".join(lines)


def buildable(config: dict[str, Any]) -> list[str]:
    """The services with `build:` in `docker compose config --format json` output.

    In the order the config lists them: the JSON of compose 2.40 has services
    sorted by name (a Go map), not in the file's order, which it does not keep.
    A service with `profiles:` is left out: a plain `docker compose up` (leo's)
    never starts it, and the config read without interpolation still lists it.
    """
    services: dict[str, Any] = config.get("services") or {}
    return [
        name
        for name, service in services.items()
        if (service or {}).get("build") is not None and not (service or {}).get("profiles")
    ]


def image_name(config: dict[str, Any], service: str) -> str:
    """The name compose gives the image it builds for `service`.

    The service's `image:` if set, else `<project>-<service>`: compose 2.40
    takes the service name as it is (checked with real builds): `Worker` gives
    `<project>-Worker`, which docker refuses ("repository name must be
    lowercase"), and `dotted.svc` gives `<project>-dotted.svc`. The project
    name in the config is already normalized (`name: My.App` reads `myapp`).
    """
    explicit = (config["services"][service] or {}).get("image")
    return explicit or f"{config['name']}-{service}"


def image_name_of(compose_file: str, config: dict[str, Any], service: str) -> str:
    """image_name, with an `image:` that has `${VAR}` in it interpolated by compose itself
    (the config was read without interpolation: see localcompose.config_json).

    Compose is given a one-service model holding just that name, in the project's
    directory (its `.env`) and name: `config --images -- SERVICE` on the real file
    would print the images of the services it depends on too, in no set order.
    """
    name = image_name(config, service)
    if "$" not in name:
        return name
    model = json.dumps({"services": {"image": {"image": name}}})
    argv = localcompose.image_names_from_stdin(compose_file, str(config.get("name") or ""))
    done = _quick(argv, QUICK_TIMEOUT, "naming", stdin=model)
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 1:
        raise InvalidInput(
            f"docker compose could not name the image of service {service} ({name}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return lines[0]


def built_reference(app: str, service: str, image_id: str) -> str:
    """`leo-<app>-<service>:<first 12 hex digits of image_id>`, always a valid reference.

    `leo-a-b-c` could be app `a` and service `b-c` or app `a-b` and service `c`;
    harmless here: the tag is the content, so one reference never names two images.
    """
    if not IMAGE_ID.fullmatch(image_id):
        raise ValueError(f"not an image ID (sha256:<64 hex digits>): {image_id!r}")
    digits = image_id.removeprefix("sha256:")[:TAG_DIGITS]
    return f"{built_repository(app, service)}:{digits}"


def build(
    compose_file: str,
    app: str,
    *,
    out: Callable[[str], None] = print,
    timeout: float = 1800,
) -> list[Built]:
    """Build every service of `compose_file` that has `build:`, and tag each image by content.

    Output is streamed as `out(f"[build {service}] {line}")`. `timeout` bounds
    all the builds together (a CI job wants one number). Returns [] when no
    service has `build:`. Raises InvalidInput for a missing docker, a compose
    file that is missing or that compose refuses, and a timeout; BuildFailed
    for a build that fails. An interrupt (Ctrl-C) stops the build and is re-raised.
    """
    deadline = time.monotonic() + timeout
    # Absolute, so compose's messages and the project directory do not depend
    # on where leo runs.
    path = os.path.abspath(compose_file)
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InvalidInput(f"cannot read the compose file {compose_file}: {exc.strerror}") from None
    config = _config(path, compose_file, min(QUICK_TIMEOUT, timeout))
    services = buildable(config)
    names = {service: image_name_of(path, config, service) for service in services}
    _refuse_invalid_default_names(config, names, compose_file)

    local = LocalDocker()
    built: list[Built] = []
    for service in services:
        argv = localcompose.build(path, service)
        started = time.monotonic()
        try:
            exited, tail = _stream(argv, f"[build {service}] ", out, deadline)
        except _TimedOut:
            raise InvalidInput(
                f"the builds took longer than {timeout:g}s: stopped the build of service "
                f"{service}; nothing was changed on any host"
            ) from None
        if exited != 0:
            raise BuildFailed(service, exited, tail, argv)
        # Looked up by name right after the build: a concurrent build of the
        # same project could retag it in between, compose has no --iidfile.
        image = local.find(names[service])
        if image is None:
            raise LeoError(
                f"`docker compose build` of service {service} succeeded but there is no image "
                f"{names[service]} on this machine: nothing was changed on any host"
            )
        reference = built_reference(app, service, image.id)
        tagged = _quick(docker.tag(image.id, reference), QUICK_TIMEOUT, f"tagging {reference}")
        if tagged.returncode != 0:
            raise LeoError(f"`docker image tag` failed on this machine: {tagged.stderr.strip()}")
        # As leo's step lines end: with the seconds it took (bench/leophases.py reads them).
        out(f"[build {service}] tagged {reference} ({time.monotonic() - started:.2f}s)")
        built.append(Built(service, reference, image.id))
    return built


def _refuse_invalid_default_names(
    config: dict[str, Any], names: dict[str, str], compose_file: str
) -> None:
    """Refuse, before any build, a service whose default image name docker would refuse.

    Compose 2.40 refuses it only when that service's build starts ("invalid
    tag ...: repository name must be lowercase"), after the services before it
    were built; and its message does not say that an `image:` fixes it.
    """
    for service, name in names.items():
        if (config["services"][service] or {}).get("image"):
            continue  # the user's own name: compose and docker judge it
        if not COMPONENT.fullmatch(name):
            raise InvalidInput(
                f"{compose_file}: service {service} has `build:` and no `image:`, so compose "
                f"names its image {name}, which docker refuses (a repository name is lowercase "
                "letters and digits separated by single `.`, `_`, `__` or `-`s): give it an "
                "`image:`"
            )


def _config(path: str, compose_file: str, timeout: float) -> dict[str, Any]:
    done = _quick(localcompose.config_json(path), timeout, "reading the compose file")
    if done.returncode != 0:
        raise InvalidInput(
            f"docker compose refused {compose_file}: {done.stderr.strip() or done.stdout.strip()}"
        )
    try:
        config = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        # Not the user's file: this compose is not one leo knows.
        raise LeoError(f"`docker compose config` printed no JSON: {exc}") from None
    if not isinstance(config, dict):
        raise LeoError("`docker compose config` printed JSON that is not an object")
    return config


def _quick(
    argv: list[str], timeout: float, what: str, *, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A short local docker command, its output captured; `stdin` fed to it (else none)."""
    try:
        done = subprocess.run(
            argv,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise InvalidInput(
            "docker is not installed on this machine: `leo deploy --build` builds the images "
            "with the local `docker compose`"
        ) from None
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"{what} took longer than {timeout:g}s: {shlex.join(argv)}") from None
    return done


class _TimedOut(Exception):
    """The deadline passed; the command was stopped."""


def _stream(
    argv: list[str],
    prefix: str,
    out: Callable[[str], None],
    deadline: float,
) -> tuple[int, list[str]]:
    """Run `argv`, pass each line of its stdout and stderr to `out`; (exit status, last lines).

    stderr is merged into stdout: their lines stay in the order they were
    written, and compose prints build progress on either depending on whether
    it builds itself or through buildx bake.
    """
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
            # A group of its own: leo stops compose and any child it runs as one,
            # and the terminal's Ctrl-C reaches leo only, which then does so.
            process_group=0,
        )
    except FileNotFoundError:
        raise InvalidInput("docker is not installed on this machine") from None
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        for line in _lines(proc.stdout.fileno(), deadline):
            if line.strip():  # plain progress separates steps with blank lines
                tail.append(line)
            out(prefix + line)
        exited = proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
    except (_TimedOut, subprocess.TimeoutExpired):
        _stop(proc)
        raise _TimedOut from None
    except BaseException:
        # Ctrl-C, or `out` failing (a closed stdout): the build must not go on
        # without anyone reading it.
        _stop(proc)
        raise
    finally:
        proc.stdout.close()
    return exited, list(tail)


def _lines(fd: int, deadline: float) -> Iterator[str]:
    """The lines read from `fd` until EOF, without their newline; _TimedOut at the deadline."""
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise _TimedOut
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            *whole, pending = (pending + chunk).split(b"\n")
            for line in whole:
                yield _decode(line)
            if len(pending) >= CHUNK:
                yield _decode(pending)
                pending = b""
    if pending:
        yield _decode(pending)


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop `proc` and its process group: SIGTERM (compose cancels the build), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        _signal_group(proc, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        # Still unreaped, so its group ID cannot have been reused.
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    # Gone already: it exited between the check and the signal.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)
