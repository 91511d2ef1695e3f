"""leo letsencrypt / certs / letsencrypt.schedule against Debian's Pebble ACME server.

Pebble really validates HTTP-01 by fetching the token from this machine's
nginx on port 80; its DNS (pebble-challtestsrv) knows only the names a test
adds, so a name that was not added does not resolve to this host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import ssl
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from .conftest import domain_of
from .hostkit import APPS, LEO, http_get, nginx, sh
from .test_rotate import deploy_v1

PEBBLE_ENV = Path(os.environ.get("LEO_TESTHOST_DIR", "/var/lib/leo-testhost")) / "pebble/env"


@pytest.fixture(scope="session")
def pebble() -> dict[str, str]:
    return pebble_env()


def pebble_env() -> dict[str, str]:
    """The running Pebble's addresses and CA file (written by scripts/start-pebble.sh)."""
    if not PEBBLE_ENV.exists():
        pytest.fail("pebble is not running: scripts/provision-testhost.sh starts it", pytrace=False)
    return dict(line.split("=", 1) for line in PEBBLE_ENV.read_text().split())


def add_dns(pebble: dict[str, str], name: str) -> None:
    body = json.dumps({"host": name, "addresses": ["127.0.0.1"]}).encode()
    urllib.request.urlopen(f"{pebble['CHALLTESTSRV']}/add-a", data=body, timeout=5).read()


def pebble_root(pebble: dict[str, str], tmp_path: Path) -> Path:
    """Pebble makes a new issuing root at each start: fetch the current one."""
    context = ssl.create_default_context(cafile=pebble["PEBBLE_CA_BUNDLE"])
    chain = ""
    for kind in ("roots", "intermediates"):
        url = f"{pebble['PEBBLE_MANAGEMENT']}/{kind}/0"
        chain += urllib.request.urlopen(url, context=context, timeout=5).read().decode()
    path = tmp_path / "pebble-root.pem"
    path.write_text(chain)
    return path


def https_get(domain: str, cafile: Path, path: str = "/") -> tuple[int, str, str]:
    """GET over TLS to 127.0.0.1:443 with SNI `domain`, verified against `cafile`."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", 443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        version = tls.version()
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    return int(head.split()[1]), body, version


def acme_args(pebble: dict[str, str]) -> list[str]:
    return ["--directory", pebble["PEBBLE_DIRECTORY"], "--ca-bundle", pebble["PEBBLE_CA_BUNDLE"]]


@pytest.fixture
def site(leo, app, tmp_path, pebble):
    """A deployed app whose domain resolves to this host in Pebble's DNS."""
    deploy_v1(leo, app, tmp_path)
    add_dns(pebble, domain_of(app))
    return app


def test_certificate_issued_validated_and_served(leo, site, pebble, tmp_path):
    home_before = sorted(p for p in leo.home.rglob("*"))
    result = leo(
        "letsencrypt",
        "--app",
        site,
        "--host",
        "testhost",
        "--email",
        "ops@example.com",
        *acme_args(pebble),
    )
    assert "1 served through nginx" in result.stderr
    root = pebble_root(pebble, tmp_path)
    status, body, version = https_get(domain_of(site), root)
    assert status == 200 and body.startswith("leo-test-web v1")
    assert version in ("TLSv1.2", "TLSv1.3")
    # HTTP redirects to HTTPS, except the ACME path (renewals are validated over HTTP).
    assert http_get(domain_of(site))[0] == 301
    assert http_get(domain_of(site), "/.well-known/acme-challenge/nothing")[0] == 404

    live = APPS / site / "letsencrypt/live" / domain_of(site)
    assert (live / "privkey.pem").stat().st_mode & 0o777 == 0o600
    assert (live / "fullchain.pem").read_text().count("BEGIN CERTIFICATE") >= 2
    tls_conf = (APPS / site / "tls.conf").read_text()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls_conf
    [ciphers] = [ln for ln in tls_conf.splitlines() if ln.startswith("ssl_ciphers ")]
    assert "DES" not in ciphers and "CBC" not in ciphers and "GCM" in ciphers
    # Neither the certificate key nor anything else was written on the client side.
    assert sorted(p for p in leo.home.rglob("*")) == home_before
    assert list((APPS / site / "letsencrypt/webroot/.well-known/acme-challenge").iterdir()) == []


def test_renewal_skipped_when_not_due_forced_with_force_same_account(leo, site, pebble):
    first = leo("letsencrypt", "--app", site, "--host", "testhost", *acme_args(pebble))
    account_file = next((APPS / site / "letsencrypt").glob("account-*.pem"))
    account_key = hashlib.sha256(account_file.read_bytes()).hexdigest()
    cert = APPS / site / "letsencrypt/live" / domain_of(site) / "fullchain.pem"
    issued = cert.read_text()

    again = leo("letsencrypt", "--app", site, "--host", "testhost", *acme_args(pebble))
    assert "valid for more than 30 days on every host" in again.stderr
    assert "ACME account" not in again.stderr and cert.read_text() == issued

    forced = leo("letsencrypt", "--app", site, "--host", "testhost", "--force", *acme_args(pebble))
    assert cert.read_text() != issued
    account_url = [ln for ln in first.stderr.splitlines() if "ACME account:" in ln]
    assert account_url and account_url[0].split("ACME account: ")[1].split()[0] in forced.stderr
    assert hashlib.sha256(account_file.read_bytes()).hexdigest() == account_key
    assert account_file.stat().st_mode & 0o777 == 0o600


def test_users_own_site_edits_survive(leo, site, pebble, tmp_path):
    conf = APPS / site / "nginx.conf"
    conf.write_text(
        conf.read_text().replace(
            "    location / {", '    location = /hello { return 200 "mine"; }\n\n    location / {'
        )
    )
    nginx("-s", "reload")
    leo("letsencrypt", "--app", site, "--host", "testhost", *acme_args(pebble))
    assert 'location = /hello { return 200 "mine"; }' in conf.read_text()
    assert https_get(domain_of(site), pebble_root(pebble, tmp_path), "/hello")[:2] == (200, "mine")


def test_domain_not_pointing_here_fails_and_changes_nothing(leo, app, tmp_path, pebble):
    deploy_v1(leo, app, tmp_path)  # the domain is not in Pebble's DNS
    tls_before = (APPS / app / "tls.conf").read_text()
    result = leo("letsencrypt", "--app", app, "--host", "testhost", *acme_args(pebble), ok=False)
    assert result.returncode == 1
    assert "leo: the CA could not validate" in result.stderr
    # The CA's own reason, naming the domain it could not reach.
    assert f'could not resolve URL "http://{domain_of(app)}:80/' in result.stderr
    assert (APPS / app / "tls.conf").read_text() == tls_before
    assert not (APPS / app / "letsencrypt/live").exists()
    assert list((APPS / app / "letsencrypt/webroot/.well-known/acme-challenge").iterdir()) == []
    assert http_get(domain_of(app))[0] == 200


def test_certs_reports_and_fails_when_expiring(leo, site, pebble):
    assert "no certificate" in leo("certs", "--app", site, "--host", "testhost").stdout
    leo("letsencrypt", "--app", site, "--host", "testhost", *acme_args(pebble))
    shown = leo("certs", "--app", site, "--host", "testhost")
    assert domain_of(site) in shown.stdout and "issuer Pebble" in shown.stdout
    soon = leo("certs", "--app", site, "--host", "testhost", "--days", "3000", ok=False)
    assert soon.returncode == 1 and "EXPIRES SOON" in soon.stdout


def test_schedule_adds_one_line_and_the_job_runs_with_crons_environment(
    leo, site, pebble, tmp_path
):
    leo("letsencrypt", "--app", site, "--host", "testhost", *acme_args(pebble))
    mine = f"7 7 * * * /usr/bin/true # someone else's job {uuid.uuid4().hex[:6]}"
    sh("sh", "-c", f"echo {shlex.quote(mine)} | crontab -u leo-deploy -")
    leo_bin = LEO  # the installed console script, by absolute path
    args = [
        "letsencrypt.schedule",
        "--app",
        site,
        "--host",
        "testhost",
        "--leo",
        leo_bin,
        *acme_args(pebble),
    ]
    assert "installed" in leo(*args).stderr
    assert "unchanged" in leo(*args).stderr
    crontab = sh("crontab", "-l", "-u", "leo-deploy").stdout.splitlines()
    assert crontab[0] == mine and len(crontab) == 2
    job = crontab[1]
    assert job.endswith(f"# leo:letsencrypt:{site}") and f" {leo_bin} letsencrypt" in job
    # Run the job's command as cron would: a bare environment, no PATH, no HOME.
    command = job.split(" ", 5)[5].rsplit(" >> ", 1)[0]
    ran = subprocess.run(
        ["env", "-i", "sh", "-c", command], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert "valid for more than 30 days" in ran.stderr
