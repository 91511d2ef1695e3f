"""Waiting for new containers to be ready, with a hard deadline: never a blind sleep.

A container is ready when its Docker HEALTHCHECK says healthy or, without one,
when it runs and answers HTTP on its web port with a status below 500. A
container that exits or turns unhealthy fails at once, with its last log lines.
A one-shot service (a migration that web waits for with
`condition: service_completed_successfully`) is done when it exited 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..appsettings import AppSettings
from ..errors import LeoError
from ..facts import Container, host_port
from ..layout import WEB_PORT
from .base import Host
from .containers import describe, inspect, logs_tail


@dataclass(frozen=True)
class HealthPolicy:
    path: str = "/"
    timeout: float = 60.0
    interval: float = 0.5
    http: bool = True  # probe over HTTP when there is no HEALTHCHECK (web only)
    port: int = WEB_PORT
    networks: tuple[str, ...] = ()  # where to reach the container, preferred first
    completes: bool = False  # a one-shot: ready once it exited 0


def web_policy(
    settings: AppSettings, networks: list[str] | tuple[str, ...] = (), port: int = WEB_PORT
) -> HealthPolicy:
    """The readiness check for an app's web containers, from its LEO_HEALTH_* settings."""
    return HealthPolicy(
        path=settings.health_path,
        timeout=settings.health_timeout,
        networks=tuple(networks),
        port=port,
    )


CRASHED = ("exited", "dead", "restarting")


class Unhealthy(LeoError):
    """A new container never became ready."""


def probe_argv(address: str, path: str, *, port: int = WEB_PORT, max_time: float = 2) -> list[str]:
    return [
        "curl",
        "--silent",
        # The path is the user's (LEO_HEALTH_PATH): `[]{}` in it are not curl globs.
        "--globoff",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code}",
        "--max-time",
        f"{max(0.5, max_time):g}",
        f"http://{host_port(address, port)}{path}",
    ]


def wait_ready(
    host: Host, ids: list[str], policy: HealthPolicy, *, known: list[Container] | None = None
) -> list[Container]:
    """Poll until every container in `ids` is ready; raise Unhealthy otherwise.

    The deadline is hard: each poll's commands get only the time that is left.
    `known`: these containers as they were just listed (after `compose up`): the
    first poll looks at them instead of inspecting them again, a round trip less.
    """
    deadline = time.monotonic() + policy.timeout
    ready: dict[str, Container] = {}
    last: dict[str, str] = {}

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    first = [c for c in known or [] if c.id in ids]
    if len(first) != len(set(ids)):
        first = []
    while True:
        if first:
            looked, first = first, []
        else:
            looked = inspect(host, [i for i in ids if i not in ready], timeout=left())
        for container in looked:
            verdict = _verdict(host, container, policy, left())
            if verdict is True:
                ready[container.id] = container
            elif verdict is False:
                why = {
                    "exited": f"exited with code {container.exit_code}",
                    "dead": f"exited with code {container.exit_code}",
                    "restarting": f"crashed (exit code {container.exit_code}): docker restarts it",
                }.get(container.status, f"is {container.health or container.status}")
                raise Unhealthy(_failure(host, container, why))
            else:
                last[container.id] = verdict
        missing = [i for i in ids if i not in ready]
        if not missing:
            return [ready[i] for i in ids]
        if time.monotonic() >= deadline:
            stuck = inspect(host, missing, timeout=10)
            reasons = "; ".join(
                _failure(host, c, f"not ready after {policy.timeout:g}s ({last.get(c.id, '')})")
                for c in stuck
            )
            if (
                reasons
                and policy.http
                and all(last.get(c.id, "").startswith("HTTP no answer") for c in stuck)
            ):
                reasons += (
                    f"\n  nothing answered HTTP on port {policy.port}: if the app listens on "
                    "another port, set it with `leo env.set --app APP LEO_WEB_PORT=PORT`"
                )
            raise Unhealthy(reasons or f"containers {missing} disappeared")
        time.sleep(min(policy.interval, max(0.0, deadline - time.monotonic())))


def _verdict(host: Host, container: Container, policy: HealthPolicy, left: float) -> bool | str:
    """True ready, False failed for good, or a string saying what we still wait for."""
    if policy.completes:
        if container.status in ("exited", "dead"):
            return container.exit_code == 0
        return False if container.status == "restarting" else f"still {container.status}"
    # A new container docker is restarting has crashed already: not worth waiting for.
    if container.status in CRASHED or container.health == "unhealthy":
        return False
    if not container.running:
        return f"status {container.status}"
    if container.health is not None:
        return True if container.health == "healthy" else f"health {container.health}"
    if not policy.http:
        return True
    address = container.address(policy.networks)
    if not address:
        return "no network address yet"
    probe = probe_argv(address, policy.path, port=policy.port, max_time=min(2.0, left))
    code = host.remote.run(probe, check=False, timeout=min(10.0, left + 2)).stdout.strip()
    if code.isdigit() and 0 < int(code) < 500:
        return True
    # curl writes 000 when nothing answered (connection refused, timed out).
    answer = "no answer" if code.strip("0") == "" else code
    return f"HTTP {answer} from {host_port(address, policy.port)}{policy.path}"


def _failure(host: Host, container: Container, why: str) -> str:
    logs = logs_tail(host, container)
    text = f"{describe(container)} {why}"
    if logs:
        text += "\n    last log lines:\n" + "\n".join("      " + ln for ln in logs.splitlines())
    return text
