"""Links that die, commands that hang, hosts given twice or not reachable: leo never
waits forever, never holds a lock it lost, and never changes one host of a run it
cannot finish connecting."""

from __future__ import annotations

import os
import signal

import pytest

from .conftest import domain_of
from .hostkit import (
    APPS,
    TESTHOST_DIR,
    TESTHOST_PORT,
    Background,
    Leo,
    app_files,
    compose_text,
    container_states,
    containers,
    http_get,
    make_home,
    set_env,
    sh,
    wait_lock_free,
    write_compose,
)
from .relay import Relay
from .test_rotate import deploy_v1


@pytest.fixture
def relay():
    link = Relay(("127.0.0.1", TESTHOST_PORT))
    yield link
    link.close()


@pytest.fixture
def slow_leo(tmp_path, relay) -> Leo:
    """leo with a `slowlink` host: the test sshd reached through the relay, with
    keepalives every second and two missed ones ending the link."""
    home = make_home(tmp_path / "home")
    ssh = home / ".ssh"
    with (ssh / "config").open("a") as config:
        config.write(
            f"Host slowlink\n  HostName 127.0.0.1\n  Port {relay.port}\n"
            f"  IdentityFile {ssh / 'id_ed25519'}\n"
            "  ServerAliveInterval 1\n  ServerAliveCountMax 2\n"
        )
    known = (TESTHOST_DIR / "known_hosts").read_text()
    (ssh / "known_hosts").write_text(
        known + known.replace(f"[127.0.0.1]:{TESTHOST_PORT}", f"[127.0.0.1]:{relay.port}")
    )
    return Leo(home)


def test_a_link_that_goes_silent_ends_the_run_and_frees_the_lock(
    leo, slow_leo, relay, app, tmp_path
):
    deploy_v1(leo, app, tmp_path)
    slow = write_compose(tmp_path / "slow.yml", "leo-test-web:slow")
    run = Background(slow_leo, "deploy", "--app", app, "--host", "slowlink", "--compose", str(slow))
    run.wait_for("start 1 new web")
    relay.blackhole()
    assert run.finish(timeout=60) == 3, run.stderr
    assert "lost the SSH connection" in run.stderr
    assert "no answer to SSH keepalives" in run.stderr
    # It could not put anything back over a dead link, and says so.
    assert "COULD NOT put the containers back" in run.stderr
    # On the host, the lock holder stops hearing leo's heartbeat and lets go.
    wait_lock_free(leo, app, "the host kept the lock of a dead link")
    assert http_get(domain_of(app))[0] == 200
    leo("rotate", "--app", app, "--host", "testhost")
    assert http_get(domain_of(app))[0] == 200


def test_a_run_that_lost_its_lock_stops_and_undoes_nothing(leo, slow_leo, app, tmp_path):
    """leo suspended (a closed laptop lid) longer than the lock's heartbeat allows: the
    host frees the lock; when leo wakes up it must not switch nginx or remove anything,
    since another run may own the app by then."""
    deploy_v1(leo, app, tmp_path)
    upstream = (APPS / app / "upstream.conf").read_bytes()
    slow = write_compose(tmp_path / "slow.yml", "leo-test-web:slow")
    run = Background(slow_leo, "deploy", "--app", app, "--host", "slowlink", "--compose", str(slow))
    run.wait_for("start 1 new web:")
    os.kill(run.proc.pid, signal.SIGSTOP)
    try:
        wait_lock_free(leo, app, "the host kept the lock of a suspended run")
        started = [c.id for c in containers(app) if c.image == "leo-test-web:slow"]
    finally:
        os.kill(run.proc.pid, signal.SIGCONT)
    assert run.finish(timeout=60) == 1, run.stderr
    assert "was released under this run" in run.stderr
    assert "nothing was put back" in run.stderr
    assert (APPS / app / "upstream.conf").read_bytes() == upstream  # never switched
    assert [c.id for c in containers(app) if c.image == "leo-test-web:slow"] == started
    leo("rotate", "--app", app, "--host", "testhost")  # the next run takes over
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")


def test_a_hung_command_times_out_and_leaves_nothing_running(leo, app, tmp_path):
    # web waits for a database that never turns healthy: `docker compose up` waits forever.
    compose = compose_text(
        tmp_path / "hang.yml",
        """
        services:
          db:
            image: leo-test-worker:v1
            healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 100000}
          web:
            image: leo-test-web:v1
            env_file: ./env
            depends_on:
              db: {condition: service_healthy}
        """,
    )
    leo("create", "--app", app, "--host", "testhost", "--compose", str(compose))
    set_env(leo, app, "LEO_COMMAND_TIMEOUT", "10")
    set_env(leo, app, "LEO_RELEASE_TIMEOUT", "1")
    result = leo("rotate", "--app", app, "--host", "testhost", ok=False)
    assert result.returncode == 1
    assert "timed out after 11s" in result.stderr
    assert sh("pgrep", "-f", f"--project-name {app} ", ok=False).stdout == ""
    assert containers(app) == []
    assert "deploy lock free" in leo("lock", "--app", app, "--host", "testhost").stdout


def test_proxyjump_none_connects_directly(leo, app, tmp_path):
    home = make_home(tmp_path / "home")
    config = home / ".ssh" / "config"
    config.write_text(config.read_text() + "  ProxyJump none\n")
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    result = Leo(home)("env", "--app", app, "--host", "testhost")
    assert result.returncode == 0


def test_a_host_given_twice_is_deployed_once(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    result = leo("rotate", "--app", app, "--host", "testhost,leo-deploy@testhost")
    assert result.stderr.count("start 1 new web") == 1


def test_an_unreachable_host_stops_the_run_before_any_host_changes(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    files, states = app_files(app), container_states(app)
    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2")
    result = leo(
        "deploy", "--app", app, "--host", "testhost,127.0.0.9:1", "--compose", str(v2), ok=False
    )
    assert result.returncode == 3 and "127.0.0.9" in result.stderr
    assert "upload docker-compose.yml" not in result.stderr
    assert app_files(app) == files and container_states(app) == states
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")
