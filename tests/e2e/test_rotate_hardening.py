"""rotate with the compose files and containers people really have: one-offs, removed
services, stopped databases, migrations, custom networks, images that ignore SIGTERM."""

from __future__ import annotations

import json
import os
import time

from .conftest import domain_of
from .hostkit import (
    APPS,
    Background,
    compose_text,
    containers,
    deploy,
    first_deploy,
    http_get,
    set_env,
    sh,
    write_compose,
)
from .test_rotate import deploy_v1, upstream_ips, web


def inspect(container_id: str) -> dict:
    return json.loads(sh("docker", "inspect", container_id).stdout)[0]


def test_a_one_off_survives_a_rotate(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    run = Background(
        leo, "run", "--app", app, "--host", "testhost", "--command", "sleep 8; echo done"
    )
    deadline = time.monotonic() + 30
    while not [c for c in containers(app) if "-run-" in c.name]:
        assert time.monotonic() < deadline, "the one-off container never appeared"
        time.sleep(0.2)
    status = leo("status", "--app", app, "--host", "testhost").stdout
    assert "one-off containers (leo run)" in status and "agree: yes" in status

    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2")
    rotated = deploy(leo, app, v2)
    assert "-run-" not in rotated.stderr  # never started beside, served, or retired
    assert run.finish() == 0, run.stderr
    assert run.proc.stdout.read().strip().endswith("done")
    [live] = web(app)
    assert upstream_ips(app) == list(live.ips) and live.image == "leo-test-web:v2"


def test_a_service_removed_from_the_compose_file_stops(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    assert [c.service for c in containers(app)] == ["web", "worker"]
    result = deploy(leo, app, write_compose(tmp_path / "v2.yml", "leo-test-web:v2"))
    assert "no longer in the compose file" in result.stderr
    assert [c.service for c in containers(app)] == ["web"]


def test_stopped_and_paused_services_are_the_users_not_leftovers(leo, app, tmp_path):
    compose = compose_text(
        tmp_path / "c.yml",
        """
        services:
          web: {image: "leo-test-web:v1", env_file: ./env}
          db:
            image: leo-test-worker:v1
            volumes: ["/data"]   # an anonymous volume: rm -f would detach it for good
          cache: {image: "leo-test-worker:v1"}
        """,
    )
    first_deploy(leo, app, compose)
    by_service = {c.service: c for c in containers(app)}
    sh("docker", "pause", by_service["cache"].id)
    sh("docker", "stop", by_service["db"].id)
    try:
        leo("rotate", "--app", app, "--host", "testhost")
        after = {c.service: c for c in containers(app)}
        assert after["db"].id == by_service["db"].id  # the same container, started again
        assert after["cache"].id == by_service["cache"].id
        assert after["web"].id != by_service["web"].id
    finally:
        sh("docker", "unpause", by_service["cache"].id, ok=False)


MIGRATING = """
services:
  migrate:
    image: leo-test-worker:v1
    command: ["sh", "-c", "echo migrating {version}; sleep 2; {finish}"]
  web:
    image: "leo-test-web:{version}"
    env_file: ./env
    depends_on:
      migrate: {{condition: service_completed_successfully}}
"""


def test_migrations_finish_before_new_web_starts(leo, app, tmp_path):
    v1 = compose_text(tmp_path / "v1.yml", MIGRATING.format(version="v1", finish="exit 0"))
    first_deploy(leo, app, v1)  # compose itself orders the first deploy
    [old] = web(app)

    v2 = compose_text(tmp_path / "v2.yml", MIGRATING.format(version="v2", finish="exit 0"))
    result = deploy(leo, app, v2)
    assert "release phase: run migrate to completion: exited 0" in result.stderr
    [migrate] = [c for c in containers(app) if c.service == "migrate"]
    [new] = web(app)
    assert new.id != old.id
    finished = inspect(migrate.id)["State"]["FinishedAt"]
    started = inspect(new.id)["State"]["StartedAt"]
    assert finished < started  # RFC 3339 UTC: comparable as text
    assert "migrating v2" in sh("docker", "logs", migrate.id).stdout

    failing = compose_text(tmp_path / "v3.yml", MIGRATING.format(version="v1", finish="exit 4"))
    failed = deploy(leo, app, failing, ok=False)
    assert failed.returncode == 1 and "migrating v1" in failed.stderr  # its last log lines
    assert "start 1 new web" not in failed.stderr  # nothing switched, nothing started
    assert [c.id for c in web(app)] == [new.id]
    assert http_get(domain_of(app))[1].startswith("leo-test-web v2")


def test_web_on_its_own_networks_is_reached_on_one_nginx_can_use(leo, app, tmp_path):
    compose = compose_text(
        tmp_path / "nets.yml",
        """
        services:
          web:
            image: leo-test-web:v1
            env_file: ./env
            networks: [back, front]
        networks:
          back: {internal: true}
          front: {}
        """,
    )
    first_deploy(leo, app, compose)
    [live] = web(app)
    front = inspect(live.id)["NetworkSettings"]["Networks"][f"{app}_front"]["IPAddress"]
    assert upstream_ips(app) == [front]
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")

    # An internal network is reachable from the host too (it owns the bridge).
    internal_only = compose_text(
        tmp_path / "internal.yml",
        """
        services:
          web: {image: "leo-test-web:v2", env_file: ./env, networks: [back]}
        networks:
          back: {internal: true}
        """,
    )
    deploy(leo, app, internal_only)
    [live] = web(app)
    back = inspect(live.id)["NetworkSettings"]["Networks"][f"{app}_back"]["IPAddress"]
    assert upstream_ips(app) == [back]
    assert http_get(domain_of(app))[1].startswith("leo-test-web v2")


def test_an_image_that_ignores_sigterm_is_named(leo, app, tmp_path):
    stubborn = """
        services:
          web:
            image: "leo-test-web:{v}"
            env_file: ./env
            # busybox httpd as PID 1 has no SIGTERM handler: the kernel drops the signal.
            entrypoint: ["httpd", "-f", "-p", "5000", "-h", "/www"]
            stop_grace_period: 2s
    """
    first_deploy(leo, app, compose_text(tmp_path / "v1.yml", stubborn.format(v="v1")))
    result = deploy(leo, app, compose_text(tmp_path / "v2.yml", stubborn.format(v="v2")))
    assert "ignored SIGTERM and was killed after its 2s stop_grace_period" in result.stderr


def test_health_path_with_brackets_and_braces_is_not_a_curl_glob(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    set_env(leo, app, "LEO_HEALTH_PATH", "/cgi-bin/version?x[1]={a,b}")
    set_env(leo, app, "LEO_HEALTH_TIMEOUT", "10")
    deploy(leo, app, write_compose(tmp_path / "v2.yml", "leo-test-web:v2"))
    assert http_get(domain_of(app))[1].startswith("leo-test-web v2")


def test_fresh_temp_files_survive_the_sweep_and_old_ones_go(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    fresh = APPS / app / "env.leo-tmp-0fresh00"
    stale = APPS / app / "upstream.conf.leo-tmp-0stale00"
    for path in (fresh, stale):
        path.write_text("x")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    result = leo("rotate", "--app", app, "--host", "testhost")
    assert "removed 1 temp files left by an interrupted run" in result.stderr
    assert fresh.exists() and not stale.exists()
    fresh.unlink()


def test_env_set_during_a_rotate_waits_for_it(leo, app, tmp_path):
    """One release, one env file: an edit made while a rotate runs would otherwise
    reach the services the rotate updates after the switch (worker), not web."""
    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    slow = write_compose(
        tmp_path / "slow.yml", "leo-test-web:slow", worker="leo-test-worker:v1"
    )  # web ready after ~4 s
    run = Background(leo, "deploy", "--app", app, "--host", "testhost", "--compose", str(slow))
    run.wait_for("start 1 new web")
    edit = Background(
        leo, "env.set", "--app", app, "--host", "testhost", "--name", "LATE", "--value", "1"
    )
    assert run.finish() == 0, run.stderr
    assert edit.finish() == 0, edit.stderr
    for container in containers(app):
        env = inspect(container.id)["Config"]["Env"]
        assert not any(e.startswith("LATE=") for e in env), container.name
    assert 'LATE="1"' in (APPS / app / "env").read_text()
