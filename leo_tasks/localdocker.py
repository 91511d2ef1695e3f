"""The docker engine on this machine, for `leo push`: which images it has, and their bytes.

Commands run with subprocess argv, never a shell. `docker save` is read from
its pipe as it writes, chunk by chunk, so an image of any size goes to the
host without a temp file and without being held in memory.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .commands import docker
from .errors import InvalidInput, LeoError

# `docker save` is read in pieces this big: a few SSH packets each, few Python calls.
CHUNK = 256 * 1024
INSPECT_TIMEOUT = 60.0


@dataclass(frozen=True)
class LocalImage:
    """An image as the local engine has it."""

    reference: str  # as the user named it: "app:1.2", "registry.example/app", an ID
    id: str  # "sha256:..."; the host has the same image when it reports the same ID
    size: int  # bytes, uncompressed: about what `docker save` writes for it


class LocalDocker:
    """This machine's docker CLI (and whatever engine its DOCKER_HOST/context names)."""

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=INSPECT_TIMEOUT, check=False
            )
        except FileNotFoundError:
            raise InvalidInput(
                "docker is not installed on this machine: `leo push` sends images from the "
                "local docker engine"
            ) from None
        except subprocess.TimeoutExpired:
            raise InvalidInput(
                f"the local docker did not answer within {INSPECT_TIMEOUT:g}s: {' '.join(argv)}"
            ) from None

    def find(self, reference: str) -> LocalImage | None:
        """The image `reference` names here, or None when the engine has no such image."""
        done = self._run(docker.inspect_image(reference))
        if done.returncode != 0:
            if "no such image" in done.stderr.lower():
                return None
            raise InvalidInput(f"local docker failed: {done.stderr.strip() or done.stdout.strip()}")
        image_id, _, size = done.stdout.strip().partition(" ")
        return LocalImage(reference, image_id, int(size) if size.isdigit() else 0)

    def images(self, references: Sequence[str]) -> list[LocalImage]:
        """Every image named, or InvalidInput naming all the missing ones."""
        found = {ref: self.find(ref) for ref in dict.fromkeys(references)}
        missing = [ref for ref, image in found.items() if image is None]
        if missing:
            raise InvalidInput(
                f"no such image on this machine: {', '.join(missing)} "
                "(build or pull it first; `docker image ls` lists what there is)"
            )
        return [image for image in found.values() if image is not None]

    @contextlib.contextmanager
    def save(self, references: Sequence[str]) -> Iterator[Iterator[bytes]]:
        """`docker save` of the images as a stream of chunks; stopped if not read to the end.

        The stream raises LeoError at its end when `docker save` failed: what it
        wrote is then incomplete, and `docker load` must not take it as whole.
        """
        argv = docker.save(references)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError:
            raise InvalidInput("docker is not installed on this machine") from None
        try:
            yield _chunks(proc, argv)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


def _chunks(proc: subprocess.Popen, argv: list[str]) -> Iterator[bytes]:
    assert proc.stdout is not None and proc.stderr is not None
    while chunk := proc.stdout.read(CHUNK):
        yield chunk
    # Its stderr is read only now: `docker save` writes there only when it fails.
    error = proc.stderr.read().decode("utf-8", "replace").strip()
    if proc.wait() != 0:
        raise LeoError(f"`{' '.join(argv)}` failed on this machine: {error}")
