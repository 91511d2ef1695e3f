"""leo's compose override: what a rotate needs different from the user's compose file.

The user's `docker-compose.yml` is uploaded byte for byte and stays theirs.
Beside it, leo writes `docker-compose.leo.yml` and runs every compose command
with both files (`docker compose -f docker-compose.yml -f docker-compose.leo.yml`),
so compose's own merge rules apply it:

- the web service runs two copies side by side during a rotate, so it may not
  publish host ports or carry a fixed name: `ports: !reset []` and
  `container_name: !reset null` (compose >= 2.24) drop them, only when the file
  sets them;
- a service leo supplies the image for (built here by `deploy --build`, or a
  release's own tag on a rollback) gets `image:` that tag, `pull_policy:
  never` (the tag exists only on the host) and, when it has `build:`,
  `build: !reset null` (the host has no build context).

Pure functions: the text in, the text out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import composefile, composeyaml
from .errors import InvalidInput

HEADER = (
    "# Written by leo on every deploy; do not edit (it is rewritten). Your compose file\n"
    "# stays as you wrote it: this file only changes what a zero-downtime rotate needs.\n"
    "# By hand: docker compose -f docker-compose.yml -f docker-compose.leo.yml <command>\n"
)


@dataclass(frozen=True)
class Plan:
    """The override one rotate runs with, and what to tell the person about it."""

    text: str
    images: dict[str, str]  # service -> the image leo runs for it
    notes: list[str] = field(default_factory=list)


def plan(
    compose_text: str,
    web: str,
    *,
    given: dict[str, str] | None,
    live_override: str | None,
    new_file: bool,
) -> Plan:
    """The override for running `compose_text` with `web` as the web service.

    Images, by what the run brings:
    - `given` (a `deploy --build`, a rollback): exactly those;
    - a new compose file without them: the images an earlier `deploy --build`
      made for the services that still have `build:`;
    - no new file (a rotate of what is there): every image the live override names.
    A service that has `build:`, no `image:` and no built image is refused: the
    host cannot build it.
    """
    services = composefile.services_of(compose_text, "the compose file")
    if not isinstance(services.get(web), dict) or not services[web]:
        raise InvalidInput(composefile.missing_web(web))
    live = images_in(live_override)
    notes: list[str] = []
    if given is not None:
        images = {s: ref for s, ref in given.items() if s in services}
    elif not new_file:
        images = {s: ref for s, ref in live.items() if s in services}
    else:
        images = {s: live[s] for s in services if composefile.builds(services[s]) and s in live}
        notes += [
            f"service {s} runs {ref}, from an earlier `leo deploy --build` or rollback "
            "(pass --build to build it again)"
            for s, ref in images.items()
        ]
    # A service with profiles is started only by `--profile`, never by leo's plain
    # `up` (and a local `docker compose build` leaves it out too).
    unbuilt = [
        s
        for s, spec in services.items()
        if composefile.builds(spec)
        and not spec.get("image")
        and not spec.get("profiles")
        and s not in images
    ]
    if unbuilt:
        raise InvalidInput(
            f"service {', '.join(unbuilt)} has `build:` and no `image:`, and the host has only "
            "the compose file to build from: deploy with --build (leo builds it on this machine "
            "and sends the image to the host), or name a registry image in `image:`"
        )
    return Plan(render(services, web, images), images, notes)


def render(services: dict[str, dict[str, Any]], web: str, images: dict[str, str]) -> str:
    """The override's text for `services` as compose resolves them (composefile.services_of)."""
    reset = composeyaml.Tagged
    entries: dict[str, dict[str, Any]] = {}
    spec = services.get(web) or {}
    if spec.get("ports"):
        entries.setdefault(web, {})["ports"] = reset("!reset", [])
    if spec.get("container_name"):
        entries.setdefault(web, {})["container_name"] = reset("!reset", None)
    for service, reference in images.items():
        entry = entries.setdefault(service, {})
        entry["image"] = reference
        entry["pull_policy"] = "never"
        if composefile.builds(services.get(service) or {}):
            entry["build"] = reset("!reset", None)
    return HEADER + composeyaml.dump({"services": entries})


def images_in(text: str | None) -> dict[str, str]:
    """service -> image, as an override leo wrote names them ({} for none or unreadable)."""
    if not text:
        return {}
    try:
        doc = composeyaml.load(text, "leo's compose override")
    except InvalidInput:
        return {}  # rewritten by this run anyway; its images are then not carried over
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return {}
    return {
        str(name): spec["image"]
        for name, spec in services.items()
        if isinstance(spec, dict) and isinstance(spec.get("image"), str)
    }
