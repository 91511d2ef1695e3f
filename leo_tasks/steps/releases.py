"""Releases: what each successful rotate deployed, and going back to one.

Each rotate records `.leo/releases/<N>.json` (time, who, the compose file's
hash, each service's image ID and registry digests) with a copy of the
compose file, and tags the images `leo-<app>-<service>:release-<N>`, so a
rollback finds them even after the original tag moved or `docker image prune`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from ..commands import docker, fs
from ..errors import StepFailed
from ..facts import Container
from ..layout import AppPaths
from .base import Host, read_file
from .lock import who

KEEP = 20  # releases kept (with their image tags) per app


@dataclass(frozen=True)
class Release:
    number: int
    time: str
    by: str
    compose_sha256: str
    services: dict[str, dict[str, Any]]  # name -> {image, image_id, tag}
    note: str = ""


def releases_dir(paths: AppPaths) -> str:
    return f"{paths.state_dir}/releases"


def release_tag(app: str, service: str, number: int) -> str:
    return f"leo-{app}-{service}:release-{number}"


def parse_releases(text: str) -> list[Release]:
    """Concatenated release JSON documents -> releases, oldest first."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    text = text.strip()
    while index < len(text):
        raw, end = decoder.raw_decode(text, index)
        found.append(Release(**raw))
        index = end
        while index < len(text) and text[index].isspace():
            index += 1
    return sorted(found, key=lambda r: r.number)


def load(host: Host, paths: AppPaths) -> list[Release]:
    result = host.remote.run(
        [
            "sh",
            "-c",
            'for f in "$1"/*.json; do [ -e "$f" ] && cat "$f"; done; true',
            "sh",
            releases_dir(paths),
        ],
        check=False,
    )
    return parse_releases(result.stdout)


def record(
    host: Host,
    paths: AppPaths,
    compose_text: str,
    running: list[Container],
    images: dict[str, str],
    note: str = "",
) -> Release:
    """Record the running release and tag its images."""
    with host.step("record release") as line:
        previous = load(host, paths)
        number = (previous[-1].number + 1) if previous else 1
        services: dict[str, dict[str, Any]] = {}
        for container in running:
            if container.service in services:
                continue
            tag = release_tag(paths.app, container.service, number)
            host.remote.run(docker.tag(container.image, tag))
            services[container.service] = {
                "image": images.get(container.service, ""),
                "image_id": container.image,
                "tag": tag,
            }
        release = Release(
            number=number,
            time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            by=who(),
            compose_sha256=hashlib.sha256(compose_text.encode()).hexdigest(),
            services=services,
            note=note,
        )
        base = f"{releases_dir(paths)}/{number}"
        host.remote.run(fs.mkdir(releases_dir(paths), mode=0o700))
        host.remote.put(compose_text.encode(), f"{base}.compose.yml", mode=0o600)
        host.remote.put(json.dumps(release.__dict__, indent=1).encode(), f"{base}.json", mode=0o600)
        _prune(host, paths, previous)
        line.outcome = f"release {number}" + (f" ({note})" if note else "")
    return release


def _prune(host: Host, paths: AppPaths, previous: list[Release]) -> None:
    old = previous[: max(0, len(previous) + 1 - KEEP)]
    if not old:
        return
    tags = [s["tag"] for r in old for s in r.services.values()]
    host.remote.run(docker.remove_images(tags), check=False)
    files = [
        f"{releases_dir(paths)}/{r.number}.{ext}" for r in old for ext in ("json", "compose.yml")
    ]
    host.remote.run(["rm", "-f", "--", *files])


def pinned_compose(host: Host, paths: AppPaths, release: Release) -> str:
    """The release's compose file with every recorded service pinned to its release tag."""
    text = read_file(host, f"{releases_dir(paths)}/{release.number}.compose.yml")
    if text is None:
        raise StepFailed(f"the compose file of release {release.number} is missing on {host.name}")
    doc = yaml.safe_load(text)
    for name, info in release.services.items():
        if name in doc.get("services", {}):
            doc["services"][name]["image"] = info["tag"]
            doc["services"][name]["pull_policy"] = "never"
    header = f"# Rollback to release {release.number} (images pinned by leo).\n"
    return header + yaml.safe_dump(doc, sort_keys=False)


def describe(releases: list[Release]) -> list[str]:
    lines = []
    for index, release in enumerate(reversed(releases)):
        mark = "*" if index == 0 else " "
        images = ", ".join(
            f"{name}={info['image'] or '?'}@{info['image_id'][7:19]}"
            for name, info in sorted(release.services.items())
        )
        note = f"  ({release.note})" if release.note else ""
        lines.append(
            f"{mark} {release.number:>4}  {release.time}  {release.by:<24} "
            f"compose {release.compose_sha256[:12]}  {images}{note}"
        )
    return lines or ["no release recorded yet"]


def rollback_target(history: list[Release], to: int | None) -> Release:
    if to is None:
        if len(history) < 2:
            raise StepFailed(
                f"there is no previous release to roll back to ({len(history)} recorded)"
            )
        return history[-2]
    for release in history:
        if release.number == to:
            return release
    known = ", ".join(str(r.number) for r in history) or "none"
    raise StepFailed(f"no release {to} recorded (known: {known})")
