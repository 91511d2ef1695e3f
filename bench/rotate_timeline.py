#!/usr/bin/env python3
"""One leo rotate under load, drawn as a timeline: requests per 100 ms and leo's phases.

Run as root on a machine prepared by scripts/provision-testhost.sh (the host
leo deploys to must be THIS machine: the load goes to its nginx, and nginx
reloads are watched in its /proc):

    .venv/bin/pip install -e '.[bench]'      # matplotlib (not needed with --no-plot)
    .venv/bin/python bench/rotate_timeline.py [--client close|keepalive] [--out FILE.png]

It makes sure a sample app is deployed (`plotapp`, served by nginx as
`plotapp.localhost`: created and first-deployed with leo-test-web:v1 if
needed), then runs one window of load against nginx (http://127.0.0.1/,
Host: plotapp.localhost): --lead seconds of load, then `leo deploy -v
--compose` of the other image (v1 -> v2 or v2 -> v1, from what nginx serves
now: a real rotate with a new container, health wait, nginx switch, drain and
retire), then --tail seconds more.

The load: --threads Python threads, each a loop of GET / with http.client;
`close` sends `Connection: close` (a new connection per request), `keepalive`
reuses one connection per thread. Every request is recorded when it completes
(or fails): time, latency, outcome, and which release answered (leo-test-web
answers "leo-test-web v1\\nhost <container>", so the body names the version).
Failed = connection error, no answer within --timeout (2 s), or status >= 500.
With `keepalive`, a request sent on a connection that nginx has just closed
counts as failed (wrk and browsers send it again): nginx's old workers close
their idle keep-alive connections at a reload, so expect a few such failures
right after it (0-4 in 4 runs here); leo's promise is about requests nginx
accepts, and `close` clients show that.

leo's stderr is read line by line as it arrives and each line is stamped
with time.monotonic(); a step line `[host] step: outcome (0.34s)` then spans
(stamp - 0.34 s, stamp). Steps are grouped into phases as in bench/leophases.py.

How to read the picture (--out, default docs/rotate-under-load.png)
  top strip   leo's phases, from its own step lines: `prepare` is everything
              before the new container starts (Python start-up, SSH connect, lock,
              upload, compose config, pull check); `after` is what follows the last
              step (history record, exit). A gap between boxes is time no step
              line covers (e.g. removing leftovers before the new container starts).
  bars        successful responses per 100 ms, stacked by the release that
              answered (old below, new on top): the colour change is the switch.
  red         failed requests per 100 ms (by when the client saw the failure);
              "0 failed of N" when none.
  dashed      the moments nginx started new worker processes (its reloads), seen
              from /proc; a rotate causes exactly one, more mean someone else
              reloaded nginx during the window (the text output says so).
The text output has the same figures: totals, rate before / during / after the
deploy, each phase's start and end (seconds from the start of the load), the
last answer from the old release and the first from the new one (with when
they were sent), and each failed request with the phase it was sent in (a
timeout is drawn when the client gave up, --timeout later).

Expect some answers to take about 1 s in any window, deploy or not: the test
image's busybox httpd listens with a backlog of 9, so some of nginx's connects
to it are dropped and retried by TCP after 1 s (after 3 s more, which makes a
rare timeout). Such a request in an old nginx worker is what the drain waits
for: with `close` clients drain took 0.6-1.0 s in 14 of 16 runs here (the old
release's last answer was such a 1 s one), 0.05-0.07 s in the other 2.

Python's GIL: the stamping thread competes with the load threads, so a stamp
can be a few milliseconds late; that is well inside one 100 ms bucket. The load
generator also takes CPU from leo, docker and nginx on a small machine: compare
the deploy time with a deploy without load before reading much into it.

It is a measurement, not a test: it exits 0 whatever the failure count, 1 when
the setup fails (leo, the app or nginx do not work) or the deploy itself
failed (the picture is still drawn, titled FAILED), 2 for bad arguments or
when matplotlib is missing, 130 when interrupted. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import leophases
from rotate_under_load import (
    Leo,
    LeoRun,
    ReloadWatcher,
    SetupFailed,
    fetch,
    find_leo,
    prepare_home,
    source_version,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "rotate-under-load.png"
IMAGE = "leo-test-web:{version}"
VERSIONS = ("v1", "v2")
NGINX = ("127.0.0.1", 80)
# The phases drawn, in order; every other step is `prepare` (before the new
# container starts) or `other` (after it). Colours: one per phase, pale enough
# that they do not compete with the bars.
PHASE_COLOURS = {
    "prepare": "#d9d9d9",
    "start new": "#9ecae1",
    "wait until ready": "#c6dbef",
    "switch upstream": "#fdae6b",
    "drain": "#fdd0a2",
    "retire": "#bcbddc",
    "record release": "#c7e9c0",
    "other": "#f0f0f0",
    "after": "#ffffff",
}
# By role, not by version: the picture reads the same for v1 -> v2 and v2 -> v1.
ROLE_COLOURS = {"old": "#3b75af", "new": "#519e3e", "other": "#8c8c8c"}
FAIL_COLOUR = "#d62728"


def log(text: str) -> None:
    print(f"[plot] {text}", flush=True)


# ---- the load ---------------------------------------------------------------------


@dataclass(slots=True)
class Sample:
    done: float  # time.monotonic() when the response was read or the request failed
    latency: float
    ok: bool
    what: str  # ok: the version that answered ("v1", "v2", "other"); else the failure kind
    container: str = ""  # the answering container's hostname, when the body names it


def classify_body(body: bytes) -> tuple[str, str]:
    """(version, container) from leo-test-web's "leo-test-web v1\\nhost abc123\\n"."""
    lines = body.decode(errors="replace").splitlines()
    version = container = ""
    if lines and lines[0].startswith("leo-test-web "):
        version = lines[0].split()[1]
    if len(lines) > 1 and lines[1].startswith("host "):
        container = lines[1][5:].strip()
    return (version if version in VERSIONS else "other"), container


def failure_kind(exc: BaseException) -> str:
    # Order matters: RemoteDisconnected is a ConnectionResetError, timeouts are OSErrors.
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed before answering"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    return type(exc).__name__


class Load:
    """--threads loops of GET / through nginx, each request recorded when it completes."""

    def __init__(self, domain: str, threads: int, client: str, timeout: float) -> None:
        self.domain, self.client, self.timeout = domain, client, timeout
        self.stop = threading.Event()
        # One list per thread, merged after join: no lock on the hot path.
        self.samples: list[list[Sample]] = [[] for _ in range(threads)]
        self.threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> list[Sample]:
        self.stop.set()
        # A request in flight ends within its timeout (connect and read are bounded).
        deadline = time.monotonic() + 2 * self.timeout + 2
        for t in self.threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = sum(t.is_alive() for t in self.threads)
        if stuck:
            raise SetupFailed(f"{stuck} load thread(s) did not stop within {self.timeout * 2}s")
        return sorted((s for per in self.samples for s in per), key=lambda s: s.done)

    def _loop(self, index: int) -> None:
        out = self.samples[index]
        headers = {"Host": self.domain}
        if self.client == "close":
            headers["Connection"] = "close"
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            if conn is None:
                conn = http.client.HTTPConnection(*NGINX, timeout=self.timeout)
            started = time.monotonic()
            try:
                conn.request("GET", "/", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                status = resp.status
                reuse = self.client == "keepalive" and not resp.will_close
            except (OSError, http.client.HTTPException) as exc:
                now = time.monotonic()
                out.append(Sample(now, now - started, False, failure_kind(exc)))
                conn.close()
                conn = None
                continue
            now = time.monotonic()
            latency = now - started
            if status >= 500:
                out.append(Sample(now, latency, False, f"HTTP {status}"))
            elif latency > self.timeout:
                # Answered, but slower than a client would wait (as wrk counts it).
                out.append(Sample(now, latency, False, "slower than timeout"))
            else:
                version, container = classify_body(body)
                out.append(Sample(now, latency, True, version, container))
            if not reuse:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


# ---- leo's phases, with times ----------------------------------------------------


@dataclass
class Span:
    phase: str
    start: float  # seconds since the load started
    end: float
    steps: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end - self.start


def phase_of(step_name: str, seen_start: bool) -> str:
    name = leophases.classify(step_name)
    if name in PHASE_COLOURS:
        return name
    return "other" if seen_start else "prepare"


def leo_spans(run: LeoRun, offset: float) -> list[Span]:
    """Phases as time spans, from the stamped step lines; `offset` = leo's start - t0.

    A step's start is its end stamp minus the duration it prints. Adjacent steps of
    one phase are merged; the gap before the first step (start-up, SSH connect,
    locks) belongs to `prepare`, the time after the last one to `after`.
    """
    spans: list[Span] = []
    seen_start = False
    for at, line in run.lines:
        m = leophases.STEP_LINE.match(line.rstrip("\n"))
        if not m:
            continue
        name = m["text"].partition(": ")[0]
        phase = phase_of(name, seen_start)
        seen_start = seen_start or phase == "start new"
        end = offset + at
        start = max(offset, end - float(m["secs"]))
        if spans and spans[-1].phase == phase:
            spans[-1].end = end
            spans[-1].steps.append(name)
        else:
            spans.append(Span(phase, start, end, [name]))
    if spans and spans[0].phase == "prepare":
        spans[0].start = offset
        spans[0].steps.insert(0, "start-up, SSH connect, locks")
    elif spans:
        spans.insert(0, Span("prepare", offset, spans[0].start, ["start-up, SSH connect, locks"]))
    last = spans[-1].end if spans else offset
    spans.append(Span("after", last, offset + run.wall, ["history record, exit"]))
    return spans


# ---- the app --------------------------------------------------------------------


def compose_text(version: str) -> str:
    return f"services:\n  web:\n    image: {IMAGE.format(version=version)}\n    env_file: ./env\n"


def serving(domain: str) -> str | None:
    """The version nginx serves for the app now, or None."""
    code, body = fetch(domain)
    if code != 200:
        return None
    version, _ = classify_body(body.encode())
    return version if version in VERSIONS else None


def ensure_app(leo: Leo, app: str, host: str, domain: str, files: dict[str, Path]) -> str:
    """Create and first-deploy the app when needed; return the version it serves."""
    run = leo.run("status", "--app", app, "--host", host, "--json", echo=False)
    try:
        doc = json.loads(run.stdout)["hosts"][0]
    except (ValueError, KeyError, IndexError) as exc:
        raise SetupFailed(
            f"`leo status` gave no JSON (exit {run.rc}): {run.stderr[-2000:]}"
        ) from exc
    if not doc["ok"]:
        if "does not exist" not in (doc.get("error") or ""):
            raise SetupFailed(f"`leo status`: {doc.get('error')}")
        leo.must(
            "create", "--app", app, "--host", host,
            "--compose", str(files["v1"]), "--domain", domain,
        )  # fmt: skip
        doc = {"containers": []}
    if not any(c["state"] == "running" for c in doc.get("containers") or []):
        leo.must("deploy", "--app", app, "--host", host, "--compose", str(files["v1"]))
    version = serving(domain)
    if version is None:
        code, body = fetch(domain)
        raise SetupFailed(f"nginx answers {code} for {domain}, not leo-test-web: {body[:200]}")
    return version


# ---- one window -------------------------------------------------------------------


@dataclass
class Window:
    t0: float  # time.monotonic() when the load started
    end: float  # seconds since t0 when the load was stopped
    old: str
    new: str
    samples: list[Sample]
    run: LeoRun
    leo_start: float  # seconds since t0
    spans: list[Span]
    reloads: list[float]  # seconds since t0
    loadavg: float  # 1-minute load average when the window began: is the machine busy?

    def at(self, s: Sample) -> float:
        return s.done - self.t0


def measure(args: argparse.Namespace, leo: Leo, old: str, files: dict[str, Path]) -> Window:
    new = VERSIONS[1] if old == VERSIONS[0] else VERSIONS[0]
    load = Load(args.app + ".localhost", args.threads, args.client, args.timeout)
    log(
        f"window: {args.lead:g}s of load, leo deploy {old} -> {new}, {args.tail:g}s more "
        f"({args.threads} threads, {args.client})"
    )
    loadavg = os.getloadavg()[0]
    with ReloadWatcher(poll=0.02) as reloads:
        t0 = time.monotonic()
        load.start()
        try:
            time.sleep(args.lead)
            # Leo.run stamps its lines relative to its own start, taken right before
            # Popen: microseconds after this one, far below a bucket.
            leo_start = time.monotonic() - t0
            run = leo.run(
                "deploy", "--app", args.app, "--host", args.host,
                "--compose", str(files[new]), verbose=True, echo=False,
            )  # fmt: skip
            # End on a bucket boundary, so the last bar is as long as the others.
            elapsed = time.monotonic() - t0 + args.tail
            time.sleep(
                max(0.0, math.ceil(elapsed / args.bucket) * args.bucket - (time.monotonic() - t0))
            )
        finally:
            end = time.monotonic() - t0
            samples = load.finish()
    return Window(
        t0=t0,
        end=end,
        old=old,
        new=new,
        samples=samples,
        run=run,
        leo_start=leo_start,
        spans=leo_spans(run, leo_start),
        reloads=[r - t0 for r in reloads.times],
        loadavg=loadavg,
    )


# ---- figures ----------------------------------------------------------------------


@dataclass
class Figures:
    requests: int
    failed: int
    by_version: Counter[str]
    failures: Counter[str]
    rates: dict[str, float]  # req/s before, during, after the deploy
    last_old: Sample | None  # the old release's last answer
    first_new: Sample | None  # the new release's first answer
    latency_ms: tuple[float, float, float]  # median, p99, max of successful requests
    slow: int  # successful answers that took 0.5 s or more
    fails_by_phase: Counter[str]
    containers: Counter[str]


def figures(w: Window) -> Figures:
    ok = [s for s in w.samples if s.ok]
    bad = [s for s in w.samples if not s.ok]
    leo_end = w.leo_start + w.run.wall

    def rate(lo: float, hi: float) -> float:
        n = sum(lo <= w.at(s) < hi for s in w.samples)
        return n / (hi - lo) if hi > lo else 0.0

    # A failure is put in the phase its request was sent in: a timeout completes
    # --timeout seconds later, often in another phase than the one that caused it.
    def phase_at(t: float) -> str:
        if t < w.leo_start:
            return "before the deploy"
        for span in w.spans:
            if span.start <= t < span.end:
                return span.phase
        return "after the deploy"

    old = [s for s in ok if s.what == w.old]
    new = [s for s in ok if s.what == w.new]
    lat = sorted(s.latency * 1000 for s in ok) or [0.0]
    return Figures(
        requests=len(w.samples),
        failed=len(bad),
        by_version=Counter(s.what for s in ok),
        failures=Counter(s.what for s in bad),
        rates={
            "before": rate(0.0, w.leo_start),
            "during": rate(w.leo_start, leo_end),
            "after": rate(leo_end, w.end),
        },
        last_old=max(old, key=lambda s: s.done) if old else None,
        first_new=min(new, key=lambda s: s.done) if new else None,
        latency_ms=(statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))], lat[-1]),
        slow=sum(s.latency >= 0.5 for s in ok),
        fails_by_phase=Counter(phase_at(w.at(s) - s.latency) for s in bad),
        containers=Counter(f"{s.what} {s.container}" for s in ok if s.container),
    )


def title(w: Window, f: Figures) -> str:
    state = "" if w.run.rc == 0 else f"  FAILED (leo exit {w.run.rc})"
    return (
        f"leo deploy {w.old} \u2192 {w.new} under load: {f.requests:,} requests, "
        f"{f.failed} failed, deploy {w.run.wall:.2f} s{state}"
    )


def print_report(args: argparse.Namespace, w: Window, f: Figures) -> None:
    bar = "=" * 78
    print(bar)
    print(title(w, f))
    print(
        f"  load: {args.threads} threads, {args.client}, timeout {args.timeout:g}s, through nginx "
        f"to {args.app}.localhost; {os.cpu_count()} CPUs, load average {w.loadavg:.2f} before;"
        f" leo_tasks {source_version()}"
    )
    versions = ", ".join(f"{v} {n}" for v, n in sorted(f.by_version.items()))
    print(f"  answered: {versions or 'none'};  failed: {f.failed}")
    for kind, n in f.failures.most_common():
        print(f"    {n:>6}  {kind}")
    for where, n in f.fails_by_phase.most_common():
        print(f"    {n:>6}  sent during: {where}")
    bad = [s for s in w.samples if not s.ok]
    for s in bad[:20]:
        print(f"      sent {w.at(s) - s.latency:7.3f}s  done {w.at(s):7.3f}s  {s.what}")
    if len(bad) > 20:
        print(f"      ... and {len(bad) - 20} more")
    r = f.rates
    print(
        f"  req/s before the deploy {r['before']:.0f}, during {r['during']:.0f}, "
        f"after {r['after']:.0f}"
    )
    med, p99, mx = f.latency_ms
    print(
        f"  latency of successful requests: median {med:.1f} ms, p99 {p99:.1f} ms, max {mx:.0f} ms"
    )
    if f.slow:
        print(f"  answers that took 0.5 s or more: {f.slow}")
    for label, s in (
        (f"first answer from {w.new}", f.first_new),
        (f"last from {w.old}", f.last_old),
    ):
        if s is not None:
            # When it was sent matters: an old answer after the reload was sent before it.
            sent = w.at(s) - s.latency
            print(
                f"  {label:<22} at {w.at(s):.3f}s (sent at {sent:.3f}s, {s.latency * 1000:.0f} ms)"
            )
    print(f"  containers: {', '.join(f'{k} ({n})' for k, n in sorted(f.containers.items()))}")
    reloads = ", ".join(f"{t:.3f}s" for t in w.reloads) or "none"
    flag = (
        "  ! more than the rotate's one: someone else reloaded nginx" if len(w.reloads) > 1 else ""
    )
    print(f"  nginx new workers at: {reloads}{flag}")
    print(
        f"  leo: started {w.leo_start:.3f}s, exited {w.leo_start + w.run.wall:.3f}s,"
        f" exit {w.run.rc}"
    )
    print(
        f"  {'phase':<17} {'start':>7} {'end':>7} {'secs':>6}  steps (seconds since the load began)"
    )
    for s in w.spans:
        print(f"  {s.phase:<17} {s.start:7.3f} {s.end:7.3f} {s.seconds:6.3f}  {'; '.join(s.steps)}")
    parsed = leophases.parse(w.run.lines, wall=w.run.wall)
    print(f"  leophases: {leophases.format_phases(parsed)}")
    if w.run.rc != 0:
        print("  leo's stderr (end):")
        print("    " + w.run.stderr.strip()[-2000:].replace("\n", "\n    "))
    print(bar, flush=True)


# ---- the picture ---------------------------------------------------------------------


def import_pyplot():  # -> matplotlib.pyplot, imported only when a picture is wanted
    import matplotlib

    matplotlib.use("Agg")  # no display: a file is all we draw
    import matplotlib.pyplot as plt

    return plt


def draw(args: argparse.Namespace, w: Window, f: Figures, out: Path) -> int:
    plt = import_pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    bucket = args.bucket
    # measure() ends the load on a bucket boundary; what completes after that
    # (requests in flight) goes into the last bucket rather than a short extra bar.
    n = max(1, round(w.end / bucket))
    roles = {w.old: "old", w.new: "new"}
    counts = {role: [0] * n for role in ("old", "new", "other")}
    fails = [0] * n
    for s in w.samples:
        i = min(n - 1, int(w.at(s) / bucket))
        if s.ok:
            counts[roles.get(s.what, "other")][i] += 1
        else:
            fails[i] += 1
    xs = [i * bucket for i in range(n)]
    x_end = n * bucket

    plt.rcParams.update({"font.size": 9})
    fig, (ax_ph, ax, ax_f) = plt.subplots(
        3, 1, sharex=True, figsize=(10, 4.5), dpi=110,
        gridspec_kw={"height_ratios": [0.5, 3.2, 1.0], "hspace": 0.08},
    )  # fmt: skip

    # Phase strip: one box per phase (named once the x limits are final, below).
    for s in w.spans:
        if s.seconds > 0:
            colour = PHASE_COLOURS[s.phase]
            ax_ph.broken_barh([(s.start, s.seconds)], (0, 1), color=colour, ec="#666666", lw=0.5)
    ax_ph.set_ylim(0, 1)
    ax_ph.set_yticks([])
    ax_ph.set_ylabel("leo", rotation=0, ha="right", va="center")
    for spine in ("top", "right", "left"):
        ax_ph.spines[spine].set_visible(False)

    # Successes per bucket, stacked: the old release below, the new one on top.
    bottom = [0] * n
    labels = {"old": f"{w.old} answered (old)", "new": f"{w.new} answered (new)"}
    for role in ("old", "new", "other"):
        if not any(counts[role]):
            continue
        ax.bar(
            xs, counts[role], width=bucket, align="edge", bottom=bottom,
            color=ROLE_COLOURS[role], label=labels.get(role, "other body"), lw=0,
        )  # fmt: skip
        bottom = [b + c for b, c in zip(bottom, counts[role], strict=True)]
    ax.set_ylabel(f"ok / {bucket * 1000:.0f} ms")
    ax.set_ylim(0, max(bottom) * 1.08 + 1)

    ax_f.bar(xs, fails, width=bucket, align="edge", color=FAIL_COLOUR, lw=0)
    ax_f.axhline(0, color=FAIL_COLOUR, lw=1.5)  # a red line even when nothing failed
    ax_f.set_ylim(0, max(1, max(fails)) * 1.3)
    ax_f.set_ylabel("failed", color=FAIL_COLOUR)
    if not f.failed:
        ax_f.text(
            0.5, 0.5, f"0 failed of {f.requests:,}", transform=ax_f.transAxes, ha="center",
            va="center", color=FAIL_COLOUR, bbox={"fc": "white", "ec": "none", "pad": 2},
            zorder=5,
        )  # fmt: skip
    ax_f.set_xlabel("seconds since the load started")
    ax_f.set_xlim(0, x_end)

    # Each phase's name inside its box when it fits; the legend names them all.
    renderer = fig.canvas.get_renderer()
    for s in w.spans:
        if s.seconds <= 0 or s.phase == "after":
            continue
        label = ax_ph.text(
            s.start + s.seconds / 2, 0.5, s.phase, ha="center", va="center", fontsize=7.5
        )
        (x0, _), (x1, _) = ax_ph.transData.transform([(s.start, 0), (s.end, 0)])
        if label.get_window_extent(renderer).width > x1 - x0 - 2:
            label.remove()

    # Phase boundaries and nginx reloads across the data panels.
    for a in (ax, ax_f):
        for s in w.spans:
            a.axvline(s.start, color="#999999", lw=0.6, ls=":")
        a.axvline(w.leo_start + w.run.wall, color="#999999", lw=0.6, ls=":")
        for t in w.reloads:
            a.axvline(t, color="black", lw=1, ls="--")

    handles, _ = ax.get_legend_handles_labels()
    if w.reloads:
        # More than the rotate's one: someone else reloaded nginx during the window.
        label = (
            "nginx reload"
            if len(w.reloads) == 1
            else f"nginx reloads ({len(w.reloads)}, not all leo's)"
        )
        handles.append(Line2D([], [], color="black", lw=1, ls="--", label=label))
    handles += [
        Patch(
            facecolor=PHASE_COLOURS[s.phase],
            edgecolor="#666666",
            lw=0.5,
            label=f"{s.phase} {s.seconds:.2f} s",
        )
        for s in w.spans
        if s.phase != "after"
    ]
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncols=6,
        fontsize=7.5, frameon=False, columnspacing=1.2, handlelength=1.5,
    )  # fmt: skip

    fig.suptitle(title(w, f), fontsize=10.5, y=0.99)
    client = "Connection: close" if args.client == "close" else "keep-alive"
    ax_ph.set_title(
        f"{args.threads} threads, {client}, through nginx to busybox httpd (leo-test-web); "
        f"leo, docker, nginx and the load share one {os.cpu_count()}-CPU machine; "
        f"leo_tasks {source_version()}",
        fontsize=7.5, color="#555555",
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" entry: the file changes only when the picture does.
    fig.savefig(out, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return out.stat().st_size


# ---- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Draw one leo rotate under load: requests per 100 ms and leo's phases.",
        epilog="See the top of this file for how to read the picture.",
    )
    p.add_argument("--out", default=str(DEFAULT_OUT), help="PNG to write (default: %(default)s)")
    p.add_argument("--no-plot", action="store_true", help="text only (no matplotlib needed)")
    p.add_argument("--client", choices=("close", "keepalive"), default="close")
    p.add_argument("--threads", type=int, default=16, help="load threads (1-64)")
    p.add_argument("--lead", type=float, default=1.5, help="seconds of load before the deploy")
    p.add_argument("--tail", type=float, default=1.5, help="seconds of load after it")
    p.add_argument("--bucket", type=float, default=0.1, help="seconds per bar (0.02-1)")
    p.add_argument("--timeout", type=float, default=2.0, help="a request slower fails (0.2-10)")
    p.add_argument("--app", default="plotapp", help="app name (domain: APP.localhost)")
    p.add_argument("--host", default="testhost", help="leo --host (must be this machine)")
    p.add_argument(
        "--leo-home",
        default=None,
        help="private HOME for leo (default: a temporary one made from the test host's files)",
    )
    p.add_argument("--leo", default=None, help="leo executable (default: the repo's .venv)")
    args = p.parse_args(argv)
    if not 1 <= args.threads <= 64:
        p.error("--threads must be 1..64")
    if not (0 <= args.lead <= 30 and 0 <= args.tail <= 30):
        p.error("--lead and --tail must be 0..30 seconds")
    if not 0.02 <= args.bucket <= 1:
        p.error("--bucket must be 0.02..1 seconds")
    if not 0.2 <= args.timeout <= 10:
        p.error("--timeout must be 0.2..10 seconds")
    if not args.app.replace("-", "").isalnum() or not args.app[:1].isalpha():
        p.error("--app must be a name like `plotapp`")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_plot:
        try:
            import_pyplot()
        except ImportError:
            print(
                "[plot] matplotlib is not installed: `.venv/bin/pip install -e '.[bench]'`"
                " (or pip install 'matplotlib>=3.8,<4'), or run with --no-plot",
                file=sys.stderr,
            )
            return 2
    try:
        with tempfile.TemporaryDirectory(prefix="leo-plot-") as tmp:
            home = Path(args.leo_home) if args.leo_home else Path(tmp) / "home"
            prepare_home(home)
            leo = Leo(find_leo(args.leo), home, args.host)
            files = {}
            for v in VERSIONS:
                files[v] = Path(tmp) / f"{v}.yml"
                files[v].write_text(compose_text(v))
            old = ensure_app(leo, args.app, args.host, f"{args.app}.localhost", files)
            log(f"{args.app}.localhost serves {old}")
            w = measure(args, leo, old, files)
    except SetupFailed as exc:
        print(f"[plot] SETUP FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("[plot] interrupted", file=sys.stderr, flush=True)
        return 130
    f = figures(w)
    print_report(args, w, f)
    if not args.no_plot:
        size = draw(args, w, f, Path(args.out))
        log(f"wrote {args.out} ({size / 1024:.0f} kB)")
    if not w.samples:
        print("[plot] SETUP FAILED: the load generator recorded no request", file=sys.stderr)
        return 1
    if w.run.rc != 0:
        print(f"[plot] leo deploy exited {w.run.rc}: the rotate did not complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
