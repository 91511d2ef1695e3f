"""Defaults for `--app` and `--host` from the project: `leo.yaml` or Invoke config.

Inside an app's repository, `leo deploy` needs no flags when ./leo.yaml says
`app: shop` and `host: prod` (leo-cli kept these in leo.conf). Invoke users
can put the same keys under `leo:` in invoke.yaml. Flags always win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

PROJECT_FILE = "leo.yaml"
KEYS = ("app", "host")


def project_defaults(invoke_config: Any = None, cwd: Path | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    section = invoke_config.get("leo") if invoke_config is not None else None
    if section:
        found.update({k: str(section[k]) for k in KEYS if section.get(k)})
    path = (cwd or Path.cwd()) / PROJECT_FILE
    if path.is_file():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"{path} must be a mapping like `app: shop`")
        unknown = set(data) - set(KEYS)
        if unknown:
            raise InvalidInput(
                f"{path}: unknown keys {sorted(map(str, unknown))} (known: {list(KEYS)})"
            )
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
