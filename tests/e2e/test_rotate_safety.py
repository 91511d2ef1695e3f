"""rotate when things go wrong: concurrent deploys, a killed leo, rollback, registries."""

from __future__ import annotations

import base64
import http.server
import threading

import pytest

from .conftest import domain_of
from .hostkit import (
    APPS,
    Background,
    Load,
    containers,
    http_get,
    set_env,
    sh,
    wait_lock_free,
    write_compose,
)
from .test_rotate import deploy_v1, upstream_ips, web


def running_web(app: str) -> list:
    return [c for c in web(app) if c.state == "running"]


def assert_converged(leo, app: str, version: str) -> None:
    status = leo("status", "--app", app, "--host", "testhost")
    assert "agree: yes" in status.stdout and "deploy lock free" in status.stdout
    [live] = running_web(app)
    assert upstream_ips(app) == list(live.ips)
    assert http_get(domain_of(app))[1].startswith(f"leo-test-web {version}")
    assert [c for c in containers(app) if c.state != "running"] == []


def test_concurrent_deploys_fail_fast_or_wait(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    slow = write_compose(tmp_path / "slow.yml", "leo-test-web:slow")  # ready after ~4 s
    with Load(domain_of(app)) as load:
        first = Background(
            leo, "deploy", "--app", app, "--host", "testhost", "--compose", str(slow)
        )
        first.wait_for("start 1 new web")
        second = leo("rotate", "--app", app, "--host", "testhost", ok=False)
        assert second.returncode == 4
        assert "deploy lock held by rotate by" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr
        waiting = leo("rotate", "--app", app, "--host", "testhost", "--lock-wait", "120")
        assert first.finish() == 0, first.stderr
    assert "start 1 new web" in waiting.stderr  # it ran after the first one, on its own
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert_converged(leo, app, "slow")


@pytest.mark.parametrize(
    "killed_after", ["start 1 new web", "wait until ready", "switch nginx upstream"]
)
def test_killed_rotate_leaves_the_site_up_and_the_next_one_converges(
    leo, app, tmp_path, killed_after
):
    deploy_v1(leo, app, tmp_path)
    slow = write_compose(tmp_path / "slow.yml", "leo-test-web:slow")
    with Load(domain_of(app)) as load:
        run = Background(leo, "deploy", "--app", app, "--host", "testhost", "--compose", str(slow))
        run.wait_for(killed_after)
        run.kill()
        # The lock died with the run: no manual step is needed.
        wait_lock_free(leo, app, "lock still held after leo was killed", timeout=10)
        assert http_get(domain_of(app))[0] == 200
        # A killed deploy did not happen: its compose file never replaced the
        # live one, so a plain rotate converges on the last complete release.
        leo("rotate", "--app", app, "--host", "testhost")
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert_converged(leo, app, "v1")
    assert not (APPS / app / ".leo" / "candidate.compose.yml").exists()


def test_rotate_services_listed_with_web_rotate_once_each(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    set_env(leo, app, "LEO_ROTATE_SERVICES", " worker , web ,")
    [old_worker] = [c for c in containers(app) if c.service == "worker"]
    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2", worker="leo-test-worker:v2")
    with Load(domain_of(app)) as load:
        result = leo("deploy", "--app", app, "--host", "testhost", "--compose", str(v2))
    assert result.stderr.count("start 1 new web") == 1
    assert result.stderr.count("start 1 new worker") == 1
    [worker] = [c for c in containers(app) if c.service == "worker"]
    assert worker.id != old_worker.id and worker.image == "leo-test-worker:v2"
    assert load.failed == 0
    assert_converged(leo, app, "v2")


def test_rollback_to_previous_and_to_a_numbered_release(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    leo(
        "deploy",
        "--app",
        app,
        "--host",
        "testhost",
        "--compose",
        str(write_compose(tmp_path / "v2.yml", "leo-test-web:v2")),
    )
    listed = leo("releases", "--app", app, "--host", "testhost").stdout.splitlines()
    assert len(listed) == 2 and "web=leo-test-web:v2" in listed[0] and "*" in listed[0]
    # The v1 tag moves on: rollback must still find release 1's exact image.
    sh("docker", "tag", "leo-test-web:v2", f"{app}-moved:v1")
    with Load(domain_of(app)) as load:
        leo("rollback", "--app", app, "--host", "testhost")
    assert load.failed == 0
    assert_converged(leo, app, "v1")
    listed = leo("releases", "--app", app, "--host", "testhost").stdout
    assert "(rollback to release 1)" in listed.splitlines()[0]
    leo("rollback", "--app", app, "--host", "testhost", "--to", "2")
    assert_converged(leo, app, "v2")
    missing = leo("rollback", "--app", app, "--host", "testhost", "--to", "99", ok=False)
    assert missing.returncode == 1 and "no release 99" in missing.stderr
    sh("docker", "rmi", f"{app}-moved:v1")


def test_status_sees_nginx_and_containers_disagree(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    [live] = running_web(app)
    sh("docker", "stop", live.id)  # e.g. the daemon restarted, or a person did it
    status = leo("status", "--app", app, "--host", "testhost", ok=False)
    assert status.returncode == 1 and "agree: NO" in status.stdout
    leo("start", "--app", app, "--host", "testhost")
    assert_converged(leo, app, "v1")


class FakeRegistry(http.server.ThreadingHTTPServer):
    """Just enough of a registry on loopback for `docker login` (basic auth on /v2/)."""

    def __init__(self, user: str, password: str) -> None:
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.logins: list[bool] = []
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.headers.get("Authorization") == registry.expected
                if self.path == "/v2/" and self.headers.get("Authorization"):
                    registry.logins.append(ok)
                self.send_response(200 if ok and self.path == "/v2/" else 401)
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.send_header("WWW-Authenticate", 'Basic realm="leo-test"')
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_registry_login_gets_the_password_on_stdin_and_failed_pull_changes_nothing(
    leo, app, tmp_path
):
    deploy_v1(leo, app, tmp_path)
    [old] = running_web(app)
    password = "p@ss w0rd $HOME `id` 'q' \"dq\""
    registry = FakeRegistry("ci", password)
    port = registry.server_address[1]
    try:
        for name, value in [
            ("LEO_REGISTRY", f"127.0.0.1:{port}"),
            ("LEO_REGISTRY_USER", "ci"),
            ("LEO_REGISTRY_PASSWORD", password),
        ]:
            set_env(leo, app, name, value)
        remote = write_compose(tmp_path / "r.yml", f"127.0.0.1:{port}/shop/web:1")
        result = leo(
            "deploy", "-v", "--app", app, "--host", "testhost", "--compose", str(remote), ok=False
        )
    finally:
        registry.shutdown()
    assert registry.logins and all(registry.logins)  # docker sent exactly our password
    assert "--password-stdin" in result.stderr and password not in result.stderr
    assert result.returncode == 1 and "docker compose pull failed" in result.stderr
    assert [c.id for c in running_web(app)] == [old.id]
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")
