#!/usr/bin/env python3
"""What a release costs the clients: leo's rotate vs. the naive way, under load.

Run as root on a machine prepared by scripts/provision-testhost.sh (the host
leo deploys to must be THIS machine: scenarios b and c act on it directly):

    python3 bench/rotate_under_load.py [--rounds 3] [--duration 10] [--skip-naive]

It deploys a sample app (`bench`, served by nginx as `bench.localhost`; created
and first-deployed if needed), then for every scenario and every client type
runs wrk against nginx (http://127.0.0.1/, Host: bench.localhost) for one
window: the action starts 1 s into it, and the window lasts --duration seconds
or until 1 s after the action ended, whichever is later (wrk is started with a
long -d and stopped with SIGINT, which makes it print its totals).

Scenarios
  a  leo rotate   `leo deploy --compose` of a compose file whose web image differs
                  from the running one (leo-test-web:v1 and :v2 alternate), so there
                  is really a new release: new container, health wait, nginx switch
                  (one reload), drain (until nginx's old workers are gone, at most
                  LEO_DRAIN_SECONDS), then the old container is removed.
  b  naive        the same image change done by hand: edit docker-compose.yml, then
                  `docker compose up -d --force-recreate` as root. nginx is not told:
                  it keeps the old container's address, so once the old container is
                  gone every request fails until something re-points nginx. Unless the
                  new container happens to get the old one's IP back, the failures go
                  on to the end of the window; the row then says `stale upstream`.
                  After the window, `leo rotate` re-syncs nginx (not measured).
  c  reload       a bare `nginx -s reload`, nothing changed: what any nginx reload
                  (including the one inside a rotate) costs by itself.
  d  idle         nothing happens: the noise floor of this machine.

Client types (wrk -t2 -c20 by default)
  close          `Connection: close`: a new connection per request.
  keep-alive     plain wrk: connections reused for many requests.

How to read the tables
  secs       length of the window (more than --duration when the action was slower).
  requests   responses received in the window (any status).
  non-2xx    responses with status >= 400 (wrk's "Non-2xx or 3xx responses").
  connect/read/write/timeout   wrk's socket errors; timeout = response slower than 2 s.
  failed     non-2xx + connect + read + write + timeout; the summary's [%] is failed
             per request sent (requests + connect + read + write errors).
  A few timeouts can show up in any row, idle included: the test image's busybox
  httpd listens with a backlog of 9, so at 20 connections some of nginx's connects
  to it are dropped and retried by TCP after 1 s (then 3 s): slow, not lost.
  reloads    nginx reloads seen during the window (new worker processes), by
             anyone: a rotate and a reload cause exactly 1. A `!` marks a window
             with more than the action explains: another process (a test suite, ...)
             reloaded nginx, and its errors are mixed into that row.
  leo phases seconds per phase from leo's own step lines (see bench/leophases.py);
             `ssh` counts `-v` lines with `] $ `: commands run over SSH, and file
             uploads (the `put` lines) separately.
  A keep-alive client losing a few requests at a reload is nginx's doing (old
  workers close idle keep-alive connections), not leo's; leo's promise is about
  requests nginx accepts. The idle row is the floor to compare with.

It is a measurement, not a test: it exits 0 whatever the error counts, 1 when
the setup fails (leo, wrk or docker do not work, the app cannot be served or
re-synced), 2 for bad arguments, 130 when interrupted. Every wait is bounded.
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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import leophases
from wrkload import CLIENTS, WrkError, WrkRun, WrkTotals, format_statuses

REPO = Path(__file__).resolve().parent.parent
TESTHOST_DIR = Path(os.environ.get("LEO_TESTHOST_DIR", "/var/lib/leo-testhost"))
APPS_DIR = Path("/home/leo-deploy/apps")
IMAGES = ("leo-test-web:v1", "leo-test-web:v2")
LEAD, TAIL = 1.0, 1.0  # seconds of load before and after the action
LEO_TIMEOUT = 180  # seconds, any single leo command
DOCKER_TIMEOUT = 120
CLIENT_LABEL = {"close": "close", "keepalive": "keep-alive"}
SCENARIOS = {
    "rotate": "a leo rotate",
    "naive": "b naive recreate",
    "reload": "c nginx -s reload",
    "idle": "d idle",
}
EXPECTED_RELOADS = {"rotate": 1, "naive": 0, "reload": 1, "idle": 0}


class SetupFailed(Exception):
    """The bench cannot measure anything (exit 1)."""


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True)


# ---- leo ---------------------------------------------------------------------


@dataclass
class LeoRun:
    argv: list[str]
    rc: int
    wall: float
    lines: list[tuple[float, str]]  # (seconds since start, stderr line)
    stdout: str

    @property
    def stderr(self) -> str:
        return "".join(line for _, line in self.lines)

    def parsed(self) -> leophases.LeoLog:
        return leophases.parse(self.lines, wall=self.wall)


class Leo:
    """Runs the `leo` CLI with a private HOME (its own ~/.ssh), never the caller's."""

    def __init__(self, exe: str, home: Path, host: str) -> None:
        self.exe, self.home, self.host = exe, home, host

    def run(self, *args: str, verbose: bool = False, echo: bool = True) -> LeoRun:
        argv = [self.exe, *args[:1], *(["-v"] if verbose else []), *args[1:]]
        if echo:
            log("+ leo " + " ".join(argv[1:]))
        env = {**os.environ, "HOME": str(self.home)}
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(self.home),  # no leo.yaml from the caller's directory
        )
        lines: list[tuple[float, str]] = []
        out: list[str] = []

        def pump_err() -> None:
            for line in proc.stderr:
                lines.append((time.monotonic() - started, line))

        def pump_out() -> None:
            out.append(proc.stdout.read())

        readers = [threading.Thread(target=f, daemon=True) for f in (pump_err, pump_out)]
        for t in readers:
            t.start()
        try:
            rc = proc.wait(timeout=LEO_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(timeout=10)
            lines.append((time.monotonic() - started, f"bench: killed after {LEO_TIMEOUT}s\n"))
        wall = time.monotonic() - started
        for t in readers:
            t.join(timeout=5)
        return LeoRun(argv, rc, wall, lines, "".join(out))

    def must(self, *args: str, verbose: bool = False) -> LeoRun:
        run = self.run(*args, verbose=verbose)
        if run.rc != 0:
            raise SetupFailed(
                f"`leo {' '.join(args)}` exited {run.rc}:\n{run.stderr.strip()[-3000:]}"
            )
        return run


def prepare_home(home: Path, testhost_dir: Path = TESTHOST_DIR) -> None:
    """HOME for leo: ~/.ssh with the test host's key, known_hosts and an ssh config."""
    for name in ("id_ed25519", "id_ed25519.pub", "known_hosts", "ssh_config"):
        if not (testhost_dir / name).is_file():
            raise SetupFailed(
                f"{testhost_dir / name} is missing: run `bash scripts/provision-testhost.sh`"
            )
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    ssh.chmod(0o700)
    for name, mode in (("id_ed25519", 0o600), ("id_ed25519.pub", 0o644), ("known_hosts", 0o644)):
        _write(ssh / name, (testhost_dir / name).read_bytes(), mode)
    config = (testhost_dir / "ssh_config").read_text()
    config = re.sub(r"(?m)^(\s*IdentityFile\s+).*$", rf"\g<1>{ssh}/id_ed25519", config)
    _write(ssh / "config", config.encode(), 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(path)
    path.chmod(mode)


# ---- the app as seen from this machine ----------------------------------------


def compose_text(image: str) -> str:
    """What `leo create --image` writes, with another image."""
    return (
        "# Written by bench/rotate_under_load.py (the same as `leo create --image`).\n"
        "services:\n"
        "  web:\n"
        f"    image: {image}\n"
        "    env_file:\n"
        "    - ./env\n"
        "    restart: unless-stopped\n"
        "    expose:\n"
        "    - '5000'\n"
    )


def other_image(image: str | None) -> str:
    return IMAGES[1] if image == IMAGES[0] else IMAGES[0]


def fetch(domain: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET http://127.0.0.1/ through nginx with Host: domain (no proxies): (status, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request("http://127.0.0.1/", headers={"Host": domain})
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return 0, str(exc)


def sh(argv: list[str], timeout: float = DOCKER_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {timeout:g}s")


class App:
    def __init__(self, name: str) -> None:
        self.name = name
        self.domain = f"{name}.localhost"
        self.dir = APPS_DIR / name
        self.compose_file = self.dir / "docker-compose.yml"

    def exists(self) -> bool:
        return self.compose_file.is_file()

    def image(self) -> str | None:
        m = re.search(r"(?m)^\s+image:\s*['\"]?([^'\"\s]+)", self.compose_file.read_text())
        return m[1] if m else None

    def web_containers(self) -> list[str]:
        r = sh(
            [
                "docker", "ps", "--quiet",
                "--filter", f"label=com.docker.compose.project={self.name}",
                "--filter", "label=com.docker.compose.service=web",
            ]
        )  # fmt: skip
        return r.stdout.split() if r.returncode == 0 else []

    def web_addresses(self) -> set[str]:
        ids = self.web_containers()
        if not ids:
            return set()
        fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        r = sh(["docker", "inspect", "--format", fmt, *ids])
        return set(r.stdout.split())

    def upstream_addresses(self) -> set[str]:
        try:
            text = (self.dir / "upstream.conf").read_text()
        except OSError:
            return set()
        return set(re.findall(r"(?m)^\s*server\s+([0-9.]+):\d+;", text))

    def drain_setting(self) -> str:
        try:
            env = (self.dir / "env").read_text()
        except OSError:
            return "?"
        m = re.search(r"(?m)^LEO_DRAIN_SECONDS=(.*)$", env)
        return f"LEO_DRAIN_SECONDS={m[1]}" if m else "LEO_DRAIN_SECONDS unset (leo's default)"

    def write_compose_as_owner(self, text: str) -> None:
        """Edit docker-compose.yml in place, as its owner would (same owner and mode)."""
        st = self.compose_file.stat()
        tmp = self.compose_file.with_name(".bench-compose.tmp")
        tmp.write_text(text)
        os.chown(tmp, st.st_uid, st.st_gid)
        tmp.chmod(st.st_mode & 0o777)
        tmp.replace(self.compose_file)


# ---- nginx reloads seen during a window -----------------------------------------


def nginx_workers() -> set[int]:
    """The host nginx's worker PIDs (children of the master in /run/nginx.pid)."""
    try:
        master = int(Path("/run/nginx.pid").read_text().strip())
        kids = Path(f"/proc/{master}/task/{master}/children").read_text()
        return {int(p) for p in kids.split()}
    except (OSError, ValueError):
        return set()


class ReloadWatcher:
    """nginx reloads, seen as the master's new worker processes appearing: how many,
    and when (`poll` seconds apart; bench/rotate_timeline.py polls every 20 ms)."""

    def __init__(self, poll: float = 0.05) -> None:
        self.poll = poll
        self.times: list[float] = []  # time.monotonic() of each reload
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def reloads(self) -> int:
        return len(self.times)

    def _loop(self) -> None:
        seen = nginx_workers()
        last_event = 0.0
        while not self._stop.wait(self.poll):
            new = nginx_workers() - seen
            if new:
                now = time.monotonic()
                if now - last_event > 0.5:  # one reload starts all its workers at once
                    self.times.append(now)
                last_event = now
                seen |= new

    def __enter__(self) -> ReloadWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# ---- scenarios ------------------------------------------------------------------


@dataclass
class Action:
    ok: bool = True
    seconds: float = 0.0
    what: str = ""
    note: str = ""
    leo: LeoRun | None = None


@dataclass
class Window:
    scenario: str
    client: str
    round: int
    totals: WrkTotals
    action: Action
    reloads: int

    @property
    def unexpected_reloads(self) -> bool:
        return self.reloads > EXPECTED_RELOADS[self.scenario]


@dataclass
class Bench:
    args: argparse.Namespace
    leo: Leo
    app: App
    windows: list[Window] = field(default_factory=list)

    # -- setup --

    def setup(self) -> None:
        pubkey = self.leo.home / ".ssh" / "id_ed25519.pub"
        self.leo.must("setup", "--host", f"root@{self.args.host}", "--pubkey", str(pubkey))
        if not self.app.exists():
            self.leo.must(
                "create", "--app", self.app.name, "--host", self.args.host,
                "--image", IMAGES[0], "--domain", self.app.domain,
            )  # fmt: skip
        self.resync("first deploy" if not self.app.web_containers() else "sync")

    def resync(self, why: str) -> None:
        """`leo rotate` (outside any window), then check nginx serves the app."""
        run = self.leo.run("rotate", "--app", self.app.name, "--host", self.args.host)
        if run.rc != 0:
            raise SetupFailed(f"leo rotate ({why}) exited {run.rc}:\n{run.stderr[-3000:]}")
        code, body = fetch(self.app.domain)
        if code != 200:
            raise SetupFailed(f"after leo rotate ({why}) nginx answers {code}: {body[:200]}")
        log(f"{why}: serving {body.splitlines()[0] if body else '?'} ({run.wall:.1f}s)")

    # -- actions (each runs inside a load window) --

    def act_rotate(self) -> Action:
        new = other_image(self.app.image())
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            path = Path(tmp) / "docker-compose.yml"
            path.write_text(compose_text(new))
            started = time.monotonic()
            run = self.leo.run(
                "deploy", "--app", self.app.name, "--host", self.args.host,
                "--compose", str(path), verbose=True, echo=False,
            )  # fmt: skip
            seconds = time.monotonic() - started
        what = f"-> {new.split(':')[-1]}"
        if run.rc != 0:
            return Action(False, seconds, what, f"leo exited {run.rc}", run)
        return Action(True, seconds, what, "", run)

    def act_naive(self) -> Action:
        new = other_image(self.app.image())
        self.app.write_compose_as_owner(compose_text(new))
        d = str(self.app.dir)
        argv = [
            "docker", "compose", "--project-directory", d, "-p", self.app.name,
            "-f", str(self.app.compose_file), "up", "-d", "--force-recreate",
        ]  # fmt: skip
        started = time.monotonic()
        r = sh(argv)
        seconds = time.monotonic() - started
        what = f"-> {new.split(':')[-1]}"
        if r.returncode != 0:
            return Action(False, seconds, what, f"compose exited {r.returncode}: {r.stderr[-300:]}")
        stale = self.app.upstream_addresses() - self.app.web_addresses()
        note = f"stale upstream {','.join(sorted(stale))}" if stale else "same IP reused"
        return Action(True, seconds, what, note)

    def act_reload(self) -> Action:
        started = time.monotonic()
        r = sh(["nginx", "-s", "reload"], timeout=30)
        seconds = time.monotonic() - started
        if r.returncode != 0:
            return Action(False, seconds, "", f"nginx exited {r.returncode}: {r.stderr[-300:]}")
        return Action(True, seconds)

    def act_idle(self) -> Action:
        return Action(True, 0.0)

    # -- one window --

    def window(self, scenario: str, client: str, round_no: int) -> Window:
        """Load for --duration seconds, or until TAIL seconds after a slower action.

        wrk gets a generous -d as an upper bound and is stopped with SIGINT
        (wrk's "stop now and print the results") at the end of the window.
        """
        act = getattr(self, f"act_{scenario}")
        wrk = WrkRun(
            client,
            host_header=self.app.domain,
            duration=self.args.duration + LEO_TIMEOUT + 30,
            connections=self.args.connections,
            threads=self.args.threads,
            status_codes=self.args.status_codes,
        )
        with ReloadWatcher() as watcher:
            wrk.start()
            try:
                time.sleep(LEAD)
                action = act()
                action_end = time.monotonic() - wrk.started_at
                end = max(self.args.duration, action_end + TAIL)
                time.sleep(max(0.0, end - (time.monotonic() - wrk.started_at)))
                wrk.interrupt()
                totals = wrk.wait()
            except BaseException:
                wrk.kill()
                raise
        return Window(scenario, client, round_no, totals, action, watcher.reloads)

    def after(self, scenario: str, w: Window) -> None:
        """Bring the app back to a clean state, outside the measurement."""
        if scenario == "naive" or not w.action.ok:
            self.resync("re-sync after " + SCENARIOS[scenario])
        elif scenario == "rotate":
            code, _ = fetch(self.app.domain)
            if code != 200:
                self.resync(f"re-sync: after leo rotate nginx answered {code}")

    # -- the run --

    def run(self) -> None:
        scenarios = [s for s in SCENARIOS if not (s == "naive" and self.args.skip_naive)]
        for r in range(1, self.args.rounds + 1):
            log(f"round {r}/{self.args.rounds}")
            for scenario in scenarios:
                for client in CLIENTS:
                    w = self.window(scenario, client, r)
                    self.windows.append(w)
                    log(
                        f"  {SCENARIOS[scenario]:<18} {CLIENT_LABEL[client]:<10} "
                        f"requests {w.totals.requests:>6}  failed {w.totals.failed:>5}  "
                        f"action {w.action.seconds:5.2f}s {w.action.what} {w.action.note}".rstrip()
                    )
                    self.after(scenario, w)
            print_round(self, r)


# ---- output -------------------------------------------------------------------------

ROW = "{:<18} {:<10} {:>6} {:>8} {:>6} {:>7} {:>7} {:>5} {:>5} {:>7} {:>6} {:>7}  {}"


def table_header() -> str:
    return ROW.format(
        "scenario", "clients", "secs", "requests", "req/s", "non-2xx",
        "connect", "read", "write", "timeout", "failed", "reloads", "action",
    )  # fmt: skip


def table_row(label: str, client: str, t: WrkTotals, reloads: str, action: str) -> str:
    return ROW.format(
        label, CLIENT_LABEL[client], f"{t.duration_s:.1f}", t.requests, f"{t.rate:.0f}",
        t.status, t.connect, t.read, t.write, t.timeout, t.failed, reloads, action,
    )  # fmt: skip


def describe_action(w: Window) -> str:
    a = w.action
    text = f"{a.seconds:.2f}s {a.what}".strip() if w.scenario != "idle" else "-"
    if not a.ok:
        text += " FAILED"
    if a.note:
        text += f" ({a.note})"
    if w.totals.statuses:
        text += f" status {format_statuses(w.totals.statuses)}"
    return text


def print_round(bench: Bench, r: int) -> None:
    ws = [w for w in bench.windows if w.round == r]
    print(f"\nRound {r}: windows of {bench.args.duration:g}s or more, action at 1s")
    print(table_header())
    for w in ws:
        flag = "!" if w.unexpected_reloads else ""
        print(
            table_row(
                SCENARIOS[w.scenario], w.client, w.totals, f"{w.reloads}{flag}", describe_action(w)
            )
        )
    rot = [w for w in ws if w.scenario == "rotate" and w.action.leo]
    if rot:
        print("leo deploy phases (s):")
        for w in rot:
            print(
                f"  {CLIENT_LABEL[w.client]:<10} {w.action.what:<6} "
                + leophases.format_phases(w.action.leo.parsed())
            )
    print(flush=True)


def phase_stats(bench: Bench) -> tuple[list[str], int] | None:
    runs = [
        w.action.leo.parsed()
        for w in bench.windows
        if w.scenario == "rotate" and w.action.ok and w.action.leo
    ]
    if not runs:
        return None
    lines = []
    for name in (*leophases.PHASES, "total"):
        values = [p.wall if name == "total" else p.phases.get(name, 0.0) for p in runs]
        if not any(values):
            continue
        lines.append(
            f"  {name:<17} median {statistics.median(values):5.2f}"
            f"   min {min(values):5.2f}   max {max(values):5.2f}"
        )
    cmds = sorted({p.commands for p in runs})
    ups = sorted({p.uploads for p in runs})
    lines.append(
        f"  SSH per deploy:   {'/'.join(map(str, cmds))} commands"
        f" + {'/'.join(map(str, ups))} file uploads (`put`),"
        " counted from `leo -v` lines with `] $ `"
    )
    return lines, len(runs)


def source_version() -> str:
    """The checkout the measured leo came from: commit, and whether it had local changes."""
    r = sh(["git", "-C", str(REPO), "describe", "--always", "--dirty=+changes"], timeout=10)
    return f"at {r.stdout.strip()}" if r.returncode == 0 and r.stdout.strip() else "(no git)"


def print_summary(bench: Bench, started_wall: float, elapsed: float) -> None:
    a = bench.args
    bar = "=" * 100
    print(bar)
    print(
        f"SUMMARY  leo rotate under load: app {bench.app.name} ({bench.app.domain}) on {a.host}, "
        f"{a.rounds} round(s), took {elapsed:.0f}s"
    )
    print(
        f"  load: wrk -t{a.threads} -c{a.connections} per window of >= {a.duration:g}s, "
        f"action at 1s; drain {bench.app.drain_setting()}"
    )
    print(
        f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started_wall))};"
        f" leo_tasks {source_version()}"
    )
    print(
        "  failed = non-2xx + connect + read + write + timeout (response > 2 s); [%] of requests"
        " sent;\n  reloads = nginx reloads seen in the windows, `!` = more than the actions"
        " explain (someone else reloaded nginx)"
    )
    print()
    print(table_header())
    for scenario, label in SCENARIOS.items():
        for client in CLIENTS:
            ws = [w for w in bench.windows if w.scenario == scenario and w.client == client]
            if not ws:
                continue
            total = ws[0].totals
            for w in ws[1:]:
                total = total.add(w.totals)
            reloads = sum(w.reloads for w in ws)
            flag = "!" if any(w.unexpected_reloads for w in ws) else ""
            secs = [w.action.seconds for w in ws]
            fails = sum(not w.action.ok for w in ws)
            notes = []
            if scenario != "idle":
                notes.append(f"median {statistics.median(secs):.2f}s x{len(ws)}")
            if fails:
                notes.append(f"{fails} FAILED")
            stale = sum("stale upstream" in w.action.note for w in ws)
            if scenario == "naive":
                notes.append(f"stale upstream in {stale}/{len(ws)}")
            if total.statuses:
                notes.append("status " + format_statuses(total.statuses))
            attempts = total.requests + total.connect + total.read + total.write
            rate = 100.0 * total.failed / max(1, attempts)
            print(
                table_row(label, client, total, f"{reloads}{flag}", "; ".join(notes))
                + f"  [{rate:.3f}% failed]"
            )
    print()
    stats = phase_stats(bench)
    if stats:
        lines, n = stats
        print(f"leo deploy (upload + rotate), {n} run(s), seconds per phase:")
        print("\n".join(lines))
    if any(w.unexpected_reloads for w in bench.windows):
        print(
            "\n! nginx was reloaded by something else during these windows (another test or"
            " deploy on this machine); their rows include errors that are not the action's."
        )
    print(bar, flush=True)


# ---- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Measure failed requests during leo rotate vs. naive recreate vs. reload.",
        epilog="See the top of this file for what the columns mean.",
    )
    p.add_argument("--rounds", type=int, default=1, help="repeat every scenario N times (1-20)")
    p.add_argument(
        "--duration", type=float, default=10, help="seconds per wrk window, at least (4-120)"
    )
    p.add_argument("--connections", type=int, default=20, help="wrk connections (-c)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    p.add_argument("--skip-naive", action="store_true", help="leave out scenario b")
    p.add_argument(
        "--status-codes",
        action="store_true",
        help="count responses per status (wrk response() callback: slower)",
    )
    p.add_argument("--app", default="bench", help="app name (domain: APP.localhost)")
    p.add_argument("--host", default="testhost", help="leo --host (must be this machine)")
    p.add_argument(
        "--leo-home",
        default=str(TESTHOST_DIR / "bench-home"),
        help="private HOME for leo (its ~/.ssh is made from the test host's files)",
    )
    p.add_argument("--leo", default=None, help="leo executable (default: the repo's .venv)")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        p.error("--rounds must be 1..20")
    if not 4 <= args.duration <= 120:
        p.error("--duration must be 4..120 seconds")
    if not 1 <= args.threads <= args.connections <= 1000:
        p.error("need 1 <= --threads <= --connections <= 1000")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", args.app):
        p.error("--app must be a lowercase name like `bench`")
    return args


def find_leo(given: str | None) -> str:
    for candidate in (given, str(REPO / ".venv" / "bin" / "leo"), shutil.which("leo")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SetupFailed(
        "no leo executable: create the venv (`python3 -m venv .venv && "
        ".venv/bin/pip install -e .`) or pass --leo"
    )


def preflight() -> None:
    if os.geteuid() != 0:
        raise SetupFailed("run as root (the naive scenario and nginx -s reload act on this host)")
    for tool in ("wrk", "docker", "nginx"):
        if not shutil.which(tool):
            raise SetupFailed(f"{tool} not found: run `bash scripts/provision-testhost.sh`")
    if sh(["docker", "info"], timeout=20).returncode != 0:
        raise SetupFailed("docker engine not reachable: run `bash scripts/provision-testhost.sh`")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_wall, t0 = time.time(), time.monotonic()
    try:
        preflight()
        home = Path(args.leo_home)
        prepare_home(home)
        bench = Bench(args, Leo(find_leo(args.leo), home, args.host), App(args.app))
        bench.setup()
        try:
            bench.run()
        except (WrkError, SetupFailed) as exc:
            if bench.windows:
                print_summary(bench, started_wall, time.monotonic() - t0)
            raise SetupFailed(str(exc)) from exc
    except SetupFailed as exc:
        print(f"[bench] SETUP FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except WrkError as exc:
        print(f"[bench] SETUP FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("[bench] interrupted", file=sys.stderr, flush=True)
        return 130
    print_summary(bench, started_wall, time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
