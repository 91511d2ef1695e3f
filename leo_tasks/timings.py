"""Where a deploy's time went, per host: phases from the step lines, and its SSH cost.

Printed after every deploy, rotate and rollback (one line per host), so that a
slow CI job shows whether the time went to the app (a slow health check), to
docker (a pull, `docker stop` of an image that ignores SIGTERM) or to the link
(many round trips). bench/leophases.py reads the same phases back from a log.
Standard library only: the bench imports it without Fabric.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

# Display order.
PHASES = (
    "build here",
    "connect",
    "push images",
    "upload",
    "read app",
    "pull images",
    "start new",
    "wait until ready",
    "switch upstream",
    "drain",
    "retire",
    "record release",
    "other steps",
    "untimed",
)


def classify(step: str) -> str:
    """The phase a step (its title, the text before `: outcome`) belongs to."""
    if step.startswith("tagged leo-"):  # `[build <service>] tagged <image> (Ns)`
        return "build here"
    if step.startswith("push "):
        return "push images"
    if step.startswith("upload ") or step.startswith("write docker-compose.leo.yml"):
        return "upload"
    if step.startswith("read app"):
        return "read app"
    if step.startswith("pull"):
        return "pull images"
    if step.startswith("first deploy") or (step.startswith("start ") and " new " in f" {step} "):
        return "start new"
    if step.startswith("wait until ready"):
        return "wait until ready"
    if step.startswith("switch nginx upstream"):
        return "switch upstream"
    if step.startswith("drain"):
        return "drain"
    if step.startswith("retire"):
        return "retire"
    if step.startswith("record release"):
        return "record release"
    return "other steps"


@dataclass
class _HostTimes:
    connect: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)


class Timings:
    """Step durations per host, collected by the Reporter as the steps end."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._hosts: dict[str, _HostTimes] = {}
        self._lock = threading.Lock()

    def _of(self, host: str) -> _HostTimes:
        return self._hosts.setdefault(host, _HostTimes())

    def connected(self, host: str, seconds: float) -> None:
        with self._lock:
            self._of(host).connect = seconds

    def step(self, host: str, title: str, seconds: float) -> None:
        with self._lock:
            self._of(host).steps.append((title, seconds))

    def phases(self, host: str, wall: float) -> dict[str, float]:
        """Seconds per phase; `untimed` is what no step covers (locks, leo itself)."""
        with self._lock:
            times = self._hosts.get(host, _HostTimes())
            phases = dict.fromkeys(PHASES, 0.0)
            phases["connect"] = times.connect
            for title, seconds in times.steps:
                phases[classify(title)] += seconds
        phases["untimed"] = max(0.0, wall - sum(phases.values()))
        return phases

    def summary(self, host: str, cost: str) -> str:
        """`timings: 1.69s in all: connect 0.31, ...; <cost>` for one host, now."""
        wall = time.monotonic() - self.started
        parts = [
            f"{name} {secs:.2f}" for name, secs in self.phases(host, wall).items() if secs >= 0.005
        ]
        return f"timings: {wall:.2f}s in all: {', '.join(parts)}; {cost}"


def cost(remote: object) -> str:
    """What a host's run cost in SSH terms, from its remote's counters."""
    commands = getattr(remote, "commands_run", 0)
    channels = getattr(remote, "channels_opened", None)
    if channels is None:  # `--host local`: no SSH at all
        return f"{_count(commands, 'command')}, run locally"
    round_trips = getattr(remote, "round_trips", 0)
    return (
        f"{_count(commands, 'command')} in {_count(round_trips, 'round trip')}, "
        f"{_count(channels, 'exec channel')}, 0 SFTP operations, 1 connection"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
