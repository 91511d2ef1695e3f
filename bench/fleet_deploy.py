#!/usr/bin/env python3
"""Fleet figures on real hosts (scripts/fleet.sh): deploy time for 1, 3 and 5 hosts in
parallel, a rolling `--batch 1` deploy, `leo push` time and bytes, and failed requests
through the load balancer while the fleet deploys.

    bash scripts/provision-testhost.sh && .venv/bin/python bench/fleet_deploy.py --rounds 3

It starts the fleet (`scripts/fleet.sh up 5`) if needed, sets the hosts up, pushes
the test images, creates the app `fleetbench` and deploys it. Figures, not
assertions: it prints a table and exits 0 unless leo itself failed.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from wrkload import WrkRun, format_statuses  # noqa: E402

from tests.fleet.fleetkit import SCRIPT, make_home, on  # noqa: E402

APP = "fleetbench"
DOMAIN = "fleetbench.test"
LB_URL = "http://127.0.0.1:8080/"
IMAGES = ("leo-test-web:v1", "leo-test-web:v2")


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class Leo:
    def __init__(self, home: Path, project: Path, leo: str) -> None:
        self.home, self.project, self.leo = home, project, leo

    def __call__(self, *args: str) -> tuple[float, str]:
        started = time.monotonic()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            [self.leo, *args],
            cwd=self.project,
            env={"HOME": str(self.home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            capture_output=True,
            text=True,
            timeout=900,
        )
        elapsed = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        if proc.returncode != 0:
            sys.exit(f"leo {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return elapsed, proc.stderr


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def compose(dir_: Path, image: str) -> str:
    path = dir_ / f"compose-{image.replace(':', '-')}.yml"
    path.write_text(f"services:\n  web:\n    image: {image}\n    env_file: ./env\n")
    return str(path)


def pushed_bytes(stderr: str) -> str:
    """What the push step lines say was sent: `push a:1, b:1: 1.1 MB in 0.3s (...)`."""
    sizes = re.findall(r"\] push .*?: ([\d.]+ [kMG]?B) in ", stderr)
    return f"{len(sizes)} hosts x {sizes[0]}" if sizes else "0 B (already there)"


def host_seconds(stderr: str) -> list[float]:
    """Each host's own time, from the summary table leo prints (one host: none)."""
    return [float(t[:-1]) for t in re.findall(r"^\S+\s+ok\s+\d+\s+([\d.]+s)", stderr, re.M)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="deploys per measurement (median)")
    p.add_argument("--hosts", type=int, default=5, help="fleet size (at least 3)")
    p.add_argument("--leo", default=str(ROOT / ".venv/bin/leo"))
    args = p.parse_args()
    names = [f"h{i}" for i in range(1, args.hosts + 1)]

    log(f"fleet: {SCRIPT} up {args.hosts}")
    subprocess.run(["bash", str(SCRIPT), "up", str(args.hosts)], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="fleetbench-"))
    home = make_home(work / "home", names)
    project = work / "project"
    project.mkdir()
    (project / "leo.yaml").write_text(
        f"app: {APP}\nhosts:\n  all: [{', '.join(names)}]\n"
        f"  roots: [{', '.join('root@' + n for n in names)}]\n"
    )
    leo = Leo(home, project, args.leo)
    rows: list[tuple[str, str]] = []

    leo("setup", "--host", "roots", "--pubkey", str(home / ".ssh/id_ed25519.pub"))
    for name in names:
        on(name, "sh", "-c", f"docker rmi -f {' '.join(IMAGES)} >/dev/null 2>&1; true")
    image_args = [a for image in IMAGES for a in ("--image", image)]
    seconds, err = leo("push", "--host", "all", *image_args)
    rows.append(
        (f"push 2 images to {len(names)} hosts, first", f"{seconds:.2f}s, {pushed_bytes(err)}")
    )
    seconds, err = leo("push", "--host", "all", *image_args)
    rows.append(
        (f"push 2 images to {len(names)} hosts, again", f"{seconds:.2f}s, {pushed_bytes(err)}")
    )

    existing = on(
        names[0], "sh", "-c", f"test -d /home/leo-deploy/apps/{APP} && echo yes", ok=False
    )
    if existing.strip() == "yes":
        leo("destroy", "--host", "all", "--yes")
    leo("create", "--host", "all", "--image", IMAGES[0], "--domain", DOMAIN)
    leo("env.set", "--host", "all", "--name", "LEO_DRAIN_SECONDS", "--value", "1")
    leo("rotate", "--host", "all")

    flip = iter(range(10**6))

    slowest: dict[int, float] = {}
    cpu: dict[int, float] = {}
    busy: dict[int, float] = {}

    def deploy(hosts: str, *extra: str) -> float:
        image = IMAGES[next(flip) % 2 == 0]
        busy_before, total_before = cpu_ticks()
        seconds, err = leo("deploy", "--host", hosts, "--compose", compose(work, image), *extra)
        busy_after, total_after = cpu_ticks()
        count = hosts.count(",") + 1 if hosts != "all" else args.hosts
        busy.setdefault(count, 0.0)
        busy[count] += (busy_after - busy_before) / max(1, total_after - total_before) / args.rounds
        slowest.setdefault(count, 0.0)
        slowest[count] += max(host_seconds(err) or [0.0]) / args.rounds
        cpu.setdefault(count, 0.0)
        cpu[count] += leo.last_cpu / args.rounds
        return seconds

    medians = {}
    for count in (1, 3, args.hosts):
        hosts = ",".join(names[:count])
        times = [deploy(hosts) for _ in range(args.rounds)]
        medians[count] = statistics.median(times)
        rows.append(
            (
                f"deploy, {count} host{'s' if count > 1 else ''} in parallel",
                f"median {medians[count]:.2f}s ("
                + ", ".join(f"{t:.2f}" for t in times)
                + f"); leo's own CPU {cpu[count]:.2f}s; machine CPU busy {busy[count]:.0%}"
                + (f"; slowest host's rotate {slowest[count]:.2f}s" if count > 1 else ""),
            )
        )
    ratio = medians[args.hosts] / medians[1]
    rows.append((f"{args.hosts} hosts / 1 host", f"{ratio:.2f}x"))
    times = [deploy("all", "--batch", "1") for _ in range(args.rounds)]
    rows.append(
        (f"deploy, {args.hosts} hosts, --batch 1", f"median {statistics.median(times):.2f}s")
    )

    for client in ("close", "keepalive"):  # the floor: the same load with no deploy
        run = WrkRun(client, host_header=DOMAIN, url=LB_URL, duration=10, status_codes=True)
        totals = run.start().wait()
        rows.append(
            (
                f"through the LB, no deploy (10 s), {client}",
                f"{totals.requests} requests, {totals.failed} failed "
                f"(socket errors {totals.socket_errors}, timeouts {totals.timeout})",
            )
        )
    for label, extra in (("parallel", ()), ("--batch 1", ("--batch", "1"))):
        for client in ("close", "keepalive"):
            run = WrkRun(client, host_header=DOMAIN, url=LB_URL, duration=120, status_codes=True)
            run.start()
            time.sleep(1)
            deploy("all", *extra)
            time.sleep(1)
            run.interrupt()
            totals = run.wait()
            rows.append(
                (
                    f"through the LB, {label} deploy, {client}",
                    f"{totals.requests} requests, {totals.failed} failed "
                    f"(statuses {format_statuses(totals.statuses)}, socket errors "
                    f"{totals.socket_errors}, timeouts {totals.timeout})",
                )
            )

    width = max(len(label) for label, _ in rows)
    print(f"\nleo_tasks fleet bench, {args.hosts} hosts (scripts/fleet.sh), {args.rounds} rounds")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
