"""Checking a compose file before it reaches a host, and the default one for `--image`.

A `web` service is rotated by running two copies side by side, so anything
that pins it to one instance (a fixed name, a published port, the host's
network) is refused here with the reason, before anything is uploaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import validate
from .errors import InvalidInput
from .layout import WEB_PORT, WEB_SERVICE


class _ComposeLoader(yaml.SafeLoader):
    """safe_load plus compose's own merge tags (`!reset`, `!override`, compose >= 2.24)."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(_tag, _tagged)

_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")


@dataclass(frozen=True)
class ComposeCheck:
    services: list[str]
    warnings: list[str] = field(default_factory=list)


def check(text: str, *, source: str = "compose file") -> ComposeCheck:
    """Validate compose YAML; raise InvalidInput naming the problem, else return warnings."""
    try:
        doc = yaml.load(text, Loader=_ComposeLoader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise InvalidInput(f"{source} has no `services:` mapping")
    services: dict[str, Any] = doc["services"]
    for name in services:
        validate.service_name(str(name))
    web = services.get(WEB_SERVICE)
    if not isinstance(web, dict):
        raise InvalidInput(
            f"{source} has no `{WEB_SERVICE}` service: leo serves the `{WEB_SERVICE}` "
            f"service through nginx (on port {WEB_PORT})"
        )
    why = "leo runs two web containers side by side during a rotate"
    if web.get("container_name"):
        raise InvalidInput(
            f"{source}: service web sets container_name; {why}, and two containers cannot "
            "share one name. Remove container_name."
        )
    if web.get("ports"):
        raise InvalidInput(
            f"{source}: service web publishes ports; {why}, and only one of them could bind "
            "a host port. nginx reaches web on its container address: remove `ports:` "
            "(use `expose:` if you want to document the port)."
        )
    mode = web.get("network_mode")
    if mode and mode != "bridge":
        raise InvalidInput(
            f"{source}: service web uses network_mode: {mode}; {why} and nginx reaches each "
            "on its own container address, which needs a bridge network. Remove network_mode."
        )
    warnings = []
    if not _reads_env_file(web):
        warnings.append(
            "service web has no `env_file: ./env`: values set with `leo env.set` will not reach it"
        )
    return ComposeCheck(services=sorted(map(str, services)), warnings=warnings)


def _reads_env_file(service: dict[str, Any]) -> bool:
    entries = service.get("env_file") or []
    if isinstance(entries, str | dict):
        entries = [entries]
    paths = [e.get("path") if isinstance(e, dict) else e for e in entries]
    return any(str(p).removeprefix("./") == "env" for p in paths)


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
