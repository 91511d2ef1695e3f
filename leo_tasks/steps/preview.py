"""`--dry-run` of deploy, rotate and rollback: what the run would change, from facts
read on the host, with nothing written there (no lock taken, no file uploaded).

The new compose file and leo's override are handed to compose through bash's
process substitution (commands/compose.with_files_from_stdin), never written on
the host. Compose resolves them as the deploy would (`config`), and its own dry
run of `up` says which containers it would recreate: their configuration (env
file values included) or their image changed. The web service (and
LEO_ROTATE_SERVICES) would still be replaced side by side; the preview says
whether that is with identical containers.

"Nothing to change" (exit 0) means: same files, same nginx site, and every
service's containers would come back with the same configuration and image.
Anything else is a change (exit DRY_RUN_CHANGES).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from .. import composefile, override, rotatable
from ..appsettings import AppSettings
from ..commands import compose
from ..commands.compose import Project
from ..errors import StepFailed
from ..facts import ComposeModel, Container, not_dry, parse_recreated
from ..layout import AppPaths
from . import lock, webport
from .app import AppFiles, WebSettings, exists, planned
from .base import Host, read_file
from .containers import compose_model, containers, redact_values
from .images import NO_PULL
from .push import image_ids
from .rotate import LEFTOVER_STATES, App


@dataclass
class Preview:
    """What a run would do on one host: lines to show, and whether anything changes."""

    lines: list[str] = field(default_factory=list)
    changes: bool = False

    def change(self, line: str) -> None:
        self.lines.append(line)
        self.changes = True

    def same(self, line: str) -> None:
        self.lines.append(line)


@dataclass(frozen=True)
class Brings:
    """What a deploy brings besides its files: images built or copied from here."""

    built: tuple[str, ...] = ()  # services `--build` would build (not built by a dry run)
    # image reference -> its ID here: what `--push` would copy over where the host's
    # image of that name is another (or none)
    pushed: dict[str, str] = field(default_factory=dict)


# The image a service `deploy --build` would build is not known before the build:
# the preview names it so, and counts the service as changed.
NOT_BUILT = "leo-dry-run/not-built:yet"
# A rotate leaves a service with a container in one of these states as it is.
UP = ("running", "paused", "restarting")
NOT_RUNNING = "none of its containers is running"


def deploy(
    host: Host, paths: AppPaths, files: AppFiles, brings: Brings = Brings(), *, title: str
) -> Preview:
    """The preview of a rotate with `files` (a deploy's or a rollback's; none: rotate)."""
    given = files.images
    if brings.built:
        given = {**(given or {}), **{s: NOT_BUILT for s in brings.built}}
    run = planned(host, paths, files, given=given, also=(paths.nginx_conf,))
    live, settings, compose_text, plan = run.live, run.settings, run.compose_text, run.plan
    if live[paths.compose_file] is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name} (leo create?)")
    out = Preview()
    out.same(title)
    _held(host, paths, out)
    _file_diff(out, "docker-compose.yml", live[paths.compose_file], compose_text)
    _file_diff(out, paths.override_file.rsplit("/", 1)[-1], live[paths.override_file], plan.text)
    if files.nginx_site is not None:
        _file_diff(out, "nginx.conf", live[paths.nginx_conf], files.nginx_site)
    for note in [*run.warnings, *plan.notes]:
        out.same(f"note: {note}")

    model = compose_model(host, Project.live(paths), texts=(compose_text, plan.text))
    rotatable.check(model, settings.web_service, settings.rotate_services)
    found = containers(host, paths.app)
    on_host = _image_ids(host, model, brings)
    _web_port(host, paths, model, settings, on_host, out)
    sent = _pushed(out, brings, on_host)
    # The IDs each image reference will name once the push is done.
    ids = {**on_host, **{ref: brings.pushed[ref] for ref in sent}}
    # Compose's verdict, for the services that have containers and whose image is here.
    known = sorted(
        name
        for name, spec in model.services.items()
        if on_host.get(spec.get("image", "")) and any(c.service == name for c in found)
    )
    recreated = _recreated(host, paths, compose_text, plan.text, known)
    _containers(out, model, found, settings, ids, recreated, sent=set(sent))
    if not out.changes:
        out.same("nothing to change: the deploy would run what runs now")
    return out


def _held(host: Host, paths: AppPaths, out: Preview) -> None:
    path = lock.lock_path(paths, "deploy")
    if lock.is_held(host, path):
        owner = (read_file(host, f"{path}.owner") or "").strip() or "unknown owner"
        out.same(f"note: the deploy lock is held ({owner}): the run would wait or fail")


def _file_diff(out: Preview, name: str, old: str | None, new: str) -> None:
    if old == new:
        out.same(f"{name}: unchanged")
        return
    if old is None:
        out.change(f"{name}: new ({len(new.splitlines())} lines)")
        return
    out.change(f"{name}: changed")
    diff = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "on the host", "after the deploy", lineterm=""
    )
    out.lines += [f"    {line}" for line in diff]


def _recreated(
    host: Host, paths: AppPaths, compose_text: str, override_text: str, services: list[str]
) -> set[str]:
    if not services:
        return set()
    argv, stdin = compose.with_files_from_stdin(
        paths, compose_text, override_text, *compose.dry_run_up(services)
    )
    result = host.remote.run(argv, stdin=stdin, check=False)
    if not result.ok:
        raise StepFailed(
            f"docker compose's dry run failed on {host.name}: "
            f"{redact_values(result.stderr.strip())}"
        )
    output = result.stdout + "\n" + result.stderr
    undry = [line for line in output.splitlines() if not_dry(line)]
    if undry:
        # docker/compose#14029: some versions really recreated containers in a dry run
        # of `up --detach` (leo never passes --detach), and said so without the marker.
        raise StepFailed(
            f"docker compose on {host.name} printed container actions without its "
            f"DRY-RUN MODE marker; it may have changed them: {undry[0].strip()}. "
            f"Check `leo status --app {paths.app}`"
        )
    return parse_recreated(output)


def _image_ids(host: Host, model: ComposeModel, brings: Brings) -> dict[str, str | None]:
    """The ID each image reference names on the host now (None: not there)."""
    refs = {spec["image"] for spec in model.services.values() if spec.get("image")}
    refs = sorted((refs | set(brings.pushed)) - {NOT_BUILT})
    return image_ids(host, refs) if refs else {}


def _web_port(
    host: Host,
    paths: AppPaths,
    model: ComposeModel,
    settings: AppSettings,
    on_host: dict[str, str | None],
    out: Preview,
) -> None:
    """The port nginx would use, found as a rotate finds it: an image that EXPOSEs
    several ports is refused here as the rotate refuses it (exit 2)."""
    image = str((model.services.get(settings.web_service) or {}).get("image") or "")
    if settings.web_port is None and not on_host.get(image):
        out.same("web port: read from the web image's EXPOSE once it is on the host")
        return
    app = webport.resolve(host, App(Project.live(paths), model, settings))
    out.same(f"web port: {app.web_port} ({app.port_found})")


def _pushed(out: Preview, brings: Brings, on_host: dict[str, str | None]) -> list[str]:
    """The images `--build`/`--push` would send: those the host has not, by ID."""
    if brings.built:
        out.change(
            f"build here: {', '.join(brings.built)} (not built by a dry run; their new "
            "images are sent to the host and replace what runs)"
        )
    send = [ref for ref, image_id in brings.pushed.items() if on_host.get(ref) != image_id]
    if send:
        out.change(f"push: {', '.join(send)}")
    elif brings.pushed:
        out.same(f"push: nothing to send, the host has {', '.join(brings.pushed)}")
    return send


def _containers(
    out: Preview,
    model: ComposeModel,
    found: list[Container],
    settings: AppSettings,
    ids: dict[str, str | None],
    recreated: set[str],
    *,
    sent: set[str],
) -> None:
    """Each service's fate. `ids`: the ID each image reference will name (after the
    push); `recreated`: the containers compose's dry run of `up` would recreate."""
    web = settings.web_service
    rotated = (web, *[s for s in settings.rotate_services if s in model.services])
    release_phase = model.release_phase(rotated)
    pulled: list[str] = []
    missing: list[str] = []
    for name, spec in sorted(model.services.items()):
        ref = spec.get("image", "")
        # Images `--push` sends are neither pulled nor missing.
        if ref and ref != NOT_BUILT and ref not in sent and ids.get(ref) is None:
            if spec.get("pull_policy", "always") in NO_PULL:
                missing.append(f"{name} ({ref})")
            else:
                pulled.append(f"{name} ({ref})")
    if pulled:
        out.change(f"pull: {', '.join(pulled)}: not on the host yet")
    if missing:
        out.change(
            f"missing: {', '.join(missing)}: not on the host and never pulled; "
            "the deploy would fail (`leo push`, or deploy with --push/--build)"
        )

    def verdict(service: str) -> tuple[list[Container], str]:
        """The service's containers now, and why they would change ('' = they would not)."""
        spec = model.services[service]
        mine = [c for c in found if c.service == service]
        ref = spec.get("image", "")
        image_id = ids.get(ref)
        if not mine:
            return mine, "new"
        if ref == NOT_BUILT:
            return mine, "a new build"
        if image_id is None or any(c.image != image_id for c in mine):
            return mine, f"new image {ref}"
        if any(c.name in recreated for c in mine):
            return mine, "its configuration changed"
        if service in rotated:
            if any(c.status in LEFTOVER_STATES for c in mine):
                return mine, "containers a failed run left behind are removed"
            if len([c for c in mine if c.running]) != model.replicas(service):
                return mine, f"{model.replicas(service)} replicas instead of {len(mine)}"
        elif service not in release_phase and not any(c.status in UP for c in mine):
            # A rotate starts a service none of whose containers is up (a crashed worker).
            return mine, NOT_RUNNING
        return mine, ""

    running_web = [c for c in found if c.service == web and c.running]
    if not running_web:
        out.change(
            "first deploy: start every service ("
            + ", ".join(sorted(model.services))
            + f"), then point nginx at the {web} containers"
        )
    else:
        for service in rotated:
            old, why = verdict(service)
            count = model.replicas(service)
            names = ", ".join(c.name for c in old) or "none"
            if why:
                out.change(
                    f"{service}: start {count} new beside the old ones ({why}), "
                    + ("point nginx at them, " if service == web else "")
                    + f"then retire {names}"
                )
            else:
                out.same(
                    f"{service}: unchanged (a rotate would replace {names} with identical "
                    "containers)"
                )
        for service in release_phase:
            _, why = verdict(service)
            line = f"release phase: {service} runs to completion"
            if why:
                out.change(f"{line} ({why})")
            else:
                out.same(f"{line} (same configuration and image as last time)")
        for service in sorted(model.services):
            if service in rotated or service in release_phase:
                continue
            mine, why = verdict(service)
            if why == "new":
                out.change(f"{service}: start (new in the compose file)")
            elif why == NOT_RUNNING:
                out.change(f"{service}: start {', '.join(c.name for c in mine)} ({why})")
            elif why:
                out.change(f"{service}: recreate {', '.join(c.name for c in mine)} ({why})")
            else:
                out.same(f"{service}: unchanged")
    dropped = sorted({c.service for c in found if c.service not in model.services})
    for service in dropped:
        names = ", ".join(c.name for c in found if c.service == service)
        out.change(f"{service}: remove {names} (no longer in the compose file)")


def create(
    host: Host, paths: AppPaths, files: AppFiles, domains: list[str], web: WebSettings
) -> Preview:
    """The preview of `leo create`: what it would write, if the app does not exist yet."""
    if exists(host, paths):
        raise StepFailed(
            f"app {paths.app!r} already exists on {host.name} "
            f"({paths.dir}); use `leo deploy` to update it"
        )
    compose_text = files.compose or ""
    services = composefile.services_of(compose_text, "the compose file")
    out = Preview()
    out.change(f"create app {paths.app} in {paths.dir}:")
    out.change(f"  docker-compose.yml: {len(compose_text.splitlines())} lines, as you gave it")
    out.change(f"  {paths.override_file.rsplit('/', 1)[-1]}: leo's override for {web.service}")
    settings = [line.split("=", 1)[0] for line in web.env_text().splitlines() if "=" in line]
    out.change(f"  env: {', '.join(settings) if settings else 'empty'}")
    site = "yours" if files.nginx_site is not None else "generated"
    out.change(f"  nginx.conf ({site}) serving {' '.join(domains)}, then nginx -t and a reload")
    # The override is rendered as create would: a web service it cannot serve is refused now.
    override.render(services, web.service, {})
    for warning in files.warnings:
        out.same(f"note: {warning}")
    return out


def env_edit(title: str, changed: bool, what: str) -> Preview:
    """The preview of env.set/env.del/env.push: names only, never a value."""
    out = Preview()
    out.same(title)
    if changed:
        out.change(f"env: would {what} (applies on the next rotate)")
    else:
        out.same("env: nothing to change")
    return out
