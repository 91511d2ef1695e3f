"""Checking a compose file before it reaches a host, and the default one for `--image`.

A `web` service is rotated by running two copies side by side, so anything
that pins it to one instance (a fixed name, a published host port, the host's
network) is refused here with the reason, before anything is uploaded. So is
anything that needs more than this one file on the host (`include:`,
`extends: {file: ...}`, `build:` without an image), and `profiles:` on web,
which keeps a plain `docker compose up` from starting it. `web` is checked as
compose runs it: with `extends` (within this file) resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import composeyaml, validate
from .errors import InvalidInput
from .layout import WEB_PORT, WEB_SERVICE

_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")

# Keys whose lists compose concatenates when a service extends another; any
# other key of the extending service replaces the base's value.
_APPENDED = ("ports", "profiles", "env_file")
_WHY = "leo runs two web containers side by side during a rotate"
_ONE_FILE = "leo uploads only this one compose file to the host"


@dataclass(frozen=True)
class ComposeCheck:
    services: list[str]
    warnings: list[str] = field(default_factory=list)


def check(text: str, *, source: str = "compose file") -> ComposeCheck:
    """Validate compose YAML; raise InvalidInput naming the problem, else return warnings."""
    doc = composeyaml.load(text, source)
    if isinstance(doc, dict) and plain(doc.get("include")):
        raise InvalidInput(
            f"{source} has a top-level `include:`; {_ONE_FILE}, so the included files "
            "would be missing there. Copy what you need into this file."
        )
    services = plain(doc.get("services")) if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        raise InvalidInput(f"{source} has no `services:` mapping")
    for name in services:
        validate.service_name(str(name))
    effective = {str(name): _effective(services, str(name), source) for name in services}
    if not isinstance(plain(services.get(WEB_SERVICE)), dict):
        raise InvalidInput(
            f"{source} has no `{WEB_SERVICE}` service: leo serves the `{WEB_SERVICE}` "
            f"service through nginx (on port {WEB_PORT})"
        )
    warnings = _check_web(effective[WEB_SERVICE], source)
    for name, service in effective.items():
        warnings += _check_build(name, service, source)
    return ComposeCheck(services=sorted(effective), warnings=warnings)


def plain(value: Any) -> Any:
    """`value` as compose uses it once merging is done: `!reset x` is unset, `!override
    x` is x."""
    if isinstance(value, composeyaml.Tagged):
        return None if value.tag == "!reset" else plain(value.value)
    return value


def _effective(services: dict[str, Any], name: str, source: str, chain: tuple = ()) -> dict:
    """The service as compose runs it: `extends` resolved within this file, recursively."""
    if name in chain:
        raise InvalidInput(
            f"{source}: services extend each other in a loop: {' -> '.join([*chain, name])}"
        )
    service = plain(services.get(name))
    if not isinstance(service, dict):
        return {}
    extends = plain(service.get("extends"))
    if extends is None:
        return _merge({}, service)
    if isinstance(extends, dict) and extends.get("file"):
        raise InvalidInput(
            f"{source}: service {name} extends a service of another file "
            f"({extends['file']}); {_ONE_FILE}, so that file would be missing there. "
            "Copy the base service into this file."
        )
    base = extends.get("service") if isinstance(extends, dict) else extends
    if str(base) not in services:
        raise InvalidInput(
            f"{source}: service {name} extends {base!r}, which is not a service of this file"
        )
    return _merge(_effective(services, str(base), source, (*chain, name)), service)


def _merge(base: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in service.items():
        if key == "extends":
            continue
        if isinstance(value, composeyaml.Tagged):  # replaces (or unsets) the base's value
            if value.tag == "!reset":
                merged.pop(key, None)
            else:
                merged[key] = plain(value)
        elif key in _APPENDED and key in merged:
            merged[key] = _as_list(merged[key]) + _as_list(value)
        else:
            merged[key] = value
    return merged


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _check_web(web: dict[str, Any], source: str) -> list[str]:
    """Refuse what pins web to one instance or stops it from starting; warn otherwise."""
    if web.get("container_name"):
        raise InvalidInput(
            f"{source}: service web sets container_name; {_WHY}, and two containers cannot "
            "share one name. Remove container_name."
        )
    ports = [plain(p) for p in _as_list(web.get("ports"))]
    published = [_port_text(p) for p in ports if _publishes_host_port(p)]
    if published:
        raise InvalidInput(
            f"{source}: service web publishes ports on the host ({', '.join(published)}); "
            f"{_WHY}, and only one of them could bind a host port. nginx reaches web on its "
            "container address: remove `ports:` (use `expose:` if you want to document the port)."
        )
    mode = web.get("network_mode")
    if mode and mode != "bridge":
        raise InvalidInput(
            f"{source}: service web uses network_mode: {mode}; {_WHY} and nginx reaches each "
            "on its own container address, which needs a bridge network. Remove network_mode."
        )
    profiles = _as_list(web.get("profiles"))
    if profiles:
        raise InvalidInput(
            f"{source}: service web has profiles ({', '.join(map(str, profiles))}); leo starts "
            "the app with a plain `docker compose up`, which does not start a service with "
            "profiles, so web would never run. Remove `profiles:` from web."
        )
    warnings = []
    if ports:
        warnings.append(
            f"service web publishes container port {', '.join(map(_port_text, ports))} on a "
            "random host port: that port reaches web directly, bypassing nginx "
            "(use `expose:` unless you mean it)"
        )
    if not _reads_env_file(web):
        warnings.append(
            "service web has no `env_file: ./env`: values set with `leo env.set` will not reach it"
        )
    return warnings


def _publishes_host_port(port: Any) -> bool:
    """Whether a `ports:` entry fixes a host port, which only one container can bind.

    A container port alone (`5000`, `"5000/tcp"`, `{target: 5000}`,
    `"127.0.0.1::5000"`) gets a random host port per container: no conflict.
    """
    if isinstance(port, dict):
        return port.get("published") not in (None, "")
    if isinstance(port, int):
        return False
    mapping = str(port).strip().split("/", 1)[0]  # drop "/tcp"
    if ":" not in mapping:
        return False
    host = mapping.rsplit(":", 1)[0]  # "[ip:]host_port"
    return host.rsplit(":", 1)[-1] != ""


def _port_text(port: Any) -> str:
    if isinstance(port, dict):
        return ", ".join(f"{k}: {v}" for k, v in port.items()).join("{}")
    return str(port)


def _check_build(name: str, service: dict[str, Any], source: str) -> list[str]:
    if service.get("build") is None:
        return []
    image = service.get("image")
    if not image:
        raise InvalidInput(
            f"{source}: service {name} has `build:` and no `image:`; {_ONE_FILE}, so the host "
            "has no build context to build it from: build the image and push it to a "
            "registry, then name it in `image:`."
        )
    return [
        f"service {name} has `build:`: the host does not build it (it only has the compose "
        f"file) and uses the image {image} as named: build and push it before deploying"
    ]


def _reads_env_file(service: dict[str, Any]) -> bool:
    entries = service.get("env_file") or []
    if isinstance(entries, str | dict):
        entries = [entries]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    return any(str(p).removeprefix("./") == "env" for p in paths)


def pin_images(text: str, images: dict[str, str], header: str) -> str:
    """`text` with each named service running exactly `images[name]`, never pulled.

    For a rollback: each service's image becomes its release tag, with
    `pull_policy: never`, since the tag exists only on the host. Everything else
    keeps its meaning for compose, `!reset`/`!override` included; comments are
    lost, `header` (comment lines) is put first. Services not in the file are
    ignored. YAML leo cannot read is InvalidInput, not a traceback.
    """
    doc = composeyaml.load(text, "the release's compose file")
    services = doc.get("services") if isinstance(doc, dict) else None
    tagged = services if isinstance(services, composeyaml.Tagged) else None
    services = tagged.value if tagged else services
    if not isinstance(services, dict):
        raise InvalidInput("the release's compose file has no `services:` mapping")
    for name, reference in images.items():
        service = services.get(name)
        inner = service.value if isinstance(service, composeyaml.Tagged) else service
        if not isinstance(inner, dict):
            continue
        # A new mapping: a YAML alias may share the old one with another service.
        pinned = {**inner, "image": reference, "pull_policy": "never"}
        if isinstance(service, composeyaml.Tagged):
            services[name] = composeyaml.Tagged(service.tag, pinned)
        else:
            services[name] = pinned
    return header + composeyaml.dump(doc)


def default_compose(image: str) -> str:
    """The compose file `leo create --image IMG` writes when no --compose is given."""
    if not _IMAGE.fullmatch(image or ""):
        raise InvalidInput(f"invalid image reference {image!r}")
    doc = {
        "services": {
            WEB_SERVICE: {
                "image": image,
                "env_file": ["./env"],
                "restart": "unless-stopped",
                "expose": [str(WEB_PORT)],
            }
        }
    }
    header = (
        "# Written by `leo create`; yours to edit. The web service must listen on port "
        f"{WEB_PORT},\n# publish no ports and set no container_name (leo runs two copies "
        "during a rotate).\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False)


def images_in_compose(text: str, *, source: str = "compose file") -> list[str]:
    """The `image:` of each service, as written, in file order and once each.

    For `leo deploy --push`, which sends those that exist on this machine.
    Values with a `$` are left out: compose fills in `${VAR}` and `$VAR` from
    the host's environment, so what they name is only known there.
    """
    doc = composeyaml.load(text, source)
    services = plain(doc.get("services")) if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return []
    images: list[str] = []
    for service in services.values():
        service = plain(service)
        image = plain(service.get("image")) if isinstance(service, dict) else None
        if isinstance(image, str) and image and "$" not in image and image not in images:
            images.append(image)
    return images
