"""Checking a compose file before it reaches a host, and the default one for `--image`.

The user's compose file is deployed as it is: what a rotate needs different
for the web service (no published host ports, no container_name, the image
leo built) goes into leo's override file (override.py). What no override can
fix is refused here with the reason, before anything is uploaded: anything
that needs more than this one file on the host (`include:`, `extends: {file:
...}`), and on the web service, the host's network (nginx reaches each of the
two copies a rotate runs on its own container address) and `profiles:`
(a plain `docker compose up` would not start it). Services are checked as
compose runs them: with `extends` (within this file) resolved.
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


def check(text: str, *, source: str = "compose file", web: str | None = None) -> ComposeCheck:
    """Validate compose YAML; raise InvalidInput naming the problem, else return warnings.

    `web` is the app's web service when it is known (create, and on the host);
    without it only what holds for any service is checked.
    """
    effective = services_of(text, source)
    warnings: list[str] = []
    if web is not None:
        if not effective.get(web):  # absent, null, a string: nothing compose could run
            raise InvalidInput(missing_web(web, source))
        warnings = _check_web(web, effective[web], source)
    return ComposeCheck(services=sorted(effective), warnings=warnings)


def missing_web(web: str, source: str = "the compose file") -> str:
    hint = (
        "pass `--web-service NAME` to `leo create`"
        if web == WEB_SERVICE
        else "the app's LEO_WEB_SERVICE names it"
    )
    return (
        f"{source} has no `{web}` service: leo serves the app's web service through nginx "
        f"({hint}; `leo env.set --app APP LEO_WEB_SERVICE=NAME` changes it)"
    )


def services_of(text: str, source: str = "compose file") -> dict[str, dict[str, Any]]:
    """Each service as compose runs it (`extends` within the file resolved), by name.

    Raises InvalidInput for YAML leo cannot read, a file without services, a bad
    service name, and what needs files other than this one.
    """
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
    return {str(name): _effective(services, str(name), source) for name in services}


def builds(service: dict[str, Any]) -> bool:
    """Whether compose builds this (effective) service's image from a `build:`."""
    return service.get("build") is not None


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


def _check_web(name: str, web: dict[str, Any], source: str) -> list[str]:
    """Refuse what no override can fix on the web service; say what the override does."""
    mode = web.get("network_mode")
    if mode and mode not in ("bridge", "default"):  # as rotatable.check
        raise InvalidInput(
            f"{source}: service {name} uses network_mode: {mode}; {_WHY} and nginx reaches "
            "each on its own container address, which needs a bridge network. Remove "
            "network_mode."
        )
    profiles = _as_list(web.get("profiles"))
    if profiles:
        raise InvalidInput(
            f"{source}: service {name} has profiles ({', '.join(map(str, profiles))}); leo "
            "starts the app with a plain `docker compose up`, which does not start a service "
            f"with profiles, so {name} would never run. Remove `profiles:` from {name}."
        )
    warnings = []
    ports = [_port_text(plain(p)) for p in _as_list(web.get("ports"))]
    if ports or web.get("container_name"):
        dropped = (["`ports:` " + ", ".join(ports)] if ports else []) + (
            [f"`container_name: {web['container_name']}`"] if web.get("container_name") else []
        )
        warnings.append(
            f"service {name}: on the host, leo's override drops {' and '.join(dropped)} "
            f"({_WHY}; nginx reaches them on their container addresses). Your file stays as it is."
        )
    if not _reads_env_file(web):
        warnings.append(
            f"service {name} has no `env_file: ./env`: values set with `leo env.set` will not "
            "reach it"
        )
    return warnings


def _port_text(port: Any) -> str:
    if isinstance(port, dict):
        return ", ".join(f"{k}: {v}" for k, v in port.items()).join("{}")
    return str(port)


def _reads_env_file(service: dict[str, Any]) -> bool:
    entries = service.get("env_file") or []
    if isinstance(entries, str | dict):
        entries = [entries]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    return any(str(p).removeprefix("./") == "env" for p in paths)


def default_compose(image: str, *, web: str = WEB_SERVICE, port: int | None = None) -> str:
    """The compose file `leo create --image IMG` writes when no --compose is given."""
    if not _IMAGE.fullmatch(image or ""):
        raise InvalidInput(f"invalid image reference {image!r}")
    doc = {
        "services": {
            web: {
                "image": image,
                "env_file": ["./env"],
                "restart": "unless-stopped",
                **({"expose": [str(port)]} if port else {}),
            }
        }
    }
    listens = f"port {port}" if port else f"the port its image EXPOSEs (else {WEB_PORT})"
    header = (
        f"# Written by `leo create`; yours to edit. nginx sends requests to {web} on {listens}.\n"
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
