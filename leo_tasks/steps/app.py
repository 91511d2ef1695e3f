"""`leo create` and the staging half of `leo deploy`: the app's files on the host.

Files are validated on the client first; nothing reaches the host unless all
of them are acceptable, and a new app appears in one rename. The app's
settings (its web service and port) go into its env file; leo's compose
override (override.py) is written beside the user's compose file.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .. import composefile, override, templates
from ..appsettings import WEB_PORT_SETTING, WEB_SERVICE_SETTING, AppSettings
from ..commands import fs
from ..commands.compose import Project
from ..envfile import EnvFile
from ..errors import StepFailed
from ..layout import APPS_DIR, WEB_SERVICE, AppPaths
from . import nginx
from .base import Host, read_files


@dataclass(frozen=True)
class AppFiles:
    """What the client brings: already validated compose text, optional nginx site."""

    compose: str | None = None
    nginx_site: str | None = None
    warnings: list[str] = field(default_factory=list)
    # service -> the image leo supplies for it: built here (`deploy --build`) or a
    # release's own tag (rollback). None: what the host's override already names.
    images: dict[str, str] | None = None


@dataclass(frozen=True)
class WebSettings:
    """`leo create --web-service/--port`: kept in the app's env file (LEO_WEB_*)."""

    service: str = WEB_SERVICE
    port: int | None = None

    def env_text(self) -> str:
        env = EnvFile.parse("")
        if self.service != WEB_SERVICE:
            env.set(WEB_SERVICE_SETTING, self.service)
        if self.port is not None:
            env.set(WEB_PORT_SETTING, str(self.port))
        return env.render()


def exists(host: Host, paths: AppPaths) -> bool:
    return host.remote.run(fs.exists(paths.dir), check=False).ok


def create(
    host: Host, paths: AppPaths, files: AppFiles, domains: list[str], web: WebSettings
) -> None:
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
            compose = files.compose or ""
            services = composefile.services_of(compose, "the compose file")
            put(compose.encode(), staging.compose_file, mode=0o640)
            overrides = override.render(services, web.service, {})
            put(overrides.encode(), staging.override_file, mode=0o640)
            put(web.env_text().encode(), staging.env_file, mode=0o600)
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


@dataclass(frozen=True)
class Staged:
    """What one rotate runs: the compose project (live files or candidates) and the
    app's settings, read under its locks."""

    project: Project
    settings: AppSettings
    images: dict[str, str]  # service -> the image leo supplies (the override's)


@dataclass(frozen=True)
class Planned:
    """What a rotate with `files` would run, worked out from the app's files on the
    host (a deploy stages it, a dry run shows it)."""

    live: dict[str, str | None]  # the app's files as read (None: absent)
    settings: AppSettings
    compose_text: str
    plan: override.Plan
    warnings: list[str]  # about a new compose file, for this app's web service


def planned(
    host: Host,
    paths: AppPaths,
    files: AppFiles,
    *,
    given: dict[str, str] | None,
    also: tuple[str, ...] = (),
) -> Planned:
    """Read the app's env, compose and override files (and `also`) in one round trip;
    the compose text this run uses and leo's override for it (`given`: the images it
    supplies, see override.plan)."""
    live = read_files(host, [paths.env_file, paths.compose_file, paths.override_file, *also])
    # The env file first: leo's parser names a bad line without its value;
    # compose's error would quote the value (a secret) in a CI log.
    settings = AppSettings.from_env(EnvFile.parse(live[paths.env_file] or "").values())
    compose_text = files.compose if files.compose is not None else live[paths.compose_file]
    if compose_text is None:
        raise StepFailed(f"app {paths.app!r} has no compose file on {host.name} (leo create?)")
    warnings = files.warnings
    if files.compose is not None:  # checked on the client, but not for this app's web service
        warnings = [
            *warnings,
            *composefile.check(compose_text, web=settings.web_service).warnings,
        ]
    plan = override.plan(
        compose_text,
        settings.web_service,
        given=given,
        live_override=live[paths.override_file],
        new_file=files.compose is not None,
    )
    return Planned(live, settings, compose_text, plan, warnings)


def stage(host: Host, paths: AppPaths, files: AppFiles, uploaded: list[str]) -> Staged:
    """The compose project a deploy runs with: the live files, or new ones uploaded as
    candidates that replace them only when the deploy succeeds. leo's override is
    rewritten for this run (the web service may have changed, a build brought new
    images). A new nginx site is tried (`nginx -t`) and put back at once; the switch
    installs it with the upstream.

    Each candidate file's path is added to `uploaded` before it is written, so that
    the caller removes it whatever happens next (this function failing included).
    Called under the app's deploy and env locks (see rotate.rotate).
    """
    run = planned(host, paths, files, given=files.images)
    live, settings, plan, warnings = run.live, run.settings, run.plan, run.warnings
    compose_file, override_file = paths.compose_file, paths.override_file
    if files.compose is not None:
        with host.step("upload docker-compose.yml") as line:
            if live[paths.compose_file] == files.compose:
                line.outcome = "unchanged"  # its warnings were shown when it was new
            else:
                uploaded.append(paths.candidate_compose_file)
                host.remote.put(files.compose.encode(), paths.candidate_compose_file, mode=0o640)
                compose_file = paths.candidate_compose_file
                line.outcome = "changed (it replaces the current one once the deploy works)"
                line.details = warnings
    if plan.text != live[paths.override_file]:
        with host.step(f"write {paths.override_file.rsplit('/', 1)[-1]}") as line:
            uploaded.append(paths.candidate_override_file)
            host.remote.put(plan.text.encode(), paths.candidate_override_file, mode=0o640)
            override_file = paths.candidate_override_file
            line.outcome = _describe_images(plan.images) + " (in place once the deploy works)"
            line.details = plan.notes
    elif plan.notes:
        for note in plan.notes:
            host.note(note)
    if files.nginx_site is not None:
        with host.step("check nginx.conf") as line:
            tried = nginx.try_out(
                host,
                [nginx.FileChange(paths.nginx_conf, files.nginx_site)],
                failing=f"nginx -t rejects the new nginx.conf of {paths.app} on {host.name}",
            )
            line.outcome = "accepted by nginx -t" if tried else "unchanged"
    return Staged(Project(paths, compose_file, override_file), settings, plan.images)


def _describe_images(images: dict[str, str]) -> str:
    if not images:
        return "changed"
    return "images: " + ", ".join(f"{s}={ref}" for s, ref in sorted(images.items()))


def list_apps(host: Host, *, sudo: bool = False) -> list[str]:
    result = host.remote.run(fs.list_dir(APPS_DIR), sudo=sudo, check=False)
    return sorted(n for n in result.stdout.split() if not n.startswith(".")) if result.ok else []
