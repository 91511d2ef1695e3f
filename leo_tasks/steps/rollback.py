"""`leo rollback`: redeploy a recorded release, its compose file and exact images."""

from __future__ import annotations

from .. import composefile
from ..layout import AppPaths
from . import releases
from . import rotate as rotate_step
from .app import AppFiles
from .base import Host


def rollback(
    host: Host, paths: AppPaths, *, to: int | None = None, lock_wait: float = 0.0
) -> rotate_step.RotateResult:
    """Zero-downtime deploy of release `to` (default: see releases.rollback_target)."""
    history = releases.load(host, paths)
    release = releases.rollback_target(history, to)
    with host.step(f"compose file of release {release.number}") as line:
        pinned = composefile.pin_images(
            releases.compose_of(host, paths, release),
            releases.pinned_images(release),
            header=f"# Rollback to release {release.number} (images pinned by leo).\n",
        )
        line.outcome = "images pinned to their release tags"
    return rotate_step.rotate(
        host,
        paths,
        lock_wait=lock_wait,
        files=AppFiles(compose=pinned),
        note=f"rollback to release {release.number}",
        origin=release.source,
        rolled_back_from=history[-1].source if history else None,
    )


def current_release(host: Host, paths: AppPaths) -> int | None:
    """The number of the release the host serves (the newest recorded), if any."""
    history = releases.load(host, paths)
    return history[-1].number if history else None
