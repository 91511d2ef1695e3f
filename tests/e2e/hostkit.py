"""What the e2e tests use to drive leo and look at the test host from outside.

The test host is this machine (see scripts/provision-testhost.sh): sshd on
127.0.0.1:2222, docker, nginx on :80. Tests run the real `leo` console script
with HOME pointed at a private directory, so the developer's ~/.ssh is never
read or written.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TESTHOST_DIR = Path(os.environ.get("LEO_TESTHOST_DIR", "/var/lib/leo-testhost"))
TESTHOST_PORT = int(os.environ.get("LEO_TESTHOST_PORT", "2222"))
LEO = str(Path(sys.executable).parent / "leo")
APPS = Path("/home/leo-deploy/apps")
HISTORY = Path("/home/leo-deploy/history")


def make_home(home: Path, *, known_hosts: bool = True) -> Path:
    """A HOME with the test client key, an ssh config for `testhost`, known_hosts."""
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in ("id_ed25519", "id_ed25519.pub"):
        shutil.copy(TESTHOST_DIR / name, ssh / name)
    (ssh / "id_ed25519").chmod(0o600)
    (ssh / "config").write_text(
        f"Host testhost\n  HostName 127.0.0.1\n  Port {TESTHOST_PORT}\n"
        f"  IdentityFile {ssh / 'id_ed25519'}\n"
    )
    if known_hosts:
        shutil.copy(TESTHOST_DIR / "known_hosts", ssh / "known_hosts")
    return home


@dataclass
class Leo:
    """Runs the installed `leo` console script as a user would."""

    home: Path

    def __call__(
        self,
        *args: str,
        ok: bool = True,
        cwd: Path | None = None,
        timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [LEO, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(self.home), **(env or {})},
        )
        if ok and proc.returncode != 0:
            raise AssertionError(
                f"leo {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc


def sh(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """A command on the test host, run directly as root: the view from outside leo."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr}")
    return proc


def http_get(
    domain: str, path: str = "/", timeout: float = 5, address: tuple[str, int] = ("127.0.0.1", 80)
) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": domain, "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def http_raw(domain: str, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": domain, "Connection": "close"})
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, path)
        return resp.read()
    finally:
        conn.close()


@dataclass(frozen=True)
class ContainerView:
    id: str
    name: str
    service: str
    image: str
    state: str
    ips: tuple[str, ...]


def containers(app: str, *, all_states: bool = True) -> list[ContainerView]:
    argv = [
        "docker",
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        f"label=com.docker.compose.project={app}",
    ]
    if all_states:
        argv.insert(2, "-a")
    ids = sh(*argv).stdout.split()
    if not ids:
        return []
    found = []
    for item in json.loads(sh("docker", "inspect", *ids).stdout):
        nets = item["NetworkSettings"]["Networks"] or {}
        found.append(
            ContainerView(
                id=item["Id"],
                name=item["Name"].lstrip("/"),
                service=item["Config"]["Labels"].get("com.docker.compose.service", ""),
                image=item["Config"]["Image"],
                state=item["State"]["Status"],
                ips=tuple(n["IPAddress"] for n in nets.values() if n.get("IPAddress")),
            )
        )
    return sorted(found, key=lambda c: c.name)


# leo's host-wide nginx lock: a leo run of another test (run in parallel) may have a
# site it is trying out in place for a moment, under this lock.
NGINX_LOCK = Path("/home/leo-deploy/.nginx.lock")


def nginx(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """`nginx ARGS` on the test host, under leo's nginx lock once leo set it up."""
    argv = ["nginx", *args]
    if NGINX_LOCK.exists():
        argv = ["flock", "--wait", "60", str(NGINX_LOCK), *argv]
    return sh(*argv, ok=ok)


def nginx_ok() -> bool:
    return nginx("-t", ok=False).returncode == 0


def write_compose(path: Path, web_image: str, **others: str) -> Path:
    """A compose file with a `web` service (+ other services by name=image)."""
    lines = ["services:", "  web:", f"    image: {web_image}", "    env_file: ./env"]
    for name, image in others.items():
        lines += [f"  {name}:", f"    image: {image}", "    env_file: ./env"]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Load:
    """Bounded HTTP load through nginx (new connection per request) in threads."""

    domain: str
    workers: int = 4
    max_seconds: float = 120
    address: tuple[str, int] = ("127.0.0.1", 80)  # nginx here, or a load balancer
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    bodies: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, daemon=True) for _ in range(self.workers)
        ]
        self._lock = threading.Lock()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = http_get(self.domain, address=self.address)
                with self._lock:
                    self.statuses[status] += 1
                    self.bodies[body.splitlines()[0] if body else ""] += 1
            except Exception as exc:
                with self._lock:
                    self.errors.append(repr(exc))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != 200) + len(self.errors)


class Background:
    """A `leo` run in the background whose progress lines can be waited for."""

    def __init__(self, leo: Leo, *args: str) -> None:
        self.proc = subprocess.Popen(
            [LEO, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOME": str(leo.home)},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"leo never printed {text!r}:\n{''.join(self.lines)}")

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no cleanup code in leo runs
        self.proc.wait(timeout=10)

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def set_env(leo: Leo, app: str, name: str, value: str) -> subprocess.CompletedProcess[str]:
    """`leo env.set` on the test host (must succeed)."""
    return leo("env.set", "--app", app, "--host", "testhost", "--name", name, "--value", value)


APP_FILES = (
    "docker-compose.yml",
    "docker-compose.leo.yml",
    "nginx.conf",
    "upstream.conf",
    "env",
    "tls.conf",
)


def app_files(app: str) -> dict[str, bytes]:
    """The app's files on the host that a failed run must leave as they were."""
    root = APPS / app
    return {name: (root / name).read_bytes() for name in APP_FILES if (root / name).exists()}


def container_states(app: str) -> list[tuple[str, str]]:
    """(id, state) of every container of the app, one-offs included."""
    return sorted((c.id, c.state) for c in containers(app))


def deploy(leo: Leo, app: str, compose: Path, *extra: str, ok: bool = True):
    return leo(
        "deploy", "--app", app, "--host", "testhost", "--compose", str(compose), *extra, ok=ok
    )


def compose_text(path: Path, text: str) -> Path:
    """A hand-written compose file (dedented)."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip())
    return path


def first_deploy(leo: Leo, app: str, compose: Path) -> subprocess.CompletedProcess[str]:
    """`leo create` (domain `<app>.test`), a short drain bound, then the first rotate."""
    leo(
        "create",
        "--app",
        app,
        "--host",
        "testhost",
        "--compose",
        str(compose),
        "--domain",
        f"{app}.test",
    )
    set_env(leo, app, "LEO_DRAIN_SECONDS", "0.5")
    return leo("rotate", "--app", app, "--host", "testhost")


def wait_lock_free(leo: Leo, app: str, why: str, timeout: float = 20) -> None:
    """Poll `leo lock` until the app's deploy lock is free; fail with `why` after `timeout`."""
    deadline = time.monotonic() + timeout
    while "deploy lock free" not in leo("lock", "--app", app, "--host", "testhost").stdout:
        assert time.monotonic() < deadline, why
        time.sleep(0.3)
