"""`--host` values: `[user@]host[:port]`, comma-separated, or `local`."""

from __future__ import annotations

import os
import pwd

import paramiko
import pytest

from leo_tasks.errors import InvalidInput, StepFailed
from leo_tasks.hosts import (
    HostSpec,
    local_deploy_user,
    parse_host,
    parse_hosts,
    unique_targets,
)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("prod", HostSpec("prod")),
        ("  prod  ", HostSpec("prod")),
        ("web-1.example.com", HostSpec("web-1.example.com")),
        ("root@prod", HostSpec("prod", "root")),
        ("leo-deploy@prod", HostSpec("prod", "leo-deploy")),
        ("prod:2222", HostSpec("prod", None, 2222)),
        ("deploy@10.0.0.5:22", HostSpec("10.0.0.5", "deploy", 22)),
        ("[::1]", HostSpec("::1")),
        ("[::1]:2222", HostSpec("::1", None, 2222)),
        ("me@[2001:db8::1]:65535", HostSpec("2001:db8::1", "me", 65535)),
        ("local", HostSpec("local")),
    ],
)
def test_parse_host(text, spec):
    assert parse_host(text) == spec


def test_local_is_this_machine():
    assert parse_host("local").is_local
    assert not parse_host("localhost").is_local
    assert not parse_host("prod").is_local


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid host"),
        ("prod:", "invalid port"),
        ("prod:0", "invalid port"),
        ("prod:65536", "invalid port"),
        ("prod:ssh", "invalid port"),
        ("prod:-1", "invalid port"),
        ("[::1]:", "invalid port"),
        ("[::1]:x", "invalid port"),
        ("::1", "invalid host"),  # IPv6 needs brackets
        ("[::1", "invalid host"),
        ("[::1]x", "invalid host"),
        ("[fe80::1%eth0]", "invalid host"),
        ("pro d", "invalid host"),
        ("prod;id", "invalid host"),
        ("prod/x", "invalid host"),
        ("Root@prod", "invalid user"),
        ("@prod", "invalid user"),
        ("a b@prod", "invalid user"),
        ("me@", "invalid host"),
        ("a:b:c", "invalid host"),
    ],
)
def test_parse_host_refuses_bad_input(text, message):
    with pytest.raises(InvalidInput, match=message) as info:
        parse_host(text)
    assert repr(text) in str(info.value)


def test_invalid_host_message_shows_the_format():
    with pytest.raises(InvalidInput) as info:
        parse_host("a b")
    assert str(info.value) == "invalid host 'a b': expected [user@]host[:port] or 'local'"


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        ("prod", [HostSpec("prod")]),
        ("a,b", [HostSpec("a"), HostSpec("b")]),
        (" a , b ,", [HostSpec("a"), HostSpec("b")]),
        ("b,a,b", [HostSpec("b"), HostSpec("a")]),  # order kept, duplicates dropped
        ("a,root@a,a:22", [HostSpec("a"), HostSpec("a", "root"), HostSpec("a", None, 22)]),
        ("local,[::1]:2", [HostSpec("local"), HostSpec("::1", None, 2)]),
    ],
)
def test_parse_hosts(text, specs):
    assert parse_hosts(text) == specs


@pytest.mark.parametrize("text", [None, "", "   "])
def test_parse_hosts_needs_a_host(text):
    with pytest.raises(InvalidInput, match=r"no host given: pass --host"):
        parse_hosts(text)


@pytest.mark.parametrize("text", [",", " , ,"])
def test_parse_hosts_with_only_commas_is_no_host(text):
    with pytest.raises(InvalidInput):
        parse_hosts(text)


def test_parse_hosts_refuses_one_bad_part():
    with pytest.raises(InvalidInput, match="invalid port in host 'b:0'"):
        parse_hosts("a,b:0")


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (HostSpec("prod"), "prod"),
        (HostSpec("prod", "root"), "root@prod"),
        (HostSpec("prod", None, 2222), "prod:2222"),
        (HostSpec("prod", "me", 2222), "me@prod:2222"),
    ],
)
def test_str_is_the_flag_form(spec, text):
    assert str(spec) == text
    assert parse_host(str(spec)) == spec


def test_str_of_ipv6_with_port_parses_back():
    spec = parse_host("[::1]:22")
    assert parse_host(str(spec)) == spec


def test_with_default_user():
    assert HostSpec("prod").with_default_user("leo-deploy") == HostSpec("prod", "leo-deploy")
    assert HostSpec("prod", "root", 2).with_default_user("leo-deploy") == HostSpec(
        "prod", "root", 2
    )


def test_local_deploy_user_that_exists_is_its_passwd_entry():
    me = pwd.getpwuid(os.getuid())
    assert local_deploy_user(me.pw_name) == me


def test_local_deploy_user_before_setup_says_to_run_setup():
    # A name no machine has: the state `--host local` is in before `leo setup`.
    with pytest.raises(StepFailed) as info:
        local_deploy_user("leo-no-such-user")
    assert str(info.value) == (
        "user leo-no-such-user does not exist on this machine: "
        "run `leo setup --host local` first (as root)"
    )
    assert info.value.exit_code == 1


# ---- one deploy per machine and user: ~/.ssh/config applied ------------------------

SSH_CONFIG = paramiko.SSHConfig.from_text(
    """\
Host shop
    HostName prod.example.com

Host shop-admin
    HostName prod.example.com
    User admin

Host other-port
    HostName prod.example.com
    Port 2222

Host local
    HostName elsewhere.example.com
"""
)


def unique(text: str, default_user: str | None = "leo-deploy") -> str:
    kept = unique_targets(parse_hosts(text), default_user, SSH_CONFIG.lookup)
    return ",".join(map(str, kept))


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("prod,leo-deploy@prod", "prod"),  # the default user, named or not
        ("leo-deploy@prod,prod", "leo-deploy@prod"),  # the first one is kept
        ("prod,prod:22", "prod"),  # the default port
        ("prod,Prod", "prod"),  # host names are not case-sensitive
        ("shop,prod.example.com", "shop"),  # an alias and its HostName
        ("prod.example.com,leo-deploy@shop:22", "prod.example.com"),
        ("other-port,prod.example.com:2222", "other-port"),  # ssh_config's Port
        ("b,a,leo-deploy@b,a:22", "b,a"),  # order kept
        # Different users or ports are different targets.
        ("prod,root@prod", "prod,root@prod"),
        ("prod,prod:2222", "prod,prod:2222"),
        ("other-port,shop", "other-port,shop"),
        ("prod,prod.example.com", "prod,prod.example.com"),
        # `local` is this machine without SSH: never looked up, never a remote host.
        ("local,elsewhere.example.com,localhost", "local,elsewhere.example.com,localhost"),
    ],
)
def test_unique_targets(text, kept):
    assert unique(text) == kept


def test_local_is_kept_once():
    local = HostSpec("local")
    assert unique_targets([local, HostSpec("prod"), local], "leo-deploy", SSH_CONFIG.lookup) == [
        local,
        HostSpec("prod"),
    ]


def test_ssh_config_user_counts_when_the_task_has_no_default_user():
    # setup/implode connect as given, else as ssh_config's User, else as the local user.
    assert unique("shop-admin,admin@prod.example.com", None) == "shop-admin"
    assert unique("shop-admin,shop", None) == "shop-admin,shop"
    assert unique("prod,prod", None) == "prod"
    # App tasks connect as leo-deploy unless the spec names a user: User is not used.
    assert unique("shop-admin,shop") == "shop-admin"
    assert unique("shop-admin,admin@prod.example.com") == "shop-admin,admin@prod.example.com"
