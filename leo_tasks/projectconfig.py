"""Defaults for `--app` and `--host` from the project: `leo.yaml` or Invoke config.

Inside an app's repository, `leo deploy` needs no flags when ./leo.yaml says
`app: shop` and `host: prod` (leo-cli kept these in leo.conf). Invoke users
can put the same keys under `leo:` in invoke.yaml. Flags always win.

`hosts:` names groups of hosts, so that `--host prod` means all of them:

    app: shop
    host: prod
    hosts:
      prod: [web1.example.com, web2.example.com, deploy@web3.example.com:2222]
      staging: staging.example.com
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

PROJECT_FILE = "leo.yaml"
KEYS = ("app", "host")
GROUPS_KEY = "hosts"
_GROUP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def project_defaults(invoke_config: Any = None, cwd: Path | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    section = _invoke_section(invoke_config)
    found.update({k: str(section[k]) for k in KEYS if section.get(k)})
    path, data = _project_file(cwd)
    for key in KEYS:
        value = data.get(key)
        if isinstance(value, list) and key == "host":
            value = ",".join(map(str, value))
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(f"{path}: `{key}` must be a string, not {value!r}")
        if str(value):
            found[key] = str(value)
    return found


def host_groups(invoke_config: Any = None, cwd: Path | None = None) -> dict[str, list[str]]:
    """Group name -> its hosts (`[user@]host[:port]` texts), from leo.yaml then Invoke
    config (`leo.hosts`); leo.yaml wins for a name both define."""
    groups: dict[str, list[str]] = {}
    path, data = _project_file(cwd)
    for where, raw in (
        ("Invoke config leo.hosts", _invoke_section(invoke_config).get(GROUPS_KEY)),
        (path, data.get(GROUPS_KEY)),
    ):
        if raw is None:
            continue
        if not isinstance(raw, dict) and hasattr(raw, "items"):  # Invoke's DataProxy
            raw = dict(raw.items())
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where}: `hosts` must map group names to lists of hosts")
        for name, members in raw.items():
            groups[_group_name(name, where)] = _members(name, members, where)
    return groups


def _invoke_section(invoke_config: Any) -> Any:
    section = invoke_config.get("leo") if invoke_config is not None else None
    return section or {}


def _project_file(cwd: Path | None) -> tuple[Path, dict]:
    path = (cwd or Path.cwd()) / PROJECT_FILE
    if not path.is_file():
        return path, {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must be a mapping like `app: shop`")
    unknown = set(data) - {*KEYS, GROUPS_KEY}
    if unknown:
        raise InvalidInput(
            f"{path}: unknown keys {sorted(map(str, unknown))} (known: {[*KEYS, GROUPS_KEY]})"
        )
    return path, data


def _group_name(name: Any, where: object) -> str:
    if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name) or name == "local":
        raise InvalidInput(f"{where}: {name!r} is not a usable group name (letters, digits, -, _)")
    return name


def _members(name: str, members: Any, where: object) -> list[str]:
    if isinstance(members, str):
        members = [m for m in members.split(",") if m.strip()]
    if (
        not isinstance(members, list)
        or not members
        or not all(isinstance(m, str) and m.strip() for m in members)
    ):
        raise InvalidInput(f"{where}: group {name!r} must be a non-empty list of hosts")
    return [m.strip() for m in members]
