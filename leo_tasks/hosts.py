"""Parsing `--host` values: `[user@]host[:port]`, comma-separated, or `local`."""

from __future__ import annotations

import pwd
import re
from dataclasses import dataclass

from .errors import InvalidInput, StepFailed

LOCAL = "local"
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]")
_USER = re.compile(r"[a-z_][a-z0-9_.-]*")


@dataclass(frozen=True)
class HostSpec:
    """Where to run: a host (maybe an ~/.ssh/config alias), an optional user and port."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def is_local(self) -> bool:
        return self.host == LOCAL

    def with_default_user(self, user: str) -> HostSpec:
        return self if self.user else HostSpec(self.host, user, self.port)

    def __str__(self) -> str:
        text = f"[{self.host}]" if ":" in self.host else self.host
        if self.user:
            text = f"{self.user}@{text}"
        if self.port:
            text = f"{text}:{self.port}"
        return text


def parse_host(text: str) -> HostSpec:
    """Parse one `[user@]host[:port]`; `local` means this machine, no SSH."""
    raw = text.strip()
    if raw == LOCAL:
        return HostSpec(LOCAL)
    user = None
    if "@" in raw:
        user, raw = raw.rsplit("@", 1)
        if not _USER.fullmatch(user):
            raise InvalidInput(f"invalid user in host {text!r}")
    port = None
    if raw.startswith("["):  # [ipv6]:port
        end = raw.find("]")
        if end != -1 and raw[end + 1 : end + 2] == ":":
            raw, port_text = raw[: end + 1], raw[end + 2 :]
            port = _port(port_text, text)
    elif raw.count(":") == 1:
        raw, port_text = raw.split(":")
        port = _port(port_text, text)
    if not _HOST.fullmatch(raw):
        raise InvalidInput(f"invalid host {text!r}: expected [user@]host[:port] or 'local'")
    if raw == LOCAL:
        raise InvalidInput(
            f"{text!r}: `local` runs on this machine without SSH; it takes no user or port"
        )
    return HostSpec(raw.strip("[]"), user, port)


def parse_hosts(text: str | None) -> list[HostSpec]:
    """Parse the comma-separated `--host` value into an ordered, de-duplicated list."""
    if not text or not text.strip():
        raise InvalidInput("no host given: pass --host [user@]host[:port] (or set it in leo.yaml)")
    specs: list[HostSpec] = []
    for part in text.split(","):
        if part.strip():
            spec = parse_host(part)
            if spec not in specs:
                specs.append(spec)
    if not specs:
        raise InvalidInput(f"no host in {text!r}: pass --host [user@]host[:port]")
    return specs


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidInput(f"invalid port in host {whole!r}")
    return int(text)


def local_deploy_user(name: str) -> pwd.struct_passwd:
    """The account `--host local` runs app commands as, when leo runs as root.

    Before `leo setup --host local` the account does not exist yet; that is a
    step to take, not a crash (pwd raises a bare KeyError).
    """
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise StepFailed(
            f"user {name} does not exist on this machine: "
            "run `leo setup --host local` first (as root)"
        ) from None
