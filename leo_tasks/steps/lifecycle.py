"""`leo start`, `leo stop`, `leo run`: the app's containers by hand, nginx kept in sync."""

from __future__ import annotations

from ..commands import compose
from ..layout import WEB_SERVICE, AppPaths
from . import lock
from . import rotate as rotate_step
from .base import Host
from .containers import containers
from .health import web_policy


def start(host: Host, paths: AppPaths) -> None:
    """Start a stopped app; container addresses change across restarts, so re-sync nginx."""
    _, settings = rotate_step.load_app(host, paths)
    if not containers(host, paths.app, WEB_SERVICE):
        host.note("nothing deployed yet: doing a first deploy")
        rotate_step.rotate(host, paths)
        return
    with lock.held(host, paths, "deploy", purpose="start"):
        with host.step("start containers"):
            host.remote.run(compose.start(paths))
        web = [c.id for c in containers(host, paths.app, WEB_SERVICE) if c.running]
        ready = rotate_step.await_ready(
            host, paths, web, web_policy(settings), remove_on_failure=False
        )
        rotate_step.switch_upstream(host, paths, ready)


def stop(host: Host, paths: AppPaths) -> None:
    rotate_step.load_app(host, paths)
    with lock.held(host, paths, "deploy", purpose="stop"):
        with host.step("stop containers"):
            host.remote.run(compose.stop(paths))
        # nginx must not keep pointing at stopped containers' (reusable) addresses.
        rotate_step.switch_upstream(host, paths, [])


def run(host: Host, paths: AppPaths, service: str, command: str, *, tty: bool) -> int:
    """A one-off container removed afterwards; returns the command's exit status."""
    rotate_step.load_app(host, paths)
    return host.remote.interactive(compose.run(paths, service, command, tty=tty), pty=tty)
