"""`leo env`, `env.set`, `env.del`: the app's env file, edited under a lock.

The read-modify-write happens on the client, so two concurrent edits are
serialised by the app's `env` lock on the host: neither is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..appsettings import check_setting
from ..envfile import EnvFile, encode_value
from ..errors import InvalidInput, StepFailed
from ..layout import AppPaths
from . import lock
from .base import Host, read_file

_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/@+%=")


def load(host: Host, paths: AppPaths) -> EnvFile:
    text = read_file(host, paths.env_file)
    if text is None:
        raise StepFailed(f"app {paths.app!r} has no env file on {host.name} (leo create?)")
    return EnvFile.parse(text)


def variables(host: Host, paths: AppPaths) -> dict[str, str]:
    """The app's variables, in the env file's order."""
    return load(host, paths).values()


def render(env: Mapping[str, str]) -> str:
    """The environment as env-file lines: plain values bare, others quoted exactly."""
    return "".join(f"{name}={_display(name, value)}\n" for name, value in env.items())


def as_json(env: Mapping[str, str]) -> dict[str, Any]:
    """The same variables for --json: each value itself (what the container gets),
    which JSON escapes where the env-file lines quote (see schemas/env.schema.json)."""
    return {"env": dict(env)}


def _display(name: str, value: str) -> str:
    return value if value and set(value) <= _PLAIN else encode_value(value, name=name)


# A rotate holds the env lock for its whole run (one release, one env file);
# an edit waits for it by default rather than fail.
LOCK_WAIT = 600.0


def set_value(
    host: Host,
    paths: AppPaths,
    name: str,
    value: str,
    *,
    wait: float = LOCK_WAIT,
    dry_run: bool = False,
) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"the value of {name} is not valid UTF-8 text") from None
    # A LEO_* setting the next rotate would refuse (LEO_WEB_PORT=http) is refused
    # now, before anything is written.
    check_setting(name, value)
    return _edit(host, paths, f"env.set {name}", lambda env: env.set(name, value), wait, dry_run)


def delete(
    host: Host, paths: AppPaths, name: str, *, wait: float = LOCK_WAIT, dry_run: bool = False
) -> bool:
    return _edit(host, paths, f"env.del {name}", lambda env: env.delete(name), wait, dry_run)


def _edit(
    host: Host,
    paths: AppPaths,
    purpose: str,
    change: Callable[[EnvFile], bool],
    wait: float,
    dry_run: bool = False,
) -> bool:
    """Read, change and write the env file under the app's env lock; returns changed.

    `dry_run`: the same change made to a copy read without the lock, and not written:
    whether the edit would change the file, with nothing on the host touched."""
    if dry_run:
        return change(load(host, paths))
    with lock.held(host, paths, "env", purpose=purpose, wait=wait):
        env = load(host, paths)
        if not change(env):
            return False
        host.remote.put(env.render().encode(), paths.env_file, mode=0o600)
        return True


@dataclass(frozen=True)
class EnvChange:
    """What an env.push changed: names only, never a value."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # The file is rewritten: a change above, or the same values written more plainly
    # (a variable a hand edit wrote twice is kept once).
    rewritten: bool = False

    def describe(self) -> str:
        parts = [
            f"{what} {', '.join(names)}"
            for what, names in (
                ("added", self.added),
                ("changed", self.changed),
                ("removed", self.removed),
            )
            if names
        ]
        return "; ".join(parts) or "unchanged"


def push(
    host: Host,
    paths: AppPaths,
    values: Mapping[str, str],
    *,
    prune: bool = False,
    wait: float = LOCK_WAIT,
    dry_run: bool = False,
) -> EnvChange:
    """Set every variable of `values` in one write under the env lock; with `prune`,
    remove the variables `values` lacks, except leo's own LEO_* settings (the web
    service, the registry login...: a dotenv file for the app does not hold them, and
    losing them would change how the app is deployed)."""
    for name, value in values.items():
        check_setting(name, value)
    found: list[EnvChange] = []

    def change(env: EnvFile) -> bool:
        current = env.values()
        dirty = False
        for name, value in values.items():
            dirty = env.set(name, value) or dirty
        removed = [n for n in current if prune and n not in values and not n.startswith("LEO_")]
        for name in removed:
            dirty = env.delete(name) or dirty
        found.append(
            EnvChange(
                added=[n for n in values if n not in current],
                changed=[n for n in values if n in current and current[n] != values[n]],
                removed=removed,
                rewritten=dirty,
            )
        )
        return dirty

    _edit(host, paths, "env.push", change, wait, dry_run)
    return found[0]
