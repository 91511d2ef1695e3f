"""Pure parsers of what commands print on a host (docker inspect, compose config, sha256sum).

Each parser takes captured text and returns plain data; tests feed them real
captured output. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .commands.docker import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL
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
    # network name -> the address nginx can use: IPv4, else the global IPv6 address
    networks: dict[str, str] = field(default_factory=dict)
    stop_timeout: int | None = None
    image: str = ""
    oneoff: bool = False  # `docker compose run`: never rotated, retired or served

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def address(self, preferred: Sequence[str] = ()) -> str | None:
        """The address nginx should use: on the first of `preferred` networks the
        container is attached to, else its only address; None when that is ambiguous."""
        for network in preferred:
            if self.networks.get(network):
                return self.networks[network]
        with_ip = sorted(ip for ip in self.networks.values() if ip)
        return with_ip[0] if len(with_ip) == 1 and not preferred else None


def host_port(address: str, port: int) -> str:
    """`address:port` as nginx and curl want it (IPv6 in brackets)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


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
    # compose labels one-off containers (`compose run`) oneoff=True, service containers False.
    oneoff = str(labels.get(ONEOFF_LABEL, "False")).lower() == "true"
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
        networks={name: _reachable_address(net or {}) for name, net in networks.items()},
        stop_timeout=config.get("StopTimeout"),
        image=item.get("Image", ""),
        oneoff=oneoff,
    )


def _reachable_address(network: dict[str, Any]) -> str:
    return network.get("IPAddress") or network.get("GlobalIPv6Address") or ""


@dataclass(frozen=True)
class ComposeModel:
    """The parts of `docker compose config --format json` that leo acts on."""

    services: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def replicas(self, service: str) -> int:
        spec = self.services.get(service) or {}
        deploy = spec.get("deploy") or {}
        count = deploy.get("replicas", spec.get("scale", 1))
        return max(1, int(count if count is not None else 1))

    def reachable_networks(self, service: str) -> list[str]:
        """Docker names of the networks `service` is on, in the order nginx on the host
        should use them: the project's default network, then the others, `internal`
        ones last (the host reaches those too: it owns their bridge address)."""
        attached = list((self.services.get(service) or {}).get("networks") or {})

        def order(key: str) -> tuple[bool, bool, str]:
            spec = self.networks.get(key) or {}
            return (key != "default", bool(spec.get("internal")), key)

        return [
            str((self.networks.get(k) or {}).get("name") or k) for k in sorted(attached, key=order)
        ]

    def depends_on(self, service: str) -> dict[str, str]:
        """The services `service` depends on, each with its condition
        (service_started, service_healthy, service_completed_successfully)."""
        raw = (self.services.get(service) or {}).get("depends_on") or {}
        if isinstance(raw, list):  # compose normalises to a mapping; accept both
            return {str(name): "service_started" for name in raw}
        return {
            str(name): str((spec or {}).get("condition") or "service_started")
            for name, spec in raw.items()
        }

    def release_phase(self, targets: Sequence[str]) -> list[str]:
        """One-shot services that `targets` wait for with `condition:
        service_completed_successfully` (migrations), their own such
        dependencies first: compose runs them to completion before it starts
        the services that depend on them, and so does a rotate."""
        ordered: list[str] = []

        def visit(service: str, seen: tuple[str, ...]) -> None:
            for dep, condition in self.depends_on(service).items():
                if condition != "service_completed_successfully" or dep in seen:
                    continue
                visit(dep, (*seen, dep))
                if dep not in ordered and dep in self.services:
                    ordered.append(dep)

        for target in targets:
            visit(target, (target,))
        return ordered


def parse_compose_config(text: str) -> ComposeModel:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LeoError(f"unexpected output from docker compose config: {exc}") from exc
    return ComposeModel(
        services=dict(raw.get("services") or {}), networks=dict(raw.get("networks") or {})
    )


DRY_RUN_MARKER = "DRY-RUN MODE"


def not_dry(line: str) -> bool:
    """A line of compose's `--dry-run` output that reports a container action without
    the dry-run marker (docker/compose#14029: such a run was not dry)."""
    return " Container " in f" {line} " and DRY_RUN_MARKER not in line


def parse_recreated(text: str) -> set[str]:
    """Container names compose's `--dry-run up` says it would recreate."""
    found = set()
    for line in text.splitlines():
        words = line.split()
        if "Container" in words:
            at = words.index("Container")
            if words[at + 1 : at + 3][-1:] == ["Recreate"]:
                found.add(words[at + 1])
    return found


def parse_files(text: str) -> dict[str, str]:
    """path -> text, from the output of fs.read_many (paths never contain a newline:
    leo's own paths, built from validated names)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        path, _, encoded = line.rpartition(" ")
        if path:
            found[path] = base64.b64decode(encoded).decode("utf-8", "replace")
    return found


def parse_sha256sum(text: str) -> dict[str, str]:
    """`sha256sum` lines -> {path: hexdigest}."""
    hashes: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 64:
            hashes[path] = digest
    return hashes


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


def parse_image_ids(text: str) -> dict[str, str | None]:
    """Output of commands.docker.image_ids -> {reference: image ID, or None when missing}."""
    ids: dict[str, str | None] = {}
    for line in text.splitlines():
        reference, sep, image_id = line.rpartition("\t")
        if sep:
            image_id = image_id.strip()
            ids[reference] = None if image_id == "missing" else image_id
    return ids


def parse_upstream(text: str) -> list[str]:
    """Addresses in an upstream.conf written by leo (the `down` placeholder excluded)."""
    servers = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].replace(";", " ").split()
        if len(words) >= 2 and words[0] == "server" and "down" not in words[2:]:
            servers.append(words[1].rsplit(":", 1)[0].strip("[]"))
    return servers


def parse_default_servers(dump: str, *, exclude: Sequence[str] = ()) -> set[int]:
    """Ports with a `default_server` in `nginx -T` output, files in `exclude` left out.

    Used to leave the host's own catch-all alone: nginx refuses two default
    servers on one address and port.
    """
    ports: set[int] = set()
    current = ""
    for line in dump.splitlines():
        if line.startswith("# configuration file ") and line.endswith(":"):
            current = line[len("# configuration file ") : -1]
            continue
        if current in exclude:
            continue
        text = line.split("#", 1)[0]
        for match in re.finditer(r"(?:^|[\s;{}])listen\s+([^;]+);", text):
            words = match.group(1).split()
            if any(w in ("default_server", "default") for w in words[1:]):
                ports.add(_listen_port(words[0]))
    return ports


def _listen_port(address: str) -> int:
    """The port of a `listen` address: `80`, `[::]:80`, `127.0.0.1:8080`, `*:80`, `[::1]`."""
    if address.isdigit():
        return int(address)
    if address.endswith("]"):
        return 80
    tail = address.rsplit(":", 1)[-1] if ":" in address else ""
    return int(tail) if tail.isdigit() else 80


def parse_nginx_version(text: str) -> tuple[int, ...]:
    """`nginx version: nginx/1.22.1` (or openresty/...) -> (1, 22, 1); () if unknown."""
    found = re.search(r"/(\d+(?:\.\d+)*)", text)
    return tuple(int(n) for n in found.group(1).split(".")) if found else ()
