#!/usr/bin/env python3
"""What a slow link costs a deploy: wall time, round trips and phases at RTT 0-200 ms.

    bash scripts/provision-testhost.sh && .venv/bin/python bench/deploy_latency.py --rounds 3
    .venv/bin/python bench/deploy_latency.py --fleet 3   # 3 fleet hosts (scripts/fleet.sh)

leo reaches the host's sshd through bench/slowlink.py, a relay that delays every
chunk by RTT/2 each way (no `netem` on these kernels). For each RTT it runs
`leo deploy --compose` of a file whose web image alternates between
leo-test-web:v1 and :v2, so every run is a real release: new container, health
wait, nginx switch, drain, retire, release record.

Printed per RTT: deploy wall time (min and median), what the deploy cost in SSH
terms as leo counts it (the `timings:` line it prints after a deploy): remote
commands, round trips it waited for, exec channels opened, SFTP operations,
connections; and the median time of each phase (from leo's
step lines, see bench/leophases.py). The last column is the extra time against
RTT 0 (loopback through the same relay), which is what the link costs.

A measurement, not a test: exits 0 whatever the figures, 1 when leo fails, 2
for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from leophases import PHASES, parse  # noqa: E402
from slowlink import SlowLink  # noqa: E402

TESTHOST_DIR = Path("/var/lib/leo-testhost")
FLEET_DIR = Path(os.environ.get("LEO_FLEET_DIR", "/var/lib/leo-fleet"))
IMAGES = ("leo-test-web:v1", "leo-test-web:v2")
# `[leo-deploy@h] timings: ...; 12 commands in 9 round trips, 2 exec channels,
# 0 SFTP operations, 1 connection` (leo_tasks/timings.py)
TIMINGS = re.compile(
    r"(?P<commands>\d+) commands? in (?P<round_trips>\d+) round trips?, "
    r"(?P<channels>\d+) exec channels?, "
    r"(?P<sftp>\d+) SFTP operations?, (?P<connections>\d+) connections?"
)


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


@dataclass
class Run:
    wall: float
    phases: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Target:
    """Where leo deploys: (alias, host, port) triples and the known_hosts to copy."""

    hosts: list[tuple[str, str, int]]
    key: Path
    known_hosts: str

    def home(self, path: Path, relays: dict[str, SlowLink] | None = None) -> Path:
        """A HOME whose ssh config reaches each host directly, or through its relay."""
        ssh = path / ".ssh"
        if ssh.exists():
            shutil.rmtree(ssh)
        ssh.mkdir(parents=True, mode=0o700)
        shutil.copy(self.key, ssh / "id_ed25519")
        (ssh / "id_ed25519").chmod(0o600)
        config, known = [], [self.known_hosts]
        for alias, address, port in self.hosts:
            if relays:
                relay = relays[alias]
                config.append(f"Host {alias}\n  HostName 127.0.0.1\n  Port {relay.port}\n")
                # The relay is the same host, so the same key, under the relay's address.
                for line in self.known_hosts.splitlines():
                    name = address if port == 22 else f"[{address}]:{port}"
                    if name in line.split(" ", 1)[0].split(","):
                        known.append(f"[127.0.0.1]:{relay.port} {line.split(' ', 1)[1]}")
            else:
                config.append(f"Host {alias}\n  HostName {address}\n  Port {port}\n")
            config[-1] += f"  IdentityFile {ssh / 'id_ed25519'}\n"
        (ssh / "config").write_text("".join(config))
        (ssh / "known_hosts").write_text("\n".join(known) + "\n")
        return path


def leo(home: Path, cwd: Path, *args: str) -> Run:
    """Run leo (-v for the command lines); stamp its stderr lines as they arrive."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/leo"), *args],
        cwd=cwd,
        env={"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append((time.monotonic() - started, line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(600)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit(f"leo {' '.join(args)} did not finish within 600 s")
    wall = time.monotonic() - started
    reader.join(10)
    if code != 0:
        tail = "".join(line for _, line in lines[-40:])
        sys.exit(f"leo {' '.join(args)} exited {code}:\n{tail}")
    parsed = parse(lines, wall=wall)
    counts: dict[str, int] = {}
    for _, line in lines:
        m = TIMINGS.search(line)
        if m:  # one summary per host: add them up
            for key, value in m.groupdict().items():
                counts[key] = counts.get(key, 0) + int(value)
    counts.setdefault("commands", parsed.commands)
    counts.setdefault("sftp", parsed.uploads)
    return Run(wall, parsed.phases, counts)


def single_host() -> Target:
    return Target(
        [("bench1", "127.0.0.1", 2222)],
        TESTHOST_DIR / "id_ed25519",
        (TESTHOST_DIR / "known_hosts").read_text(),
    )


def fleet(size: int) -> Target:
    script = ROOT / "scripts/fleet.sh"
    log(f"fleet: {script} up {size}")
    subprocess.run(["bash", str(script), "up", str(size)], check=True, capture_output=True)
    ips = (FLEET_DIR / "hosts").read_text().split()[:size]
    return Target(
        [(f"h{i}", ip, 22) for i, ip in enumerate(ips, 1)],
        FLEET_DIR / "id_ed25519",
        (FLEET_DIR / "known_hosts").read_text(),
    )


def prepare(target: Target, work: Path, app: str, project: Path, fleet_size: int) -> None:
    """Create and first-deploy the app, directly (no relay)."""
    home = target.home(work / "home-direct")
    names = ",".join(alias for alias, _, _ in target.hosts)
    run = lambda *a: leo(home, project, *a)  # noqa: E731
    if fleet_size:
        roots = ",".join(f"root@{alias}" for alias, _, _ in target.hosts)
        run("setup", "--host", roots, "--pubkey", str(target.key) + ".pub")
        run("push", "--host", names, *[a for i in IMAGES for a in ("--image", i)])
    found = subprocess.run(
        [str(ROOT / ".venv/bin/leo"), "status", "--app", app, "--host", names],
        cwd=project,
        env={"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
    )
    if "no app" in found.stderr or "does not exist" in found.stderr:
        run("create", "--app", app, "--host", names, "--compose", "v1.yml", "-d", f"{app}.test")
    elif found.returncode not in (0, 1):
        sys.exit(f"leo status failed:\n{found.stderr[-2000:]}")
    run("deploy", "--app", app, "--host", names, "--compose", "v1.yml")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="deploys per RTT (at least 3)")
    p.add_argument("--rtt", default="0,50,100,200", help="round trips to simulate, in ms")
    p.add_argument("--fleet", type=int, default=0, help="deploy to N fleet hosts instead")
    args = p.parse_args()
    try:
        rtts = [int(x) for x in args.rtt.split(",")]
    except ValueError:
        p.error("--rtt: comma-separated milliseconds")
    if args.rounds < 1:
        p.error("--rounds: at least 1")

    target = fleet(args.fleet) if args.fleet else single_host()
    app = "latfleet" if args.fleet else "latbench"
    work = Path(tempfile.mkdtemp(prefix="latbench-"))
    project = work / "project"
    project.mkdir()
    for n, image in enumerate(IMAGES, 1):
        (project / f"v{n}.yml").write_text(
            f"services:\n  web:\n    image: {image}\n    env_file: ./env\n"
        )
    prepare(target, work, app, project, args.fleet)
    names = ",".join(alias for alias, _, _ in target.hosts)

    results: dict[int, list[Run]] = {}
    flip = 1
    for rtt in rtts:
        relays = {alias: SlowLink((addr, port), rtt / 1000) for alias, addr, port in target.hosts}
        home = target.home(work / f"home-{rtt}", relays)
        runs = []
        for _ in range(args.rounds):
            flip = 2 if flip == 1 else 1
            runs.append(
                leo(
                    home, project, "deploy", "--app", app, "--host", names,
                    "--compose", f"v{flip}.yml", "-v",
                )
            )  # fmt: skip
            log(f"RTT {rtt} ms: {runs[-1].wall:.2f} s")
        results[rtt] = runs
        for relay in relays.values():
            relay.close()

    # `leo rotate` straight to the host (no relay): the new container's time to be
    # ready and the drain are the app's and nginx's; everything else is leo's.
    # (One host: a fleet's phases would add up over its hosts.)
    direct = target.home(work / "home-direct")
    rotates = [leo(direct, project, "rotate", "--app", app, "--host", names, "-v")
               for _ in range(args.rounds if not args.fleet else 0)]  # fmt: skip

    where = f"{args.fleet} fleet hosts in parallel" if args.fleet else "one host (the test host)"
    print(f"\nleo deploy over a slow link, {where}, {args.rounds} rounds per RTT")
    print(
        f"{'RTT ms':>6} {'min s':>6} {'median s':>8} {'+ vs 0':>7} "
        f"{'commands':>8} {'round trips':>11} {'exec ch':>7} {'SFTP ops':>8} {'conns':>5}"
    )
    base = statistics.median(r.wall for r in results[rtts[0]]) if rtts[0] == 0 else None
    for rtt, runs in results.items():
        walls = [r.wall for r in runs]
        last = runs[-1].counts
        extra = f"{statistics.median(walls) - base:+.2f}" if base is not None else "-"
        print(
            f"{rtt:>6} {min(walls):>6.2f} {statistics.median(walls):>8.2f} {extra:>7} "
            f"{last.get('commands', 0):>8} {last.get('round_trips', '?'):>11} "
            f"{last.get('channels', '?'):>7} "
            f"{last.get('sftp', 0):>8} {last.get('connections', '?'):>5}"
        )
    print("\nmedian seconds by phase (connect = process start to first remote command)")
    shown = [ph for ph in PHASES if any(r.phases.get(ph) for rs in results.values() for r in rs)]
    print(f"{'RTT ms':>6} " + " ".join(f"{ph[:12]:>12}" for ph in shown))
    for rtt, runs in results.items():
        cells = [statistics.median(r.phases.get(ph, 0.0) for r in runs) for ph in shown]
        print(f"{rtt:>6} " + " ".join(f"{c:>12.2f}" for c in cells))
    if not rotates:
        return 0
    print(f"\nleo rotate without a relay, {args.rounds} runs (seconds)")
    print(f"{'wall':>6} {'ready':>6} {'drain':>6} {'leo':>6}  (leo = wall - ready - drain)")
    for r in rotates:
        ready, drained = r.phases.get("wait until ready", 0.0), r.phases.get("drain", 0.0)
        print(f"{r.wall:>6.2f} {ready:>6.2f} {drained:>6.2f} {r.wall - ready - drained:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
