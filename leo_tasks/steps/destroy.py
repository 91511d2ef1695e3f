"""Removing one app from a host (`leo destroy`), also used app by app by `leo implode`."""

from __future__ import annotations

from ..commands import docker, fs
from ..facts import parse_ids
from ..layout import AppPaths
from . import lock, nginx, tls
from .base import Host


def remove_docker_objects(host: Host, app: str, *, volumes: bool, sudo: bool) -> str:
    """Containers, networks, rollback tags (and volumes if asked) of one compose project."""
    run = host.remote.run
    ids = parse_ids(run(docker.project_containers(app), sudo=sudo).stdout)
    if ids:
        run(docker.remove(ids), sudo=sudo)
    nets = parse_ids(run(docker.project_networks(app), sudo=sudo).stdout)
    if nets:
        run(docker.remove_networks(nets), sudo=sudo, check=False)
    tags = parse_ids(run(docker.release_tags(app), sudo=sudo).stdout)
    if tags:
        run(docker.remove_images(tags), sudo=sudo, check=False)
    vols = parse_ids(run(docker.project_volumes(app), sudo=sudo).stdout) if volumes else []
    if vols:
        run(docker.remove_volumes(vols), sudo=sudo)
    kept = f", {len(vols)} volumes" if volumes else " (volumes kept)"
    return f"{len(ids)} containers, {len(nets)} networks, {len(tags)} release tags{kept}"


def destroy(host: Host, paths: AppPaths, *, volumes: bool) -> None:
    with lock.held(host, paths, "deploy", purpose="destroy"):
        with host.step(f"remove {paths.app}'s containers") as line:
            line.outcome = remove_docker_objects(host, paths.app, volumes=volumes, sudo=False)
        with host.step(f"remove {paths.dir}") as line:
            host.remote.run(fs.remove_tree(paths.dir))
            # The site is gone from nginx's include glob: test, then reload once.
            nginx.test(host, failing=f"nginx -t fails on {host.name} after removing the site")
            nginx.reload(host)
            line.outcome = "removed, nginx reloaded"
        if tls.unschedule(host, paths):
            host.note("removed the app's certificate renewal from the crontab")
