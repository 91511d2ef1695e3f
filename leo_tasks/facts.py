"""Pure parsers of what commands print on a host (docker inspect, compose config, sha256sum).

Each parser takes captured text and returns plain data; tests feed them real
captured output. Nothing here does I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .commands.docker import PROJECT_LABEL, SERVICE_LABEL
from .errors import LeoError


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    project: str
    service: str
    number: int
    status: str  # created, running, exited, restarting, ...
    exit_code: int
    health: str | None  # None when the container has no healthcheck
    created: str
    started_at: str
    networks: dict[str, str] = field(default_factory=dict)  # network name -> IPv4
    stop_timeout: int | None = None
    image: str = ""

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def address(self, preferred_network: str) -> str | None:
        """The IPv4 nginx should use: the preferred network's, else the only one."""
        if self.networks.get(preferred_network):
            return self.networks[preferred_network]
        with_ip = sorted(ip for ip in self.networks.values() if ip)
        return with_ip[0] if len(with_ip) == 1 else None


def parse_ids(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_inspect(text: str) -> list[Container]:
    """Parse `docker container inspect` output (a JSON array)."""
    try:
        raw = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise LeoError(f"unexpected output from docker inspect: {exc}") from exc
    return [_container(item) for item in raw]


def _container(item: dict[str, Any]) -> Container:
    config = item.get("Config") or {}
    labels = config.get("Labels") or {}
    state = item.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    number = labels.get("com.docker.compose.container-number", "0")
    return Container(
        id=item["Id"],
        name=item.get("Name", "").lstrip("/"),
        project=labels.get(PROJECT_LABEL, ""),
        service=labels.get(SERVICE_LABEL, ""),
        number=int(number) if str(number).isdigit() else 0,
        status=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode") or 0),
        health=health,
        created=item.get("Created", ""),
        started_at=state.get("StartedAt", ""),
        networks={name: (net or {}).get("IPAddress", "") for name, net in networks.items()},
        stop_timeout=config.get("StopTimeout"),
        image=item.get("Image", ""),
    )


@dataclass(frozen=True)
class ComposeModel:
    """The parts of `docker compose config --format json` that leo acts on."""

    services: dict[str, dict[str, Any]]

    def replicas(self, service: str) -> int:
        spec = self.services.get(service) or {}
        deploy = spec.get("deploy") or {}
        count = deploy.get("replicas", spec.get("scale", 1))
        return max(1, int(count if count is not None else 1))


def parse_compose_config(text: str) -> ComposeModel:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LeoError(f"unexpected output from docker compose config: {exc}") from exc
    return ComposeModel(services=dict(raw.get("services") or {}))


def parse_sha256sum(text: str) -> dict[str, str]:
    """`sha256sum` lines -> {path: hexdigest}."""
    hashes: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 64:
            hashes[path] = digest
    return hashes


def parse_nginx_workers(text: str) -> list[int]:
    """PIDs of nginx's non-master processes from `ps -C nginx -o pid=,args=`."""
    pids = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit() and args.startswith("nginx:") and "master process" not in args:
            pids.append(int(pid))
    return pids


def parse_image_origins(text: str) -> dict[str, str]:
    """Output of commands.docker.image_origins -> {image: "missing" | "local" | "registry"}."""
    origins = {}
    for line in text.splitlines():
        image, sep, count = line.rpartition("\t")
        if not sep:
            continue
        count = count.strip()
        origins[image] = (
            "missing"
            if count == "missing"
            else ("registry" if count.isdigit() and int(count) > 0 else "local")
        )
    return origins


def parse_upstream(text: str) -> list[str]:
    """Addresses in an upstream.conf written by leo (the `down` placeholder excluded)."""
    servers = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].replace(";", " ").split()
        if len(words) >= 2 and words[0] == "server" and "down" not in words[2:]:
            servers.append(words[1].rsplit(":", 1)[0])
    return servers
