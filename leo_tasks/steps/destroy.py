"""Removing one app from a host (`leo destroy`), also used app by app by `leo implode`."""

from __future__ import annotations

import secrets

from ..commands import docker, fs
from ..errors import CommandFailed
from ..facts import parse_ids
from ..layout import APPS_DIR, CHOWN_HELPER, AppPaths
from . import lock, nginx, releases, tls
from .base import Host


def remove_docker_objects(
    host: Host, app: str, *, volumes: bool, sudo: bool, tags: list[str] = ()
) -> str:
    """Containers (one-offs included), networks, the given rollback tags (and volumes if
    asked) of one compose project."""
    run = host.remote.run
    ids = parse_ids(run(docker.project_containers(app), sudo=sudo).stdout)
    if ids:
        run(docker.remove(ids), sudo=sudo)
    nets = parse_ids(run(docker.project_networks(app), sudo=sudo).stdout)
    if nets:
        run(docker.remove_networks(nets), sudo=sudo, check=False)
    tags = list(dict.fromkeys(tags))
    if tags:
        run(docker.remove_images(tags), sudo=sudo, check=False)
    vols = parse_ids(run(docker.project_volumes(app), sudo=sudo).stdout) if volumes else []
    if vols:
        run(docker.remove_volumes(vols), sudo=sudo)
    kept = f", {len(vols)} volumes" if volumes else " (volumes kept)"
    return f"{len(ids)} containers, {len(nets)} networks, {len(tags)} image tags{kept}"


def release_tags(host: Host, paths: AppPaths, *, sudo: bool = False) -> list[str]:
    """The app's own rollback tags: the ones its release records name (tags made before
    the `leo/<app>/...` scheme included), and any `leo/<app>/*` tag a lost record left;
    and the images `leo deploy --build` made for its releases."""
    history = releases.read_history(host, paths, sudo=sudo).releases
    recorded = [s["tag"] for r in history for s in r.services.values() if s.get("tag")]
    recorded += releases.built_images(history, paths.app)
    listed = parse_ids(host.remote.run(docker.release_tags(paths.app), sudo=sudo).stdout)
    return list(dict.fromkeys([*recorded, *listed]))


def destroy(host: Host, paths: AppPaths, *, volumes: bool) -> None:
    with lock.held(host, paths, "deploy", purpose="destroy"):
        with host.step(f"remove {paths.app}'s containers") as line:
            tags = release_tags(host, paths)
            line.outcome = remove_docker_objects(
                host, paths.app, volumes=volumes, sudo=False, tags=tags
            )
        with host.step(f"remove {paths.dir}") as line:
            # Out of nginx's include glob first (a rename nginx can be put back
            # from if it refuses), then deleted.
            aside = f"{APPS_DIR}/.destroyed-{paths.app}-{secrets.token_hex(3)}"
            with nginx.transaction(
                host, failing=f"nginx -t fails on {host.name} without the site of {paths.app}"
            ) as txn:
                host.remote.run(["mv", "-T", "--", paths.dir, aside])
                txn.do_undo(
                    f"move {aside} back",
                    lambda: host.remote.run(["mv", "-T", "--", aside, paths.dir]),
                )
            remove_tree(host, aside)
            line.outcome = "removed, nginx reloaded"
        if tls.unschedule(host, paths):
            host.note("removed the app's certificate renewal from the crontab")


def remove_tree(host: Host, path: str) -> None:
    """`rm -rf`, after giving leo-deploy's home back to it when containers running as
    root wrote files there (bind mounts): that is what the chown helper is for."""
    try:
        host.remote.run(fs.remove_tree(path))
    except CommandFailed:
        host.remote.run([CHOWN_HELPER], sudo=True, timeout=600)
        host.remote.run(fs.remove_tree(path))
