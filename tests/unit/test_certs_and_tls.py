"""Pure parts of the certificate work: PEM parsing, due dates, server_name, cron line."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from leo_tasks import certs, templates
from leo_tasks.acme_client import LETS_ENCRYPT, AcmeSettings
from leo_tasks.errors import InvalidInput
from leo_tasks.layout import AppPaths
from leo_tasks.steps.tls import CRON_MARK, cron_line


def make_cert(domains: list[str], days: int) -> bytes:
    key = serialization.load_pem_private_key(certs.new_certificate_key(), None)
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Issuer R1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_parse_certificate_reads_names_issuer_and_expiry():
    info = certs.parse_certificate(make_cert(["a.example", "b.example"], 90))
    assert info.domains == ("a.example", "b.example")
    assert info.issuer == "Test Issuer R1"
    assert 89 < info.days_left() < 91


@pytest.mark.parametrize(
    ("domains", "days", "wanted", "due"),
    [
        (["a.example"], 90, ["a.example"], False),
        (["a.example"], 20, ["a.example"], True),  # expires within 30 days
        (["a.example"], 90, ["a.example", "b.example"], True),  # a new domain
        (["a.example", "b.example"], 90, ["b.example"], False),  # covers it
    ],
)
def test_is_due(domains, days, wanted, due):
    assert certs.is_due(certs.parse_certificate(make_cert(domains, days)), wanted, 30) is due


def test_missing_certificate_is_due():
    assert certs.is_due(None, ["a.example"], 30)


def test_keys_are_pem_private_keys():
    assert certs.new_account_key().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert certs.new_certificate_key().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_server_names_from_a_site_with_several_multiline_directives():
    site = """
    server {
        server_name  shop.example.com
                     www.shop.example.com;   # trailing comment
        # server_name commented.example.com;
        server_name _ ~^(?<x>.+)\\.regex$ Shop.Example.com;
    }
    server { server_name api.example.com; }
    """
    assert certs.server_names(site) == [
        "shop.example.com",
        "www.shop.example.com",
        "api.example.com",
    ]


def test_generated_site_names_round_trip():
    site = templates.app_site(AppPaths("shop"), ["shop.example.com", "www.shop.example.com"])
    assert certs.server_names(site) == ["shop.example.com", "www.shop.example.com"]


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        ([], "no domain"),
        (["*.example.com"], "wildcard"),
        (["shop"], "not a public domain"),
    ],
)
def test_check_domains_refuses(domains, message):
    with pytest.raises(InvalidInput, match=message):
        certs.check_domains(domains)


def test_tls_conf_modern_and_redirect_spares_acme():
    conf = templates.tls(AppPaths("shop"), ["shop.example.com"], "/x/live/shop.example.com")
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "ssl_certificate /x/live/shop.example.com/fullchain.pem;" in conf
    assert "ssl_certificate_key /x/live/shop.example.com/privkey.pem;" in conf
    assert 'if ($uri ~ "^/\\.well-known/acme-challenge/") { set $leo_to_https 0; }' in conf
    assert "listen" not in templates.tls(AppPaths("shop"))  # placeholder before a certificate


def test_account_is_per_directory():
    assert AcmeSettings().directory == LETS_ENCRYPT
    assert AcmeSettings().account_id != AcmeSettings(directory="https://x/dir").account_id


def test_cron_line_absolute_paths_quoted_and_marked():
    line = cron_line(
        "shop",
        "/opt/leo venv/bin/leo",
        ["--ca-bundle", "/etc/a b.pem"],
        "/home/leo-deploy/apps/shop/letsencrypt/renew.log",
    )
    minute, hours, *_ = line.split()
    first, second = map(int, hours.split(","))
    assert 0 <= int(minute) < 60 and second == first + 12
    assert line.endswith(f"2>&1 {CRON_MARK}shop")
    command = line.split(" ", 5)[5].rsplit(" >> ", 1)[0]
    argv = shlex.split(command)
    assert argv[0] == "env" and argv[1].startswith("PATH=/usr/local/sbin:")
    assert argv[2:] == [
        "/opt/leo venv/bin/leo",
        "letsencrypt",
        "--app",
        "shop",
        "--host",
        "local",
        "--ca-bundle",
        "/etc/a b.pem",
    ]


def cron_command(field: str) -> str:
    """What cron hands the shell for a crontab command field (vixie cron / cronie).

    A backslash escapes the next character: `\\%` becomes `%`, any other pair is
    kept as written; an unescaped `%` becomes a newline (cron ends the command
    there and feeds the rest to its stdin).
    """
    out: list[str] = []
    escaped = False
    for ch in field:
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
        elif ch == "%":
            out.append("\n")
        else:
            out.append(ch)
            escaped = ch == "\\"
    return "".join(out)


@pytest.mark.parametrize(
    ("field", "command"),
    [("a%b", "a\nb"), ("a\\%b", "a%b"), ("a\\\\%b", "a\\\\\nb"), ("a\\\\\\%b", "a\\\\%b")],
)
def test_cron_command_helper_follows_crons_rule(field, command):
    assert cron_command(field) == command


LOG = "/home/leo-deploy/apps/shop/letsencrypt/renew.log"


@pytest.mark.parametrize(
    ("leo_path", "args"),
    [
        ("/usr/local/bin/leo", ["--directory", "https://ca.example/acme%2Fdir/directory"]),
        ("/usr/local/bin/leo", ["--email", "ops+100%@example.com"]),
        ("/opt/leo 100%/bin/leo", ["--ca-bundle", "/etc/ca 50%.pem", "--email", "a%b@x.example"]),
        ("/usr/local/bin/leo", ["--directory", "https://x.example/%%%"]),
        ("/usr/local/bin/leo", ["--email", "back\\slash%@x.example"]),  # a backslash, not before %
    ],
)
def test_cron_line_passes_percent_signs_through_cron_unchanged(leo_path, args):
    line = cron_line("shop", leo_path, args, LOG)
    command = cron_command(line.split(" ", 5)[5])
    assert "\n" not in command  # no % reached cron unescaped
    argv = shlex.split(command, comments=True)  # `# leo:letsencrypt:shop` is a comment
    assert argv == [
        "env",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        leo_path,
        "letsencrypt",
        "--app",
        "shop",
        "--host",
        "local",
        *args,
        ">>",
        LOG,
        "2>&1",
    ]
    assert line.endswith(f" {CRON_MARK}shop")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "x@example.com\n* * * * * rm -rf ~", "\n"])
def test_cron_line_refuses_a_line_break_in_any_argument(bad):
    with pytest.raises(InvalidInput, match="line break"):
        cron_line("shop", "/usr/local/bin/leo", ["--email", bad], LOG)
    with pytest.raises(InvalidInput, match="line break"):
        cron_line("shop", f"/usr/local/bin/{bad}", [], LOG)


def test_cron_line_refuses_a_backslash_before_percent():
    # cron would read the argument's backslash as escaping cron_escape's one.
    with pytest.raises(InvalidInput, match="backslash before '%'"):
        cron_line("shop", "/usr/local/bin/leo", ["--directory", "https://x/a\\%b"], LOG)
