"""`leo env`, `env.set`, `env.del`: the app's env file, edited under a lock.

The read-modify-write happens on the client, so two concurrent edits are
serialised by the app's `env` lock on the host: neither is lost.
"""

from __future__ import annotations

from collections.abc import Callable

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


def show(host: Host, paths: AppPaths) -> str:
    """The environment as env-file lines: plain values bare, others quoted exactly."""
    values = load(host, paths).values()
    return "".join(f"{name}={_display(name, value)}\n" for name, value in values.items())


def _display(name: str, value: str) -> str:
    return value if value and set(value) <= _PLAIN else encode_value(value, name=name)


# A rotate holds the env lock for its whole run (one release, one env file);
# an edit waits for it by default rather than fail.
LOCK_WAIT = 600.0


def set_value(
    host: Host, paths: AppPaths, name: str, value: str, *, wait: float = LOCK_WAIT
) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"the value of {name} is not valid UTF-8 text") from None
    # A LEO_* setting the next rotate would refuse (LEO_WEB_PORT=http) is refused
    # now, before anything is written.
    check_setting(name, value)
    return _edit(host, paths, f"env.set {name}", lambda env: env.set(name, value), wait)


def delete(host: Host, paths: AppPaths, name: str, *, wait: float = LOCK_WAIT) -> bool:
    return _edit(host, paths, f"env.del {name}", lambda env: env.delete(name), wait)


def _edit(
    host: Host, paths: AppPaths, purpose: str, change: Callable[[EnvFile], bool], wait: float
) -> bool:
    """Read, change and write the env file under the app's env lock; returns changed."""
    with lock.held(host, paths, "env", purpose=purpose, wait=wait):
        env = load(host, paths)
        if not change(env):
            return False
        host.remote.put(env.render().encode(), paths.env_file, mode=0o600)
        return True
