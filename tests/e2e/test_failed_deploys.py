"""A deploy that fails, at any point before the switch, leaves the host as it was.

Checked from outside: the app's files byte for byte, its containers (IDs and
states), what nginx serves, the recorded releases; and the next plain
`leo rotate` deploys the release that was there before, never the failed one.
"""

from __future__ import annotations

import socket

import pytest

from .conftest import domain_of
from .hostkit import (
    APPS,
    Load,
    app_files,
    compose_text,
    container_states,
    containers,
    deploy,
    http_get,
    write_compose,
)
from .test_rotate import deploy_v1


def releases_of(app: str) -> list[str]:
    return sorted(p.name for p in (APPS / app / ".leo" / "releases").glob("*.json"))


def busy_port() -> socket.socket:
    """A port on loopback that something else already listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def broken_site(app: str, extra: str) -> str:
    site = (APPS / app / "nginx.conf").read_text()
    return site.replace("listen 80;", f"listen 80;\n    {extra}", 1)


CASES = {
    # The image does not exist anywhere: the pull fails.
    "missing image": ("web: {image: 'leo-test-web:no-such-tag', env_file: ./env}", 1),
    # Valid YAML the client accepts, that compose on the host refuses.
    "compose rejects it": (
        "web: {image: 'leo-test-web:v2', env_file: [./env, ./no-such-env-file]}",
        2,
    ),
    # A new service and a web that crashes: both are removed again.
    "web crashes": (
        "web: {image: 'leo-test-web:broken', env_file: ./env}\n"
        "  worker: {image: 'leo-test-worker:v1', env_file: ./env}",
        1,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failed_deploy_leaves_the_host_as_it_was(leo, app, tmp_path, case):
    deploy_v1(leo, app, tmp_path)
    services, code = CASES[case]
    bad = compose_text(tmp_path / "bad.yml", f"services:\n  {services}\n")
    files, states, history = app_files(app), container_states(app), releases_of(app)

    with Load(domain_of(app), workers=2) as load:
        result = deploy(leo, app, bad, ok=False)

    assert result.returncode == code, result.stderr
    assert "no release was recorded" in result.stderr
    assert app_files(app) == files  # compose file, nginx site, upstream, env
    assert container_states(app) == states  # new containers removed, old untouched
    assert releases_of(app) == history
    assert not (APPS / app / ".leo" / "candidate.compose.yml").exists()
    assert not list((APPS / app / ".leo").glob("candidate.*"))  # the override's too
    assert load.failed == 0 and load.bodies["leo-test-web v1"] == load.total

    # The failed file was not left behind for the next rotate to ship.
    again = leo("rotate", "--app", app, "--host", "testhost")
    assert "start 1 new web" in again.stderr
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")
    assert [c.image for c in containers(app)] == ["leo-test-web:v1"]


def test_env_file_that_cannot_be_read_fails_with_exit_2_and_changes_nothing(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    env = APPS / app / "env"
    env.write_text(env.read_text() + 'SECRET_TOKEN="s3cr3t-value\n')  # unterminated quote
    files, states = app_files(app), container_states(app)
    result = deploy(leo, app, write_compose(tmp_path / "v2.yml", "leo-test-web:v2"), ok=False)
    assert result.returncode == 2
    assert "nothing on the host was changed" in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout
    assert app_files(app) == files and container_states(app) == states


@pytest.mark.parametrize("problem", ["nginx -t refuses it", "nginx cannot apply it"])
def test_new_site_that_nginx_refuses_changes_nothing(leo, app, tmp_path, problem):
    deploy_v1(leo, app, tmp_path)
    holder = busy_port()
    try:
        extra = (
            "bogus_directive on;"
            if problem == "nginx -t refuses it"
            # nginx -t accepts it; the reload fails to bind and nginx keeps its old config.
            else f"listen 127.0.0.1:{holder.getsockname()[1]};"
        )
        site = tmp_path / "site.conf"
        site.write_text(broken_site(app, extra))
        files, states = app_files(app), container_states(app)
        v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2")
        with Load(domain_of(app), workers=2) as load:
            result = deploy(leo, app, v2, "--nginx", str(site), ok=False)
    finally:
        holder.close()
    assert result.returncode == 1
    if problem == "nginx -t refuses it":
        assert 'unknown directive "bogus_directive"' in result.stderr
        assert "start 1 new web" not in result.stderr  # refused before anything started
    else:
        assert "did not apply the new configuration" in result.stderr
        assert "put back as it was" in result.stderr
    assert app_files(app) == files and container_states(app) == states
    # Refused while staging, after the candidates were uploaded: none is left.
    assert not list((APPS / app / ".leo").glob("candidate.*"))
    assert load.failed == 0 and load.bodies["leo-test-web v1"] == load.total


def test_crashing_first_deploy_fails_and_records_nothing(leo, app, tmp_path):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:broken")
    result = leo("rotate", "--app", app, "--host", "testhost", ok=False)
    assert result.returncode == 1
    assert "broken release: refusing to start" in result.stderr  # its last log lines
    assert "no release was recorded" in result.stderr
    assert releases_of(app) == []
    assert containers(app) == []  # the crashed containers were removed again
    listed = leo("releases", "--app", app, "--host", "testhost").stdout
    assert "no release recorded yet" in listed


def test_start_fails_when_web_does_not_come_back(leo, app, tmp_path):
    # This web starts once; when started again it refuses (a state a real app
    # can be in: a lock file, a migration it needs...).
    compose = compose_text(
        tmp_path / "once.yml",
        """
        services:
          web:
            image: leo-test-web:v1
            env_file: ./env
            command:
              - sh
              - -c
              - >-
                if [ -e /started ]; then echo 'second start: refusing' >&2; exit 3; fi;
                touch /started; exec /start.sh
        """,
    )
    leo("create", "--app", app, "--host", "testhost", "--compose", str(compose))
    leo("rotate", "--app", app, "--host", "testhost")
    leo("stop", "--app", app, "--host", "testhost")
    upstream = (APPS / app / "upstream.conf").read_bytes()
    result = leo("start", "--app", app, "--host", "testhost", ok=False)
    assert result.returncode == 1
    assert "second start: refusing" in result.stderr
    assert (APPS / app / "upstream.conf").read_bytes() == upstream  # nginx not pointed at it
    assert http_get(app)[0] == 502  # the site (server_name: the app's name), nothing behind
