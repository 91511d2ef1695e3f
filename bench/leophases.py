#!/usr/bin/env python3
"""Read leo's progress lines (stderr) back into phase times and command counts.

leo prints one line per step when the step ends, with its duration:

    [leo-deploy@testhost] switch nginx upstream: 172.18.0.3 (0.18s)

and, with `-v`, one line per remote operation before it runs:

    [leo-deploy@testhost] $ sudo -n -- nginx -s reload
    [leo-deploy@testhost] $ put '188 bytes' 0o644 /home/leo-deploy/apps/demo/upstream.conf

Lines with `] $ ` are counted as remote operations: `put` lines are file uploads,
all the others are commands. Both go through leo's runner on the host (one round
trip each, or one for a batch; see leo_tasks/remote.py), except the lock holders'
`flock` lines, each on an exec channel of its own. Without `-v` the counts are 0;
leo's own `timings:` line counts round trips and channels.

Phases (seconds): `connect` is from the start of the leo process to its first
step (Python start-up, SSH connection and authentication; only known when the
caller timestamped the lines); `other steps` are step lines this parser does
not know; `untimed` is the rest of the wall time, which no step line covers
(taking and releasing the deploy lock, closing the connection, exit; without
timestamps also the connect time).

As a command: `python3 bench/leophases.py LOGFILE [WALL_SECONDS]` prints the
phases of a saved leo stderr (the demo does this); given leo's wall time it
adds `untimed` (what no step covers: SSH connect, lock, exit) and `total`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# The phases and how a step maps to one are leo's own (it prints the same summary).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from leo_tasks.timings import PHASES, classify

STEP_LINE = re.compile(r"^\[(?P<host>[^\]]+)\] (?P<text>.+) \((?P<secs>\d+(?:\.\d+)?)s\)$")
COMMAND_MARK = "] $ "


@dataclass
class LeoLog:
    steps: list[tuple[str, float]] = field(default_factory=list)  # (line text, seconds)
    failed_steps: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    commands: int = 0  # `] $ ` lines that are not `put`
    uploads: int = 0  # `] $ put` lines
    wall: float | None = None

    @property
    def ssh_lines(self) -> int:
        return self.commands + self.uploads


def parse(lines: Iterable[str | tuple[float, str]], wall: float | None = None) -> LeoLog:
    """Parse leo's stderr lines, optionally given as (seconds since leo started, line)."""
    log = LeoLog(wall=wall)
    phases = dict.fromkeys(PHASES, 0.0)
    first_start: float | None = None
    for item in lines:
        at, line = item if isinstance(item, tuple) else (None, item)
        line = line.rstrip("\n")
        if COMMAND_MARK in line:
            if line.split(COMMAND_MARK, 1)[1].startswith("put "):
                log.uploads += 1
            else:
                log.commands += 1
            if at is not None and first_start is None:
                first_start = at
            continue
        m = STEP_LINE.match(line)
        if not m:
            continue
        text, secs = m["text"], float(m["secs"])
        name, _, outcome = text.partition(": ")
        # "first deploy: start all services: web-1" has a colon in its name.
        if name == "first deploy":
            name = "first deploy: " + outcome.partition(": ")[0]
            outcome = outcome.partition(": ")[2]
        if outcome.startswith("FAILED"):
            log.failed_steps.append(name)
        log.steps.append((text, secs))
        phases[classify(name)] += secs
        if at is not None and first_start is None:
            first_start = max(0.0, at - secs)
    if first_start is not None:
        phases["connect"] = first_start
    if wall is not None:
        phases["untimed"] = max(0.0, wall - sum(phases.values()))
    log.phases = phases
    return log


def format_phases(log: LeoLog) -> str:
    parts = [f"{name} {log.phases.get(name, 0.0):.2f}" for name in PHASES if log.phases.get(name)]
    if log.wall is not None:
        parts.append(f"total {log.wall:.2f}")
    text = ", ".join(parts) + " (s)"
    if log.ssh_lines:
        text += f"; {log.commands} SSH commands + {log.uploads} uploads"
    return text


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: leophases.py LEO_STDERR_LOG [WALL_SECONDS]", file=sys.stderr)
        return 2
    wall = float(argv[1]) if len(argv) == 2 else None
    with open(argv[0], encoding="utf-8", errors="replace") as f:
        log = parse(f, wall=wall)
    for name in PHASES:
        if log.phases.get(name):
            label = "untimed (ssh, lock)" if name == "untimed" else name
            print(f"  {label:<19} {log.phases[name]:6.2f} s")
    if wall is not None:
        print(f"  {'total':<19} {wall:6.2f} s")
    if log.ssh_lines:
        print(
            f"  {log.ssh_lines} `] $ ` lines: {log.commands} commands over SSH"
            f" + {log.uploads} file uploads (put)"
        )
    if log.failed_steps:
        print(f"  FAILED steps: {', '.join(log.failed_steps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
