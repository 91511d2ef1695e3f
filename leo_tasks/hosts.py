"""Parsing `--host` values: `[user@]host[:port]`, comma-separated, or `local`."""

from __future__ import annotations

import pwd
import re
from collections.abc import Callable, Mapping
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


def parse_hosts(text: str | None, groups: Mapping[str, list[str]] | None = None) -> list[HostSpec]:
    """Parse the comma-separated `--host` value into an ordered, de-duplicated list.

    An item that names a group (`hosts:` in leo.yaml) stands for the group's hosts.
    """
    if not text or not text.strip():
        raise InvalidInput("no host given: pass --host [user@]host[:port] (or set it in leo.yaml)")
    specs: list[HostSpec] = []
    for part in text.split(","):
        for item in (groups or {}).get(part.strip(), [part]):
            if item.strip():
                spec = parse_host(item)
                if spec not in specs:
                    specs.append(spec)
    if not specs:
        raise InvalidInput(f"no host in {text!r}: pass --host [user@]host[:port]")
    return specs


def unique_targets(
    specs: list[HostSpec],
    default_user: str | None,
    lookup: Callable[[str], Mapping[str, str]],
) -> list[HostSpec]:
    """`specs` without the ones that reach a machine, as a user, already listed.

    `prod,leo-deploy@prod` or an ~/.ssh/config alias next to its HostName would
    otherwise deploy twice to one host. `lookup` is ssh_config's (paramiko's
    SSHConfig.lookup). The first of each is kept, in order; `local` is never
    looked up and stays as it is.
    """
    seen: set[tuple[str | None, str, int]] = set()
    kept: list[HostSpec] = []
    for spec in specs:
        target = ("", LOCAL, 0) if spec.is_local else _target(spec, default_user, lookup)
        if target not in seen:
            seen.add(target)
            kept.append(spec)
    return kept


def _target(
    spec: HostSpec, default_user: str | None, lookup: Callable[[str], Mapping[str, str]]
) -> tuple[str | None, str, int]:
    """(user, hostname, port) as the connection will use them.

    The user named in the spec, else the task's default user (leo-deploy for app
    tasks), else ssh_config's User: the same order as open_remote and Fabric
    apply. None means "the local user" for every spec alike. Host names are
    compared in lowercase, as DNS and OpenSSH treat them.
    """
    options = lookup(spec.host)
    user = spec.user or default_user or options.get("user")
    hostname = str(options.get("hostname") or spec.host).lower()
    port = spec.port or int(options.get("port") or 22)
    return user, hostname, port


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
