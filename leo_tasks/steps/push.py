"""Copying images from this machine's docker to a host, with no registry in between.

`docker save` here streams into `docker load` on the host through a channel
of the SSH connection leo already has: no temp file on either side, no shell
on this machine. The stream is gzip-compressed on the way unless told not to
(`docker load` recognises gzip by itself). An image the host already has
with the same ID is not sent, so pushing the same build twice sends nothing.
After the load the host must name each image with its local ID, or the push
failed.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from ..commands import docker
from ..composefile import images_in_compose
from ..errors import StepFailed
from ..facts import parse_image_ids
from ..layout import AppPaths
from ..localdocker import LocalDocker, LocalImage
from .base import Host, read_file

# gzip -1: `docker save` writes layers as plain tars. Level 1 halves a busybox
# image (2.2 -> 1.1 MB); level 6 saved 0.1 MB more of bench/push.py's 100 MB
# image for 40% more CPU. zlib in-process rather than a `gzip -1` process: no
# second process to wire up and kill, and it was faster (1.5 s vs 2.0 s for the
# 100 MB). It costs CPU (~65 MB/s of input on the bench machine): above ~40 MB/s
# of bandwidth, --no-compress is faster.
GZIP_LEVEL = 1
# Seconds between progress updates on a terminal.
PROGRESS_EVERY = 0.25


class ImageSource(Protocol):
    """Where the images' bytes come from: the local engine (LocalDocker) or a test's."""

    def save(self, references: Sequence[str]) -> AbstractContextManager[Iterator[bytes]]: ...


@dataclass(frozen=True)
class PushResult:
    """What a push did on one host, for a summary across hosts."""

    host: str
    sent: list[str] = field(default_factory=list)  # references loaded on the host
    skipped: list[str] = field(default_factory=list)  # already there with the same ID
    bytes_sent: int = 0  # on the wire (after gzip)
    bytes_read: int = 0  # as `docker save` wrote them
    seconds: float = 0.0  # streaming and loading

    @property
    def changed(self) -> bool:
        return bool(self.sent)


def missing_on_host(images: Sequence[LocalImage], ids: dict[str, str | None]) -> list[LocalImage]:
    """The images the host lacks: absent there, or that name is another image there."""
    return [image for image in images if ids.get(image.reference) != image.id]


def gzipped(chunks: Iterable[bytes], level: int = GZIP_LEVEL) -> Iterator[bytes]:
    """`chunks` as one gzip stream (what `gzip -N` writes), compressed as they come."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def load_timeout(expected_bytes: int) -> float:
    """How long the host's `docker load` may take: 10 minutes, plus a second per MB.

    A host that stops reading is caught sooner (Remote.feed's stall limit); this
    bounds a `docker load` that reads everything and then never finishes.
    """
    return 600.0 + math.ceil(expected_bytes / 1e6)


def human_bytes(count: float) -> str:
    """1234567 -> "1.2 MB" (decimal units, as docker prints image sizes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


class Transfer:
    """Bytes read from `docker save` and sent to the host, and how fast."""

    def __init__(self, expected: int, clock: Callable[[], float] | None = None) -> None:
        self.expected = expected  # about what `docker save` writes: the images' sizes
        self.read = 0
        self.sent = 0
        self._clock = clock or time.monotonic
        self.started = self._clock()
        self._shown = self.started

    def reading(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.read += len(chunk)
            yield chunk

    @property
    def seconds(self) -> float:
        return self._clock() - self.started

    def rate(self) -> str:
        return f"{human_bytes(self.sent / max(self.seconds, 1e-3))}/s"

    def due(self) -> bool:
        """True at most once per PROGRESS_EVERY seconds: when to redraw the progress line."""
        now = self._clock()
        if now - self._shown < PROGRESS_EVERY:
            return False
        self._shown = now
        return True

    def progress(self) -> str:
        """`12.3 MB sent (45%), 10.2 MB/s`: the share is of what docker save will write."""
        share = ""
        if self.expected > 0:
            share = f" ({min(99, int(100 * self.read / self.expected))}%)"
        return f"{human_bytes(self.sent)} sent{share}, {self.rate()}"

    def summary(self, compressed: bool) -> str:
        """`12.3 MB in 1.2s (10.2 MB/s)`, and the size before gzip when compressed."""
        text = f"{human_bytes(self.sent)} in {self.seconds:.1f}s ({self.rate()})"
        if compressed:
            text += f", gzip of {human_bytes(self.read)}"
        return text


def push_images(
    host: Host,
    images: list[LocalImage],
    compress: bool,
    *,
    source: ImageSource | None = None,
) -> PushResult:
    """Send the images the host lacks in one `docker save | docker load`; check the result."""
    source = source or LocalDocker()
    references = [image.reference for image in images]
    title = f"push {', '.join(references)}"
    if not images:
        host.note("push: none of the images is on this machine")
        return PushResult(host.name)
    with host.step(title) as line:
        wanted = missing_on_host(images, image_ids(host, references))
        skipped = [image.reference for image in images if image not in wanted]
        if not wanted:
            line.outcome = "unchanged: already there"
            return PushResult(host.name, skipped=skipped)
        names = [image.reference for image in wanted]
        expected = sum({image.id: image.size for image in wanted}.values())
        transfer = Transfer(expected)

        def progress(sent: int) -> None:
            transfer.sent = sent
            if transfer.due():
                host.progress(f"{title}: {transfer.progress()}")

        try:
            with source.save(names) as saved:
                chunks = transfer.reading(saved)
                host.remote.feed(
                    docker.load(),
                    gzipped(chunks) if compress else chunks,
                    timeout=load_timeout(expected),
                    on_progress=progress,
                )
        finally:
            host.progress(None)  # this host's part of the live line ends
        seconds = transfer.seconds
        check_loaded(host, wanted)
        line.outcome = transfer.summary(compress)
        if skipped:
            line.outcome += f"; already there: {', '.join(skipped)}"
        return PushResult(host.name, names, skipped, transfer.sent, transfer.read, seconds)


def image_ids(host: Host, references: Sequence[str]) -> dict[str, str | None]:
    """The ID each reference names on the host (None: no such image there)."""
    return parse_image_ids(host.remote.run(docker.image_ids(references)).stdout)


def check_loaded(host: Host, images: Sequence[LocalImage]) -> None:
    """Each image's name must now lead to its local ID on the host."""
    found = image_ids(host, [image.reference for image in images])
    wrong = [
        f"{image.reference} is {found.get(image.reference) or 'missing'}, not {image.id}"
        for image in images
        if found.get(image.reference) != image.id
    ]
    if wrong:
        raise StepFailed(
            f"`docker load` on {host.name} did not leave the images as sent: {'; '.join(wrong)}"
        )


def compose_images(text: str, local: LocalDocker) -> list[LocalImage]:
    """`leo deploy --push`: the compose file's images that this machine has.

    The others are left to the host (pulled from their registry by the deploy).
    """
    # A digest reference stays the registry's: save/load do not carry digests.
    pinned = (reference for reference in images_in_compose(text) if "@" not in reference)
    found = (local.find(reference) for reference in pinned)
    return [image for image in found if image is not None]


def live_images(host: Host, paths: AppPaths, local: LocalDocker) -> list[LocalImage]:
    """compose_images of the app's compose file on the host (a deploy with no --compose)."""
    text = read_file(host, paths.compose_file)
    if text is None:
        raise StepFailed(
            f"{paths.app} has no compose file on {host.name}: run `leo create` first, "
            "or pass --compose"
        )
    return compose_images(text, local)
