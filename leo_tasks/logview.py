"""`leo logs` without I/O: its flags checked, the host's line protocol parsed
(commands/logs.py writes it), and lines laid out for the reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .errors import InvalidInput

_DURATION = re.compile(r"(\d{1,9})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# docker's --timestamps: RFC 3339 with nanoseconds, fixed width, so text order is time order.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def parse_since(text: str) -> str:
    """--since as docker takes it: a duration (30s, 10m, 2h, 1d) becomes seconds, counted
    back from the host's clock (not this machine's: no skew); an ISO 8601 / RFC 3339
    time becomes UTC. A time without a zone is this machine's local time."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration:
        return f"{int(duration[1]) * _SECONDS[duration[2]]}s"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"--since takes a duration (30s, 10m, 2h, 1d) or an ISO 8601 time "
            f"(2024-05-01T12:00:00Z), not {text!r}"
        ) from None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_tail(text: str | int) -> int:
    value = str(text).strip()
    if not value.isdigit():
        raise InvalidInput(f"--tail takes a number of lines (0 or more), not {text!r}")
    return int(value)


def parse_grep(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise InvalidInput(f"--grep {text!r} is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class LogLine:
    container: int
    timestamp: str  # "" when docker wrote none (an error message from docker itself)
    text: str


@dataclass
class HostLogs:
    """What one host sent: its containers by number, their lines, and when none
    matched, the services the app does have."""

    names: dict[int, str] = field(default_factory=dict)
    lines: list[LogLine] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    none_at_start: bool = False

    # False while following: each line is printed as it comes and not kept (a follow
    # left running for days must not grow without bound).
    keep: bool = True

    def take(self, raw: str) -> LogLine | None:
        """Read one protocol line; return it when it is a log line (kept in `lines`
        only when `keep`)."""
        kind, _, rest = raw.rstrip("\n").partition(" ")
        if kind == "l":
            number, _, entry = rest.partition(" ")
            stamp, _, text = entry.partition(" ")
            if not _TIMESTAMP.fullmatch(stamp):
                stamp, text = "", entry
            if number.isdigit():
                line = LogLine(int(number), stamp, text.rstrip("\r"))
                if self.keep:
                    self.lines.append(line)
                return line
        elif kind == "c":
            number, _, name = rest.partition(" ")
            if number.isdigit():
                self.names[int(number)] = name
        elif kind == "s" and rest:
            self.services.append(rest)
        elif kind == "w":
            self.none_at_start = True
        return None

    @classmethod
    def parse(cls, output: str) -> HostLogs:
        logs = cls()
        for raw in output.splitlines():
            logs.take(raw)
        return logs

    def in_time_order(self) -> list[LogLine]:
        """Every container's lines merged by time. A line without a timestamp keeps
        the time of the line before it from the same container."""
        last: dict[int, str] = {}
        keyed = []
        for index, line in enumerate(self.lines):
            stamp = line.timestamp or last.get(line.container, "")
            last[line.container] = stamp
            keyed.append((stamp, index, line))
        return [line for _, _, line in sorted(keyed, key=lambda k: (k[0], k[1]))]


@dataclass
class Layout:
    """`[host] container | text`, container names padded to the longest one seen on
    the host so far, so that lines of one host line up."""

    host: str
    grep: re.Pattern[str] | None = None
    timestamps: bool = False
    width: int = 0

    def format(self, logs: HostLogs, line: LogLine) -> str | None:
        """The line to print, or None when --grep leaves it out. --grep looks at the
        app's text only, not at leo's prefix or docker's timestamp."""
        if self.grep is not None and not self.grep.search(line.text):
            return None
        name = logs.names.get(line.container, f"#{line.container}")
        self.width = max(self.width, len(name))
        stamp = f"{line.timestamp} " if self.timestamps and line.timestamp else ""
        return f"[{self.host}] {name:<{self.width}} | {stamp}{line.text}"

    def all(self, logs: HostLogs, lines: Iterable[LogLine]) -> list[str]:
        self.width = max((len(n) for n in logs.names.values()), default=0)
        return [text for line in lines if (text := self.format(logs, line)) is not None]
