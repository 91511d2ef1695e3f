"""`leo status`: the app's containers, what nginx points at, and whether they agree.

`read` gathers the facts once into a `Status`; `lines` (text) and `as_json`
(--json) are two renderings of it, so they cannot tell different stories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..appsettings import WEB_PORT_SETTING, AppSettings
from ..envfile import EnvFile
from ..errors import InvalidInput, StepFailed
from ..facts import Container, parse_upstream
from ..layout import WEB_PORT, WEB_SERVICE, AppPaths
from . import lock, releases, webport
from .base import Host, read_files
from .containers import containers


@dataclass(frozen=True)
class WebPort:
    """The web service, its port, and where the port comes from."""

    service: str
    port: int | None  # None: the next deploy reads it from the image
    # How it was found, in the words release records use (webport.SET, KEPT,
    # EXPOSED, DEFAULT); None with the port.
    source: str | None
    release: int | None = None  # the release that found it (EXPOSED, DEFAULT)

    def describe(self) -> str:
        text = f"service {self.service}, port "
        if self.source == webport.SET:
            return text + f"{self.port} ({WEB_PORT_SETTING})"
        if self.source == webport.KEPT:
            return (
                text + f"{self.port} (kept from before leo read EXPOSE; {WEB_PORT_SETTING} sets it)"
            )
        if self.source == webport.EXPOSED:
            return text + f"{self.port} (found in the image at release {self.release})"
        if self.source == webport.DEFAULT:
            return text + f"{self.port} (the default at release {self.release})"
        return text + "from the image's EXPOSE at the next deploy"


def web_port(settings: AppSettings, history: list[releases.Release]) -> WebPort:
    service = settings.web_service
    if settings.web_port is not None:
        return WebPort(service, settings.web_port, webport.SET)
    if service == WEB_SERVICE and webport.kept_from_before(history):
        return WebPort(service, WEB_PORT, webport.KEPT)
    last = history[-1] if history else None
    how = last.web.get("how") if last else None
    if last and how in (webport.EXPOSED, webport.DEFAULT):
        return WebPort(service, last.web.get("port"), how, last.number)
    return WebPort(service, None, None)


@dataclass(frozen=True)
class Status:
    """What `leo status` found on one host."""

    web: WebPort
    settings_problem: str | None  # the env file's bad setting, if any
    containers: list[Container]  # service and one-off containers
    upstream: list[str]  # the addresses nginx's upstream holds
    locks: list[lock.LockState]
    release: releases.Release | None  # the current one

    @property
    def services(self) -> list[Container]:
        return [c for c in self.containers if not c.oneoff]

    @property
    def oneoffs(self) -> list[Container]:
        return [c for c in self.containers if c.oneoff]

    @property
    def web_containers(self) -> list[Container]:
        return [c for c in self.services if c.running and c.service == self.web.service]

    @property
    def agree(self) -> bool:
        """Each running web container is in the upstream, by one of its addresses, and
        the upstream holds nothing else. One-off containers never count."""
        matched = sorted(
            next((ip for ip in c.networks.values() if ip in self.upstream), "?")
            for c in self.web_containers
        )
        return "?" not in matched and matched == sorted(self.upstream)


def read(host: Host, paths: AppPaths) -> Status:
    files = read_files(host, [paths.upstream_conf, paths.env_file])
    upstream_text = files[paths.upstream_conf]
    if upstream_text is None:
        raise StepFailed(f"app {paths.app!r} does not exist on {host.name}")
    try:
        settings = AppSettings.from_env(EnvFile.parse(files[paths.env_file] or "").values())
    except InvalidInput as exc:  # status still reports; the next rotate refuses it
        settings, problem = AppSettings(), str(exc)
    else:
        problem = None
    history = releases.load(host, paths)
    return Status(
        web=web_port(settings, history),
        settings_problem=problem,
        containers=containers(host, paths.app, oneoffs=True),
        upstream=parse_upstream(upstream_text),
        locks=lock.states(host, paths),
        release=history[-1] if history else None,
    )


def _addresses(container: Container) -> list[str]:
    return [ip for ip in container.networks.values() if ip]


def lines(status: Status) -> list[str]:
    problem = (
        f" (the env file has a bad setting: {status.settings_problem})"
        if status.settings_problem
        else ""
    )
    out = [f"web: {status.web.describe()}{problem}", "containers:"]
    for c in status.services:
        health = f" {c.health}" if c.health else ""
        ips = ",".join(_addresses(c)) or "-"
        out.append(f"  {c.name:<28} {c.status}{health:<11} {ips:<15} {c.short_id}")
    if not status.services:
        out.append("  (none)")
    if status.oneoffs:
        out.append("one-off containers (leo run): " + ", ".join(c.name for c in status.oneoffs))
    out.append(f"nginx upstream: {', '.join(status.upstream) or '(nothing deployed)'}")
    web_ips = ", ".join(",".join(_addresses(c)) for c in status.web_containers)
    out.append(
        "agree: yes"
        if status.agree
        else f"agree: NO (running web containers: {web_ips or 'none'}); "
        "`leo rotate` or `leo start` re-syncs"
    )
    out += [f"lock: {state.describe()}" for state in status.locks]
    release = status.release
    out.append(
        f"release: {release.number} ({release.time})" if release else "release: none recorded"
    )
    return out


def as_json(status: Status) -> dict[str, Any]:
    """The same facts for --json (see schemas/status.schema.json)."""
    web = status.web
    return {
        "web": {
            "service": web.service,
            "port": web.port,
            "port_source": web.source,
            "port_release": web.release,
            "settings_problem": status.settings_problem,
        },
        "containers": [
            {
                "name": c.name,
                "id": c.id,
                "service": c.service,
                "number": c.number,
                "state": c.status,
                "health": c.health,
                "oneoff": c.oneoff,
                "image_id": c.image or None,
                "networks": {net: ip or None for net, ip in sorted(c.networks.items())},
                "addresses": _addresses(c),
                "in_upstream": any(ip in status.upstream for ip in _addresses(c)),
            }
            for c in status.containers
        ],
        "upstream": list(status.upstream),
        "agree": status.agree,
        "locks": [state.as_json() for state in status.locks],
        "release": releases.release_json(status.release, current=True) if status.release else None,
    }
