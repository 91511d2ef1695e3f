"""Building SSH connections from ~/.ssh/config without opening them.

Each case has its own ssh config file (Fabric's `ssh_config_path`), so the
developer's ~/.ssh/config and /etc/ssh/ssh_config play no part.
"""

from __future__ import annotations

import io
from pathlib import Path

import fabric
import pytest

from leo_tasks.connect import AcceptNew, RejectUnknown, build_connection
from leo_tasks.hosts import parse_host
from leo_tasks.report import Reporter

SSH_CONFIG = """\
Host direct
    HostName 10.0.0.5
    ProxyJump none

Host piped
    HostName 10.0.0.6
    ProxyCommand ssh -W %h:%p bastion.example

Host direct-but-piped
    ProxyJump none
    ProxyCommand nc %h %p

Host unpiped
    ProxyCommand none

Host jumped
    HostName 10.0.0.7
    ProxyJump jumper@bastion.example:2200

Host twice
    ProxyJump first.example,second.example

Host *.example
    ProxyJump none

Host *.internal
    ProxyJump fallback.example
"""


@pytest.fixture
def config(tmp_path: Path) -> fabric.Config:
    path = tmp_path / "ssh_config"
    path.write_text(SSH_CONFIG)
    return fabric.Config(overrides={"ssh_config_path": str(path)})


@pytest.fixture
def build(config):
    def make(host: str, *, accept_new: bool = False) -> fabric.Connection:
        return build_connection(
            parse_host(host),
            reporter=Reporter(stream=io.StringIO()),
            base_config=config,
            accept_new=accept_new,
        )

    return make


def policy(conn: fabric.Connection) -> type:
    return type(conn.client._policy)


def test_proxyjump_none_means_no_gateway(build):
    conn = build("direct")
    # Fabric given gateway=None would build an unchecked Connection to a host named "none".
    assert not isinstance(conn.gateway, fabric.Connection)
    assert conn.gateway is False
    assert (conn.host, conn.port) == ("10.0.0.5", 22)
    assert policy(conn) is RejectUnknown


def test_proxycommand_is_kept_as_fabric_keeps_it(build, config):
    conn = build("piped")
    # The command with its %h/%p expanded; Fabric runs it as paramiko's ProxyCommand.
    assert conn.gateway == "ssh -W 10.0.0.6:22 bastion.example"
    assert conn.gateway == fabric.Connection("piped", config=config.clone()).gateway
    assert policy(conn) is RejectUnknown


def test_proxyjump_none_still_honours_a_proxycommand(build):
    assert build("direct-but-piped").gateway == "nc direct-but-piped 22"


def test_proxycommand_none_means_no_gateway(build):
    assert build("unpiped").gateway is False


def test_proxyjump_hop_is_our_checked_connection(build):
    conn = build("jumped")
    hop = conn.gateway
    assert isinstance(hop, fabric.Connection)
    assert (hop.user, hop.host, hop.port) == ("jumper", "bastion.example", 2200)
    assert hop.gateway is False  # `Host *.example` says ProxyJump none for the hop itself
    assert policy(hop) is RejectUnknown
    assert policy(conn) is RejectUnknown
    assert not conn.is_connected and not hop.is_connected  # built, not opened


def test_every_hop_of_a_chain_checks_host_keys(build):
    conn = build("twice", accept_new=True)
    second = conn.gateway
    first = second.gateway
    assert (first.host, second.host) == ("first.example", "second.example")
    assert first.gateway is False
    assert {policy(c) for c in (conn, second, first)} == {AcceptNew}


def test_host_without_any_proxy_has_no_gateway(build):
    assert build("leo-deploy@elsewhere").gateway is False


def test_host_matching_a_wildcard_gets_its_jump(build):
    conn = build("leo-deploy@db.internal")
    assert isinstance(conn.gateway, fabric.Connection)
    assert conn.gateway.host == "fallback.example"
    assert policy(conn.gateway) is RejectUnknown


def test_why_gateway_none_is_never_passed(config):
    # The control: Fabric left to itself reads `ProxyJump none` as a hop to a host
    # named "none", built with the plain Connection (any host key accepted).
    fabric_own = fabric.Connection("direct", config=config.clone()).gateway
    assert isinstance(fabric_own, fabric.Connection) and fabric_own.host == "none"
