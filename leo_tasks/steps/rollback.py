"""`leo rollback`: redeploy a recorded release, its compose file and exact images.

The release's compose file goes back byte for byte; its images are pinned in
leo's override (override.py) to the tags the release recorded.
"""

from __future__ import annotations

from ..layout import AppPaths
from . import releases
from . import rotate as rotate_step
from .app import AppFiles
from .base import Host


def rollback(
    host: Host, paths: AppPaths, *, to: int | None = None, lock_wait: float = 0.0
) -> rotate_step.RotateResult:
    """Zero-downtime deploy of release `to` (default: see releases.rollback_target)."""
    history, release, files = target(host, paths, to)
    return rotate_step.rotate(
        host,
        paths,
        lock_wait=lock_wait,
        files=files,
        note=f"rollback to release {release.number}",
        origin=release.source,
        rolled_back_from=history[-1].source if history else None,
    )


def target(
    host: Host, paths: AppPaths, to: int | None
) -> tuple[list[releases.Release], releases.Release, AppFiles]:
    """The recorded releases, the one to go back to, and the files that bring it back:
    its compose file as it was, its images pinned in leo's override."""
    history = releases.load(host, paths)
    release = releases.rollback_target(history, to)
    with host.step(f"compose file of release {release.number}") as line:
        compose_text = releases.compose_of(host, paths, release)
        pins = releases.pinned_images(release, compose_text)
        line.outcome = "as it was; leo's override pins " + (
            ", ".join(f"{s}={ref}" for s, ref in sorted(pins.items())) or "no image"
        )
    return history, release, AppFiles(compose=compose_text, images=pins)


def current_release(host: Host, paths: AppPaths) -> int | None:
    """The number of the release the host serves (the newest recorded), if any."""
    history = releases.load(host, paths)
    return history[-1].number if history else None
