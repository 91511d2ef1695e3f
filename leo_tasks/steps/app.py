"""`leo create` and the staging half of `leo deploy`: the app's files on the host.

Files are validated on the client first; nothing reaches the host unless all
of them are acceptable, and a new app appears in one rename.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .. import templates
from ..commands import fs
from ..commands.compose import Project
from ..errors import StepFailed
from ..layout import APPS_DIR, AppPaths
from . import nginx
from .base import Host, read_file


@dataclass(frozen=True)
class AppFiles:
    """What the client brings: already validated compose text, optional nginx site."""

    compose: str | None = None
    nginx_site: str | None = None
    warnings: list[str] = field(default_factory=list)


def exists(host: Host, paths: AppPaths) -> bool:
    return host.remote.run(fs.exists(paths.dir), check=False).ok


def create(host: Host, paths: AppPaths, files: AppFiles, domains: list[str]) -> None:
    with host.step(f"create app {paths.app}") as line:
        if exists(host, paths):
            raise StepFailed(
                f"app {paths.app!r} already exists on {host.name} "
                f"({paths.dir}); use `leo deploy` to update it"
            )
        # Build the app in a hidden directory (nginx's `*` does not match dot
        # names), then rename it into place: it appears whole or not at all.
        staging = AppPaths(f".new-{paths.app}-{secrets.token_hex(3)}")
        run = host.remote.run
        run(fs.mkdir(staging.dir, mode=0o711))
        try:
            for sub, mode in (
                (staging.state_dir, 0o700),
                (staging.letsencrypt_dir, 0o755),
                (staging.webroot, 0o755),
            ):
                run(fs.mkdir(sub, mode=mode))
            site = files.nginx_site or templates.app_site(paths, domains)
            put = host.remote.put
            put((files.compose or "").encode(), staging.compose_file, mode=0o640)
            put(b"", staging.env_file, mode=0o600)
            put(templates.upstream(paths, []).encode(), staging.upstream_conf, mode=0o644)
            put(templates.tls(paths).encode(), staging.tls_conf, mode=0o644)
            put(site.encode(), staging.nginx_conf, mode=0o644)
            # The rename is an nginx change (the include glob now matches the
            # site): under the host's nginx lock, tested, reloaded and confirmed,
            # or undone.
            with nginx.transaction(
                host,
                failing=f"nginx -t rejected the new app's site on {host.name}; "
                "the app was not created",
            ) as txn:
                run(["mv", "-T", "--", staging.dir, paths.dir])
                txn.do_undo(f"remove {paths.dir}", lambda: run(fs.remove_tree(paths.dir)))
        except BaseException:
            run(fs.remove_tree(staging.dir), check=False)
            raise
        line.outcome = f"created {paths.dir}, serving {' '.join(domains)}"
        line.details = files.warnings


def stage(host: Host, paths: AppPaths, files: AppFiles) -> Project:
    """The compose project a deploy runs with: the live file, or the new one uploaded as
    a candidate that replaces it only when the deploy succeeds. A new nginx site is
    tried (`nginx -t`) and put back at once; the switch installs it with the upstream.

    Called under the app's deploy lock (see rotate.rotate).
    """
    project = Project.live(paths)
    if files.compose is not None:
        with host.step("upload docker-compose.yml") as line:
            if read_file(host, paths.compose_file) == files.compose:
                line.outcome = "unchanged"
            else:
                host.remote.put(files.compose.encode(), paths.candidate_compose_file, mode=0o640)
                project = Project(paths, paths.candidate_compose_file)
                line.outcome = "changed (it replaces the current one once the deploy works)"
            line.details = files.warnings
    if files.nginx_site is not None:
        with host.step("check nginx.conf") as line:
            tried = nginx.try_out(
                host,
                [nginx.FileChange(paths.nginx_conf, files.nginx_site)],
                failing=f"nginx -t rejects the new nginx.conf of {paths.app} on {host.name}",
            )
            line.outcome = "accepted by nginx -t" if tried else "unchanged"
    return project


def list_apps(host: Host, *, sudo: bool = False) -> list[str]:
    result = host.remote.run(fs.list_dir(APPS_DIR), sudo=sudo, check=False)
    return sorted(n for n in result.stdout.split() if not n.startswith(".")) if result.ok else []
