"""Releases: what each successful rotate deployed, and going back to one.

Each rotate records `.leo/releases/<N>.json` (time, who, the compose file's
hash, each service's image ID) with a copy of the compose file, and tags the
images (see `release_tag`), so a rollback finds them even after the original
tag moved or `docker image prune`. The tags are `leo/<app>/<service>:release-N`
(imagetags.py): valid for any name compose accepts, and one app's never
matches another's.

A rollback is recorded as a new release that names the release it went back
to (`origin`) and the one it left (`rolled_back_from`). The next rollback
skips both: rolling back twice goes further back, never forward again to the
release that was just rolled back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import composefile
from ..commands import docker, fs
from ..errors import StepFailed
from ..facts import Container
from ..imagetags import is_built_by_leo, is_release_tag, release_tag
from ..layout import AppPaths
from ..remote import Command, put_command, run_all
from .base import Host, read_file
from .lock import who

KEEP = 20  # releases kept (with their image tags) per app
SEPARATOR = "\x1e"  # between the files `load` reads in one command


@dataclass(frozen=True)
class Release:
    number: int
    time: str
    by: str
    compose_sha256: str
    services: dict[str, dict[str, Any]]  # name -> {image, image_id, tag (None: untagged)}
    note: str = ""
    origin: int = 0  # the release whose compose file and images this one runs
    rolled_back_from: int | None = None  # the origin a rollback left
    web: dict[str, Any] = field(default_factory=dict)  # {service, port, how} nginx served
    # service -> the image leo's override named for it (built here, or a rollback's
    # pin), running or not: a one-shot that had exited is not in `services`.
    supplied: dict[str, str] = field(default_factory=dict)

    @property
    def source(self) -> int:
        return self.origin or self.number


def releases_dir(paths: AppPaths) -> str:
    return f"{paths.state_dir}/releases"


@dataclass(frozen=True)
class History:
    releases: list[Release]  # oldest first
    highest: int  # the highest number used, even by a record that could not be read
    unreadable: list[str]  # "<file>: <why>"


def parse_history(text: str) -> History:
    """The output of `load`'s command: SEPARATOR, file name, newline, JSON; per file."""
    found: list[Release] = []
    problems: list[str] = []
    highest = 0
    for chunk in text.split(SEPARATOR)[1:]:
        name, _, body = chunk.partition("\n")
        stem = name.rsplit("/", 1)[-1].removesuffix(".json")
        if stem.isdigit():
            highest = max(highest, int(stem))
        try:
            raw = json.loads(body)
            known = {k: raw[k] for k in Release.__dataclass_fields__ if k in raw}
            release = Release(**known)
            if not isinstance(release.number, int) or not isinstance(release.services, dict):
                raise TypeError("number or services of the wrong type")
        except (ValueError, TypeError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        found.append(release)
        highest = max(highest, release.number)
    return History(sorted(found, key=lambda r: r.number), highest, problems)


def history_command(paths: AppPaths, *, sudo: bool = False) -> Command:
    """What `read_history` runs: every release record, each after a record separator."""
    return Command(
        [
            "sh",
            "-c",
            'for f in "$1"/*.json; do [ -e "$f" ] || continue; '
            'printf "\\036%s\\n" "$f"; cat -- "$f"; done; true',
            "sh",
            releases_dir(paths),
        ],
        check=False,
        sudo=sudo,
    )


def read_history(host: Host, paths: AppPaths, *, sudo: bool = False) -> History:
    [result] = run_all(host.remote, [history_command(paths, sudo=sudo)])
    history = parse_history(result.stdout)
    for problem in history.unreadable:
        host.note(f"skipping an unreadable release record: {problem}")
    return history


def load(host: Host, paths: AppPaths) -> list[Release]:
    return read_history(host, paths).releases


def record(
    host: Host,
    paths: AppPaths,
    compose_text: str,
    running: list[Container],
    images: dict[str, str],
    note: str = "",
    *,
    origin: int = 0,
    rolled_back_from: int | None = None,
    web: dict[str, Any] | None = None,
    supplied: dict[str, str] | None = None,
    history: History | None = None,
) -> Release:
    """Record the running release and tag its images.

    Runs after the switch: nothing here may fail the deploy for a reason that
    does not matter to what serves. A tag docker refuses is reported and
    left out (a rollback to this release then uses the image as named).
    `history`: the app's, when the caller read it under the deploy lock it still
    holds (no other run can have recorded a release since); else read here.
    """
    with host.step("record release") as line:
        history = history or read_history(host, paths)
        number = history.highest + 1
        services: dict[str, dict[str, Any]] = {}
        for container in running:
            if container.service not in services:
                services[container.service] = {
                    "image": images.get(container.service, ""),
                    "image_id": container.image,
                    "tag": release_tag(paths.app, container.service, number),
                }
        release = Release(
            number=number,
            time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            by=who(),
            compose_sha256=hashlib.sha256(compose_text.encode()).hexdigest(),
            services=services,
            note=note,
            origin=origin or number,
            rolled_back_from=rolled_back_from,
            web=web or {},
            supplied=dict(supplied or {}),
        )
        base = f"{releases_dir(paths)}/{number}"
        tagging = [
            Command(docker.tag(s["image_id"], s["tag"]), check=False) for s in services.values()
        ]
        # Two round trips: the tags (the record names only those docker made), then
        # the record and the pruning of the releases that no longer need keeping.
        untagged = []
        for (service, info), result in zip(
            services.items(), run_all(host.remote, tagging), strict=True
        ):
            if not result.ok:
                untagged.append(f"{service} ({result.stderr.strip() or result.exited})")
                info["tag"] = None
        run_all(
            host.remote,
            [
                Command(fs.mkdir(releases_dir(paths), mode=0o700)),
                put_command(compose_text, f"{base}.compose.yml", mode=0o600),
                put_command(_record_text(release), f"{base}.json", mode=0o600),
                *_prune(paths, history.releases, release),
            ],
            stop_at_failure=True,
        )
        line.outcome = f"release {number}" + (f" ({note})" if note else "")
        if untagged:
            line.details = [
                f"could not tag the image of {', '.join(untagged)} for rollbacks; a rollback "
                "to this release uses the image by its name"
            ]
    return release


def built_images(history: list[Release], app: str) -> list[str]:
    """The images `leo deploy --build` made for these releases (`leo-<app>-<service>:...`)."""
    found = [
        str(info.get("image") or "") for release in history for info in release.services.values()
    ]
    found += [ref for release in history for ref in release.supplied.values()]
    names = {name for release in history for name in [*release.services, *release.supplied]}
    return list(
        dict.fromkeys(
            ref for ref in found if any(is_built_by_leo(ref, app, name) for name in names)
        )
    )


def _in_use(releases: list[Release]) -> set[str]:
    """Every image reference these releases run or pin: what pruning must keep. After a
    rollback to release 3 the current release runs `leo/<app>/<service>:release-3`,
    which must outlive release 3's own record."""
    refs = {
        str(i.get(k) or "") for r in releases for i in r.services.values() for k in ("image", "tag")
    }
    return refs | {ref for r in releases for ref in r.supplied.values()}


def _record_text(release: Release) -> str:
    return json.dumps(asdict(release), indent=1)


def _prune(paths: AppPaths, previous: list[Release], current: Release) -> list[Command]:
    """The commands that remove the releases (records and image tags) beyond KEEP."""
    old = previous[: max(0, len(previous) + 1 - KEEP)]
    if not old:
        return []
    kept = _in_use([*previous[len(old) :], current])
    tags = [s["tag"] for r in old for s in r.services.values() if s.get("tag")]
    tags += built_images(old, paths.app)
    # A rollback release runs an earlier release's tag; once no kept release does, it goes.
    tags += [ref for ref in _in_use(old) if is_release_tag(ref, paths.app)]
    tags = [ref for ref in dict.fromkeys(tags) if ref not in kept]
    files = [
        f"{releases_dir(paths)}/{r.number}.{ext}" for r in old for ext in ("json", "compose.yml")
    ]
    untag = [Command(docker.remove_images(tags), check=False)] if tags else []
    return [*untag, Command(["rm", "-f", "--", *files])]


def compose_of(host: Host, paths: AppPaths, release: Release) -> str:
    text = read_file(host, f"{releases_dir(paths)}/{release.number}.compose.yml")
    if text is None:
        raise StepFailed(f"the compose file of release {release.number} is missing on {host.name}")
    return text


def pinned_images(release: Release, compose_text: str) -> dict[str, str]:
    """service -> the image a rollback to `release` runs: its own release tag (the exact
    image it ran); else the image leo's override named for it then (a one-shot built by
    `deploy --build` that had exited); else, for a service with `build:` that could not
    be tagged, the built image's name: the host has no build context to build from."""
    built = {s for s, spec in composefile.services_of(compose_text).items() if spec.get("build")}
    pins = dict(release.supplied)
    for name, info in release.services.items():
        if info.get("tag"):
            pins[name] = info["tag"]
        elif name in built and name not in pins and info.get("image"):
            pins[name] = info["image"]
    return pins


def describe(releases: list[Release]) -> list[str]:
    lines = []
    for index, release in enumerate(reversed(releases)):
        mark = "*" if index == 0 else " "
        images = ", ".join(
            f"{name}={info.get('image') or '?'}@{str(info.get('image_id', ''))[7:19]}"
            for name, info in sorted(release.services.items())
        )
        note = f"  ({release.note})" if release.note else ""
        lines.append(
            f"{mark} {release.number:>4}  {release.time}  {release.by:<24} "
            f"compose {release.compose_sha256[:12]}  {images}{note}"
        )
    return lines or ["no release recorded yet"]


def release_json(release: Release, *, current: bool) -> dict[str, Any]:
    """One release for --json: the record's facts, typed (see schemas/releases.schema.json)."""
    return {
        "number": release.number,
        "time": release.time,
        "current": current,
        "by": release.by,
        "compose_sha256": release.compose_sha256,
        # How it was made: a rollback runs an earlier release's files and images.
        "kind": "rollback" if release.source != release.number else "deploy",
        "origin": release.source,
        "rolled_back_from": release.rolled_back_from,
        "note": release.note or None,
        "services": {
            name: {
                "image": info.get("image") or None,
                "image_id": info.get("image_id") or None,
                "tag": info.get("tag") or None,
            }
            for name, info in sorted(release.services.items())
        },
        "supplied": dict(sorted(release.supplied.items())),
        "web": {
            "service": release.web.get("service"),
            "port": release.web.get("port"),
            "how": release.web.get("how"),
        }
        if release.web
        else None,
    }


def releases_json(releases: list[Release]) -> dict[str, Any]:
    """Every recorded release, newest first as `leo releases` lists them; the newest is
    current."""
    newest_first = list(reversed(releases))
    return {
        "current": newest_first[0].number if newest_first else None,
        "releases": [release_json(r, current=i == 0) for i, r in enumerate(newest_first)],
    }


def rollback_target(history: list[Release], to: int | None) -> Release:
    """Release `to`, or the newest earlier release that runs neither what is current
    nor anything a rollback already left."""
    if to is not None:
        for release in history:
            if release.number == to:
                return release
        known = ", ".join(str(r.number) for r in history) or "none"
        raise StepFailed(f"no release {to} recorded (known: {known})")
    if not history:
        raise StepFailed("there is no release to roll back from (none recorded)")
    current = history[-1]
    left = {r.rolled_back_from for r in history if r.rolled_back_from} | {current.source}
    for release in reversed(history[:-1]):
        if release.source not in left:
            return release
    raise StepFailed(
        f"there is no earlier release to roll back to: release {current.number} is current"
        + (
            f" and rollbacks already left {', '.join(map(str, sorted(left - {current.source})))}"
            if left - {current.source}
            else ""
        )
        + "; pick one with --to N (see `leo releases`)"
    )
