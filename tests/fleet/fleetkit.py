"""What the fleet tests use to drive leo and look at the fleet's hosts from outside.

The fleet (scripts/fleet.sh) is N Debian 12 hosts, each a container with its
own dockerd, sshd and nginx on 172.31.250.1x, plus a load balancer (a second
nginx on this machine, 127.0.0.1:8080) in front of all of them. Tests look at
a host from outside with `docker exec` as its root, never through leo.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..e2e.hostkit import http_get

FLEET_DIR = Path(os.environ.get("LEO_FLEET_DIR", "/var/lib/leo-fleet"))
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fleet.sh"
LB = ("127.0.0.1", 8080)
APPS = "/home/leo-deploy/apps"


def container(host: str) -> str:
    """`h2` -> the container that is host h2."""
    return f"leo-fleet-{host}"


def on(host: str, *argv: str, ok: bool = True, stdin: str | None = None) -> str:
    """Run `argv` as root on a fleet host (the view from outside leo); its stdout."""
    proc = subprocess.run(
        ["docker", "exec", "-i", container(host), *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok and proc.returncode != 0:
        raise AssertionError(f"{host}: {argv} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout


def ips() -> list[str]:
    return (FLEET_DIR / "hosts").read_text().split()


def make_home(home: Path, names: list[str]) -> Path:
    """A HOME whose ~/.ssh knows the fleet: its key, host keys and `h1..hN` aliases."""
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("id_ed25519", "id_ed25519.pub"):
        shutil.copy(FLEET_DIR / name, ssh / name)
    (ssh / "id_ed25519").chmod(0o600)
    shutil.copy(FLEET_DIR / "known_hosts", ssh / "known_hosts")
    (ssh / "config").write_text(
        "".join(
            f"Host {name}\n  HostName {ip}\n  IdentityFile {ssh / 'id_ed25519'}\n"
            for name, ip in zip(names, ips(), strict=False)
        )
    )
    return home


def served_version(ip: str, domain: str) -> str:
    """The version line the app on one host serves (`leo-test-web v1` -> `v1`)."""
    status, body = http_get(domain, address=(ip, 80))
    assert status == 200, f"{ip} answered {status} for {domain}: {body[:200]}"
    return body.split()[1]


def releases(host: str, app: str) -> list[dict]:
    """The release records on a host, oldest first, read as root from its files."""
    out = on(
        host,
        "sh",
        "-c",
        # One record after another, each ended by an ASCII record separator.
        f'for f in {APPS}/{app}/.leo/releases/*.json; do [ -e "$f" ] && cat "$f"; '
        'printf "\\036"; done',
        ok=False,
    )
    records = [json.loads(chunk) for chunk in out.split("\x1e") if chunk.strip()]
    return sorted(records, key=lambda r: r["number"])


def container_ids(host: str, app: str) -> list[str]:
    out = on(
        host,
        "docker",
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        f"label=com.docker.compose.project={app}",
    )
    return sorted(out.split())
