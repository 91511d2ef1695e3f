"""Per-app rotate settings, read from `LEO_*` variables in the app's env file.

They live in the env file (as LEO_ROTATE_SERVICES did in the original leo) so
that one file on the host holds everything an app is configured with.

Messages may quote a setting that is not secret (a path, a number of seconds,
service names) but never the registry credentials: they end up in CI logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import validate
from .errors import InvalidInput
from .layout import WEB_SERVICE

WEB_SERVICE_SETTING = "LEO_WEB_SERVICE"
WEB_PORT_SETTING = "LEO_WEB_PORT"


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials for `docker login`; the password only ever travels on stdin."""

    registry: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AppSettings:
    # The compose service nginx serves, and the port it listens on inside its
    # containers (None: the web image's single EXPOSEd port, else 5000).
    # `leo create --web-service/--port` writes them.
    web_service: str = WEB_SERVICE
    web_port: int | None = None
    health_path: str = "/"
    health_timeout: float = 60.0
    # Upper bound on waiting for nginx's old workers to finish their requests.
    drain_seconds: float = 30.0
    rotate_services: tuple[str, ...] = ()  # besides web: rotated without downtime, no nginx
    registry: RegistryLogin | None = None
    # Longest a pull or `docker compose up` may take on the host.
    command_timeout: float = 600.0
    # Longest a one-shot that web waits for (a migration) may run.
    release_timeout: float = 600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppSettings:
        path = env.get("LEO_HEALTH_PATH", "/").strip() or "/"
        if not path.startswith("/") or any(ch.isspace() for ch in path):
            raise InvalidInput(f"LEO_HEALTH_PATH must be a URL path like /health, not {path!r}")
        web = _web_service(env)
        return cls(
            web_service=web,
            web_port=_port(env),
            health_path=path,
            health_timeout=_seconds(env, "LEO_HEALTH_TIMEOUT", 60.0),
            drain_seconds=_seconds(env, "LEO_DRAIN_SECONDS", 30.0),
            command_timeout=_seconds(env, "LEO_COMMAND_TIMEOUT", 600.0, minimum=10),
            release_timeout=_seconds(env, "LEO_RELEASE_TIMEOUT", 600.0, minimum=1),
            rotate_services=_rotate_services(env, web),
            registry=_registry(env),
        )


def check_setting(name: str, value: str) -> None:
    """Refuse a LEO_* value that no rotate would accept, naming the setting.

    The registry login is left to the rotate: its three variables are set one
    at a time, and only all three together make sense.
    """
    if name.startswith("LEO_") and not name.startswith("LEO_REGISTRY"):
        AppSettings.from_env({name: value})


def _web_service(env: Mapping[str, str]) -> str:
    name = env.get(WEB_SERVICE_SETTING, "").strip() or WEB_SERVICE
    try:
        return validate.service_name(name)
    except InvalidInput as exc:
        raise InvalidInput(f"{WEB_SERVICE_SETTING}: {exc}") from None


def _port(env: Mapping[str, str]) -> int | None:
    raw = env.get(WEB_PORT_SETTING, "").strip()
    if not raw:
        return None
    return web_port(raw, source=WEB_PORT_SETTING)


def web_port(raw: str | int, *, source: str) -> int:
    """A TCP port number 1-65535 (`--port`, LEO_WEB_PORT), or InvalidInput naming `source`."""
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise InvalidInput(f"{source} must be a TCP port number (1-65535), not {text!r}")
    return int(text)


def _rotate_services(env: Mapping[str, str], web: str) -> tuple[str, ...]:
    """Trimmed, de-duplicated, order kept; web is left out, it is rotated anyway."""
    names = [s.strip() for s in env.get("LEO_ROTATE_SERVICES", "").split(",")]
    try:
        checked = [validate.service_name(n) for n in names if n and n != web]
    except InvalidInput as exc:
        # Say which setting holds the bad name: the env file is not the compose file.
        raise InvalidInput(f"LEO_ROTATE_SERVICES: {exc}") from None
    return tuple(dict.fromkeys(checked))


def _registry(env: Mapping[str, str]) -> RegistryLogin | None:
    names = ("LEO_REGISTRY", "LEO_REGISTRY_USER", "LEO_REGISTRY_PASSWORD")
    given = [env.get(n, "") for n in names]
    if not any(given):
        return None
    if not all(given):
        # Names only: the ones that are set may include the password.
        missing = [n for n, v in zip(names, given, strict=True) if not v]
        raise InvalidInput(
            f"registry login needs all of {', '.join(names)}; missing {', '.join(missing)}"
        )
    registry, user, password = given
    # Each named on its own; no text of any of the three is shown.
    if any(ch.isspace() for ch in registry) or registry.startswith("-"):
        raise InvalidInput("LEO_REGISTRY cannot contain spaces or start with '-'")
    if any(ch.isspace() for ch in user):
        raise InvalidInput("LEO_REGISTRY_USER cannot contain spaces")
    return RegistryLogin(registry, user, password)


def _seconds(env: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number of seconds, not {raw!r}") from None
    if not minimum <= value <= 3600:
        raise InvalidInput(f"{name} must be between {minimum:g} and 3600 seconds")
    return value
