"""What every step uses: the host it works on, reading files, writing only what differs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..commands import fs
from ..facts import parse_files, parse_sha256sum
from ..remote import Remote
from ..report import Reporter


@dataclass
class Host:
    """One host being worked on: the seam to it and where progress is reported."""

    remote: Remote
    reporter: Reporter
    # Locks a fleet run took on this host before changing any host, by lock file
    # path (lock.Lease values): a step that asks for one of them gets it as is.
    locks: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.remote.name

    def step(self, title: str):
        return self.reporter.step(self.name, title)

    def note(self, text: str) -> None:
        self.reporter.note(self.name, text)

    def progress(self, text: str | None) -> None:
        """A step's progress while it runs (on a terminal only; see Reporter.progress)."""
        self.reporter.progress(self.name, text)


def read_file(host: Host, path: str, *, sudo: bool = False) -> str | None:
    """A file's text, or None when it does not exist."""
    result = host.remote.run(fs.read(path), sudo=sudo, check=False)
    return result.stdout if result.ok else None


def read_files(host: Host, paths: list[str], *, sudo: bool = False) -> dict[str, str | None]:
    """Several files' text in one round trip; None for each that does not exist."""
    result = host.remote.run(fs.read_many(paths), sudo=sudo, check=False)
    found = parse_files(result.stdout)
    return {path: found.get(path) for path in paths}


def hashes(host: Host, paths: list[str], *, sudo: bool = False) -> dict[str, str]:
    result = host.remote.run(fs.sha256(paths), sudo=sudo, check=False)
    return parse_sha256sum(result.stdout)


def write_if_changed(
    host: Host,
    path: str,
    data: str | bytes,
    *,
    mode: int,
    sudo: bool = False,
    owner: str | None = None,
) -> bool:
    """Write `path` atomically unless it already holds exactly `data`. Returns changed."""
    raw = data.encode() if isinstance(data, str) else data
    if hashes(host, [path], sudo=sudo).get(path) == hashlib.sha256(raw).hexdigest():
        return False
    host.remote.put(raw, path, mode=mode, sudo=sudo, owner=owner)
    return True
