"""nginx on a host shared by several apps: every change confirmed, isolated, and only ours.

- a change counts once nginx runs it (new workers), so a site answers as soon as
  `leo create` returns, whatever other apps the host serves;
- a host name no site serves gets nothing, never another app's pages;
- one app's half-written site is never seen by another app's `nginx -t`;
- the drain waits for the host nginx's old workers only, not for every process
  called nginx on the machine.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import domain_of, remove_app
from .hostkit import APPS, Background, http_get, nginx_ok, set_env, sh, write_compose
from .test_rotate import deploy_v1

NGINX_LOCK = Path("/home/leo-deploy/.nginx.lock")
OWN_DEFAULT = Path("/etc/nginx/conf.d/zz-host-own-default.conf")


def test_a_new_site_answers_as_soon_as_create_returns(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)  # another app that serves, as the demo app does
    for n in range(3):
        other = f"{app}-new{n}"
        try:
            leo("create", "--app", other, "--host", "testhost", "--image", "leo-test-web:v1")
            # Its own site answers at once (502: nothing deployed), never the other app.
            assert http_get(other)[0] == 502
        finally:
            remove_app(other)


def raw_http(host_header: str) -> bytes:
    with socket.create_connection(("127.0.0.1", 80), timeout=5) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def tls_handshake(server_name: str) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection(("127.0.0.1", 443), timeout=5) as sock,
            context.wrap_socket(sock, server_hostname=server_name),
        ):
            return "handshake done"
    except ssl.SSLError as exc:
        return f"refused: {exc.reason}"


def test_unknown_host_name_gets_no_apps_pages(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")
    # nginx's implicit default would be the first site it read: some app.
    assert raw_http("anything.example") == b""  # 444: connection closed, no answer
    assert tls_handshake("anything.example").startswith("refused")


def test_the_hosts_own_default_server_is_kept(leo, deploy_host, leo_home):
    setup = ("setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub"))
    OWN_DEFAULT.write_text(
        "server { listen 80 default_server; server_name _; return 418 'host default'; }\n"
    )
    try:
        result = leo(*setup)
        assert "port 80 keeps the default_server the host's nginx already has" in result.stderr
        assert nginx_ok()
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=5)
        conn.request("GET", "/", headers={"Host": "anything.example"})
        assert conn.getresponse().status == 418
        conn.close()
        assert "listen 443 ssl default_server" in Path("/etc/nginx/conf.d/leo.conf").read_text()
    finally:
        OWN_DEFAULT.unlink()
        leo(*setup)
    assert "return 444;" in Path("/etc/nginx/conf.d/leo.conf").read_text()
    assert raw_http("anything.example") == b""


def test_one_apps_half_written_site_is_never_seen_by_another_apps_deploy(leo, app, tmp_path):
    """While app B is between writing its site and testing it (it holds the nginx
    lock), app A's deploy waits instead of failing on B's file."""
    other = f"{app}-b"
    try:
        deploy_v1(leo, app, tmp_path)
        leo("create", "--app", other, "--host", "testhost", "--image", "leo-test-web:v1")
        site = APPS / other / "nginx.conf"
        good = site.read_text()
        holder = subprocess.Popen(
            ["flock", str(NGINX_LOCK), "sh", "-c", "echo locked; read _"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "locked"
        site.write_text(good + "bogus_directive on;\n")  # B, half-way through its change
        v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2")
        run = Background(leo, "deploy", "--app", app, "--host", "testhost", "--compose", str(v2))
        run.wait_for("wait until ready:")
        time.sleep(1.5)  # A now waits for the nginx lock, at its switch
        assert run.proc.poll() is None
        site.write_text(good)  # B put its file back
        holder.communicate("\n", timeout=10)  # and released the lock
        assert run.finish() == 0, run.stderr
        assert http_get(domain_of(app))[1].startswith("leo-test-web v2")
    finally:
        remove_app(other)


@pytest.fixture
def foreign_nginx(tmp_path):
    """A second nginx master on this machine (own config, pid file and port), as an
    app's own nginx or another instance would be: not the host nginx leo drives."""
    conf = tmp_path / "other-nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/other.pid;\nerror_log {tmp_path}/error.log;\n"
        "worker_processes 3;\nevents {}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; "
        "server { listen 127.0.0.1:18181; return 200; } }\n"
    )
    sh("nginx", "-c", str(conf))
    yield
    sh("nginx", "-c", str(conf), "-s", "quit", ok=False)


def test_drain_waits_only_for_the_host_nginx_workers(leo, app, tmp_path, foreign_nginx):
    deploy_v1(leo, app, tmp_path)
    set_env(leo, app, "LEO_DRAIN_SECONDS", "30")
    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2")
    result = leo("deploy", "--app", app, "--host", "testhost", "--compose", str(v2))
    drain = next(line for line in result.stderr.splitlines() if "drain old nginx workers" in line)
    assert "still busy" not in drain and "old workers exited" in drain, drain
