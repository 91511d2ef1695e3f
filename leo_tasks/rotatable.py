"""Can these services be rotated? Checked on the compose model as compose resolved it.

The client checks the YAML it uploads (composefile.py), but only the host sees
the file the way compose does: `extends`, merge tags and interpolation from
the env resolved. A service that is rotated runs two copies side by side for
a moment, so anything that pins it to one instance is refused here, before
anything on the host has changed.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput
from .facts import ComposeModel

WHY = "leo runs two copies side by side during a rotate"


def check(model: ComposeModel, web: str, rotated: tuple[str, ...] = ()) -> None:
    """Raise InvalidInput naming the service and the setting that prevents a rotate."""
    if web not in model.services:
        raise InvalidInput(
            f"the compose file has no `{web}` service: leo serves the `{web}` service through nginx"
        )
    for name in (web, *rotated):
        spec = model.services.get(name)
        if spec is not None:
            _check_service(name, spec, is_web=name == web)


def _check_service(name: str, spec: dict[str, Any], *, is_web: bool) -> None:
    if spec.get("container_name"):
        raise InvalidInput(
            f"service {name} sets container_name; {WHY}, and two containers cannot share "
            "one name. Remove container_name."
        )
    fixed = [_published(p) for p in spec.get("ports") or [] if _published(p)]
    if fixed:
        raise InvalidInput(
            f"service {name} publishes host port {fixed[0]}; {WHY}, and only one of them "
            "could bind it. nginx reaches the service on its container address: remove "
            "`ports:` (use `expose:` to document the port)."
        )
    mode = spec.get("network_mode")
    if mode and mode not in ("bridge", "default"):
        raise InvalidInput(
            f"service {name} uses network_mode: {mode}; {WHY} and nginx reaches each on its "
            "own container address, which needs a bridge network. Remove network_mode."
        )
    if is_web and spec.get("profiles"):
        raise InvalidInput(
            f"service {name} is in profiles {spec['profiles']}: a plain `docker compose up` "
            "would not start it. Remove `profiles:` from it."
        )


def _published(port: Any) -> str:
    """The host port a `ports:` entry binds ("" when docker picks a random one)."""
    if isinstance(port, dict):
        return str(port.get("published") or "")
    text = str(port)
    return text.rsplit(":", 1)[0] if ":" in text else ""
