"""`leo start`, `leo stop`, `leo run`: the app's containers by hand, nginx kept in sync."""

from __future__ import annotations

from ..commands import compose
from ..errors import LeoError, StepFailed, UndoFailed, annotated
from ..layout import WEB_PORT, AppPaths
from . import lock, webport
from . import rotate as rotate_step
from .base import Host
from .containers import containers
from .serving import await_ready, restored_message, switch_upstream


def start(host: Host, paths: AppPaths) -> None:
    """Start a stopped app; container addresses change across restarts, so re-sync nginx.

    Fails (and leaves nginx as it was) unless every web container is running and ready.
    """
    app = rotate_step.load_app(host, paths)
    if not containers(host, paths.app, app.web):
        host.note("nothing deployed yet: doing a first deploy")
        rotate_step.rotate(host, paths)
        return
    with lock.held(host, paths, "deploy", purpose="start"):
        before = containers(host, paths.app)
        try:
            with host.step("start containers"):
                host.remote.run(compose.start(app.project), timeout=app.settings.command_timeout)
            web = containers(host, paths.app, app.web)
            expected = app.model.replicas(app.web)
            if len(web) < expected:
                raise StepFailed(
                    f"{len(web)} {app.web} containers exist on {host.name}, {expected} expected: "
                    f"`leo rotate --app {paths.app}` creates them"
                )
            app = webport.resolve(host, app)
            ready = await_ready(host, [c.id for c in web], app.web_policy())
            switch_upstream(host, paths, ready, networks=app.networks, port=app.web_port)
        except LeoError as exc:
            if isinstance(exc, UndoFailed):
                raise
            serving = any(c.running and c.service == app.web for c in before)
            outcome = restored_message(host, paths.app, before, serving=serving)
            raise annotated(exc, outcome) from exc


def stop(host: Host, paths: AppPaths) -> None:
    app = rotate_step.load_app(host, paths, rotating=False)
    with lock.held(host, paths, "deploy", purpose="stop"):
        with host.step("stop containers"):
            host.remote.run(compose.stop(app.project), timeout=app.settings.command_timeout)
        # nginx must not keep pointing at stopped containers' (reusable) addresses.
        # (No server is written: the port does not matter.)
        switch_upstream(host, paths, [], port=app.settings.web_port or WEB_PORT)


def run(host: Host, paths: AppPaths, service: str | None, command: str, *, tty: bool) -> int:
    """A one-off container removed afterwards; returns the command's exit status.
    `service` None: the app's web service."""
    app = rotate_step.load_app(host, paths, rotating=False)
    argv = compose.run(app.project, service or app.web, command, tty=tty)
    return host.remote.interactive(argv, pty=tty)
