"""Waiting for new containers to be ready, with a deadline: never a blind sleep.

A container is ready when its Docker HEALTHCHECK says healthy or, without one,
when it runs and answers HTTP on its web port with a status below 500. A
container that exits or turns unhealthy fails at once, with its last log lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..appsettings import AppSettings
from ..errors import LeoError
from ..facts import Container
from ..layout import WEB_PORT
from .base import Host
from .containers import describe, inspect, logs_tail, network_for


@dataclass(frozen=True)
class HealthPolicy:
    path: str = "/"
    timeout: float = 60.0
    interval: float = 0.5
    http: bool = True  # probe over HTTP when there is no HEALTHCHECK (web only)


def web_policy(settings: AppSettings) -> HealthPolicy:
    """The readiness check for an app's web containers, from its LEO_HEALTH_* settings."""
    return HealthPolicy(path=settings.health_path, timeout=settings.health_timeout)


class Unhealthy(LeoError):
    """A new container never became ready; carries the containers involved."""


def probe_argv(address: str, path: str) -> list[str]:
    return [
        "curl",
        "--silent",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        "--max-time",
        "2",
        f"http://{address}:{WEB_PORT}{path}",
    ]


def wait_ready(host: Host, app: str, ids: list[str], policy: HealthPolicy) -> list[Container]:
    """Poll until every container in `ids` is ready; raise Unhealthy otherwise."""
    deadline = time.monotonic() + policy.timeout
    ready: dict[str, Container] = {}
    last: dict[str, str] = {}
    while True:
        for container in inspect(host, [i for i in ids if i not in ready]):
            verdict = _verdict(host, app, container, policy)
            if verdict is True:
                ready[container.id] = container
            elif verdict is False:
                raise Unhealthy(_failure(host, container, "stopped or unhealthy"))
            else:
                last[container.id] = verdict
        missing = [i for i in ids if i not in ready]
        if not missing:
            return [ready[i] for i in ids]
        if time.monotonic() >= deadline:
            stuck = inspect(host, missing)
            reasons = "; ".join(
                _failure(host, c, f"not ready after {policy.timeout:g}s ({last.get(c.id, '')})")
                for c in stuck
            )
            raise Unhealthy(reasons or f"containers {missing} disappeared")
        time.sleep(policy.interval)


def _verdict(host: Host, app: str, container: Container, policy: HealthPolicy) -> bool | str:
    """True ready, False failed for good, or a string saying what we still wait for."""
    if container.status in ("exited", "dead") or container.health == "unhealthy":
        return False
    if not container.running:
        return f"status {container.status}"
    if container.health is not None:
        return True if container.health == "healthy" else f"health {container.health}"
    if not policy.http:
        return True
    address = container.address(network_for(app))
    if not address:
        return "no network address yet"
    code = host.remote.run(probe_argv(address, policy.path), check=False).stdout.strip()
    if code.isdigit() and 0 < int(code) < 500:
        return True
    return f"HTTP {code or 'no answer'} from {address}:{WEB_PORT}{policy.path}"


def _failure(host: Host, container: Container, why: str) -> str:
    logs = logs_tail(host, container)
    text = f"{describe(container)} {why}, exit code {container.exit_code}"
    if logs:
        text += "\n    last log lines:\n" + "\n".join("      " + ln for ln in logs.splitlines())
    return text
