"""Opening SSH connections that check host keys, honour ~/.ssh/config, and fail clearly.

Fabric's Connection accepts any host key (AutoAddPolicy, known_hosts never
loaded). Here every connection, ProxyJump hops included, loads
~/.ssh/known_hosts and refuses unknown or changed keys; accepting a new key
is an explicit choice (`accept_new=True`, like OpenSSH's accept-new).
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading

import fabric
import invoke
import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from .errors import ConnectionProblem
from .hosts import HostSpec, parse_host
from .report import Reporter

KNOWN_HOSTS = "~/.ssh/known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        self.hostname = hostname
        self.key = key
        super().__init__(f"host key for {hostname} not in known_hosts")


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(hostname, key)


_KNOWN_HOSTS_WRITE = threading.Lock()


class AcceptNew(paramiko.MissingHostKeyPolicy):
    """Trust-on-first-use: record a host's first key; a changed key is still refused."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def missing_host_key(self, client, hostname, key):
        path = os.path.expanduser(KNOWN_HOSTS)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with _KNOWN_HOSTS_WRITE, open(path, "a", encoding="ascii") as fh:
            # Hosts connect in parallel: one whole line per append.
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.reporter.note(hostname, f"trusted new host key {fingerprint(key)} ({path})")


def _check_host_keys(conn: fabric.Connection, reporter: Reporter, accept_new: bool) -> None:
    """Replace Fabric's AutoAddPolicy: known_hosts is loaded, unknown keys refused."""
    conn.client.load_system_host_keys()  # reads ~/.ssh/known_hosts
    conn.client.set_missing_host_key_policy(AcceptNew(reporter) if accept_new else RejectUnknown())


def ssh_config_for(base: invoke.Config | None) -> fabric.Config:
    """A fresh fabric.Config per connection, with ~/.ssh/config loaded.

    Never share one Config between connections: Fabric writes key_filename
    back into it, so identities would leak between hosts.
    """
    cfg = base.clone(into=fabric.Config) if base is not None else fabric.Config()
    cfg.load_ssh_config()
    cfg.run.encoding = "utf-8"
    return cfg


def build_connection(
    spec: HostSpec,
    *,
    reporter: Reporter,
    base_config: invoke.Config | None = None,
    accept_new: bool = False,
    _hops: int = 0,
) -> fabric.Connection:
    """The Connection to `spec`, not opened yet: host keys checked, on it and every hop."""
    cfg = ssh_config_for(base_config)
    conn = fabric.Connection(
        spec.host,
        user=spec.user,
        port=spec.port,
        config=cfg,
        gateway=_gateway(spec, cfg, reporter, base_config, accept_new, _hops),
        connect_timeout=cfg.timeouts.connect or 15,
    )
    _check_host_keys(conn, reporter, accept_new)
    return conn


def open_connection(
    spec: HostSpec,
    *,
    reporter: Reporter,
    base_config: invoke.Config | None = None,
    accept_new: bool = False,
) -> fabric.Connection:
    """Connect to `spec` and verify its host key, or raise ConnectionProblem."""
    conn = build_connection(spec, reporter=reporter, base_config=base_config, accept_new=accept_new)
    _open(conn)
    return conn


def _open(conn: fabric.Connection) -> None:
    """Open `conn`, its ProxyJump hops first, so an error names the host it is about."""
    if isinstance(conn.gateway, fabric.Connection):
        _open(conn.gateway)  # Fabric would open it too, without these messages
    label = f"{conn.user}@{conn.host}:{conn.port}"
    try:
        conn.open()
    except UnknownHostKey as exc:
        port_flag = f"-p {conn.port} " if conn.port != 22 else ""
        raise ConnectionProblem(
            f"refusing {label}: its host key ({fingerprint(exc.key)}) is not in "
            f"{KNOWN_HOSTS}. Check the fingerprint with the server's admin, then trust it: "
            f"ssh-keyscan {port_flag}{conn.host} >> {KNOWN_HOSTS} "
            "(or run once with --accept-new-host-key)"
        ) from exc
    except paramiko.BadHostKeyException as exc:
        name = f"[{conn.host}]:{conn.port}" if conn.port != 22 else conn.host
        raise ConnectionProblem(
            f"refusing {label}: HOST KEY CHANGED. known_hosts has "
            f"{fingerprint(exc.expected_key)}, the server offered {fingerprint(exc.key)}. "
            f"This may be an attack. If the server was really reinstalled, remove the old "
            f"key with: ssh-keygen -R '{name}'"
        ) from exc
    except paramiko.AuthenticationException as exc:
        raise ConnectionProblem(
            f"authentication failed for {label}: {exc}. Is your public key in the user's "
            "~/.ssh/authorized_keys? (`leo setup --host root@HOST` installs it for leo-deploy)"
        ) from exc
    except (OSError, NoValidConnectionsError, paramiko.SSHException) as exc:
        raise ConnectionProblem(f"cannot connect to {label}: {exc}") from exc


def _gateway(spec, cfg, reporter, base_config, accept_new, hops) -> fabric.Connection | str | bool:
    """The `gateway=` for Connection: never None.

    With None, Fabric reads ssh_config's ProxyJump itself and builds its hops
    with the plain Connection class, which accepts any host key; with
    `ProxyJump none` it even builds a hop to a host named "none". So: our own
    checked hops for a ProxyJump, else the ProxyCommand string (what Fabric
    itself passes for one: it runs it as paramiko's ProxyCommand), else False,
    which Fabric reads as "no gateway".
    """
    options = cfg.base_ssh_config.lookup(spec.host)
    jump = options.get("proxyjump")
    if jump and jump.lower() != "none":
        return _secure_jump(spec, jump, reporter, base_config, accept_new, hops)
    # paramiko stores `ProxyCommand none` as None.
    return options.get("proxycommand") or False


def _secure_jump(spec, jump, reporter, base_config, accept_new, hops) -> fabric.Connection:
    """Build ProxyJump hops ourselves: Fabric's own hops accept any host key."""
    if hops > 8:
        raise ConnectionProblem(f"ProxyJump loop while resolving {spec}")
    gateway = None
    for hop in jump.split(","):
        hop_spec = parse_host(hop)
        if gateway is None:
            gateway = build_connection(
                hop_spec,
                reporter=reporter,
                base_config=base_config,
                accept_new=accept_new,
                _hops=hops + 1,
            )
        else:
            # A later hop is reached through the previous one.
            gateway = _through(hop_spec, gateway, reporter, base_config, accept_new)
    return gateway


def _through(spec, gateway, reporter, base_config, accept_new):
    cfg = ssh_config_for(base_config)
    conn = fabric.Connection(spec.host, user=spec.user, port=spec.port, config=cfg, gateway=gateway)
    _check_host_keys(conn, reporter, accept_new)
    return conn
