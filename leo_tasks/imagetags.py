"""The tags leo gives each release's images, so a rollback finds them later.

A release's image of service S of app A is tagged `leo/<A>/<S>:release-<N>`.
The `/` between app and service keeps apps apart: with `leo-<app>-<service>`,
app `shop` with service `api-web` and app `shop-api` with service `web` got
the same tag, and `leo destroy shop` removed shop-api's tags too.

Compose accepts names a docker repository path component does not (`Worker`,
`a..b`, `shop_`): `docker tag` would fail after nginx had already switched.
Such a name is mapped to a lowercase form plus a short hash of the name, so
the tag is always valid and two names never share one in practice.
"""

from __future__ import annotations

import hashlib
import re

# A path component of the distribution reference grammar (distribution/reference).
COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")
PREFIX = "leo"


def component(name: str) -> str:
    """`name` as one valid repository path component, the same name always the same way.

    A valid lowercase component is used as is, so the tags of ordinary names
    read naturally. Any other name gets a readable lowercase form plus `-` and
    8 hex digits of its SHA-256: the form alone could collide (`a..b` and
    `a-b`), the hash of the original name keeps them apart.
    """
    if COMPONENT.fullmatch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"{readable}-{digest}" if readable else digest


def release_tag(app: str, service: str, number: int) -> str:
    """The tag of `service`'s image in release `number` of `app`."""
    return f"{PREFIX}/{component(app)}/{component(service)}:release-{number}"


def is_release_tag(reference: str, app: str) -> bool:
    """Whether `reference` is one of `app`'s release tags (any service, any release)."""
    return reference.startswith(f"{PREFIX}/{component(app)}/") and ":release-" in reference


def release_tag_filter(app: str) -> str:
    """The `docker image ls --filter reference=...` value for exactly `app`'s release tags.

    Docker matches it with Go's path.Match, where `*` never crosses a `/`: the
    service part cannot reach into another app's tags.
    """
    return f"{PREFIX}/{component(app)}/*:release-*"


def built_repository(app: str, service: str) -> str:
    """The repository `leo deploy --build` tags `service`'s image in: `leo-<app>-<service>`,
    tagged with the first 12 hex digits of the image ID (localbuild.py)."""
    return f"{PREFIX}-{component(app)}-{component(service)}"


def is_built_by_leo(reference: str, app: str, service: str) -> bool:
    return reference.rpartition(":")[0] == built_repository(app, service)
