"""start, stop and run, seen from outside: HTTP through nginx and docker ps."""

from __future__ import annotations

import subprocess

from .conftest import domain_of, remove_app
from .hostkit import APPS, containers, http_get, nginx, set_env, sh
from .test_rotate import deploy_v1, upstream_ips, web


def test_stop_then_start(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    leo("stop", "--app", app, "--host", "testhost")
    assert [c.state for c in containers(app)] == ["exited"]
    assert http_get(domain_of(app))[0] == 502
    assert upstream_ips(app) == []

    leo("start", "--app", app, "--host", "testhost")
    [container] = web(app)
    assert container.state == "running"
    assert upstream_ips(app) == list(container.ips)  # re-synced with the current address
    assert http_get(domain_of(app))[0] == 200


def test_run_passes_output_and_exit_status_back(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    set_env(leo, app, "GREETING", "hello world")
    before = containers(app)
    result = leo(
        "run",
        "--app",
        app,
        "--host",
        "testhost",
        "--command",
        'echo "out:$GREETING"; echo err >&2; exit 7',
        ok=False,
    )
    assert result.returncode == 7
    assert "out:hello world" in result.stdout
    assert "err" in result.stderr
    assert containers(app) == before  # the one-off container was removed


def test_run_in_a_stopped_app_and_other_service(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    result = leo(
        "run",
        "--app",
        app,
        "--host",
        "testhost",
        "--service",
        "worker",
        "--command",
        "echo from-worker",
    )
    assert result.stdout.strip().endswith("from-worker")


def test_destroy_removes_one_app_and_nothing_else(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    other = f"{app}-other"
    try:
        leo(
            "create",
            "--app",
            other,
            "--host",
            "testhost",
            "--image",
            "leo-test-web:v2",
            "--domain",
            domain_of(other),
        )
        leo("rotate", "--app", other, "--host", "testhost")
        mine = "5 5 * * * /usr/bin/true # not leo's job"
        crontab = f"{mine}\n1 1 * * * true # leo:letsencrypt:{app}\n"
        subprocess.run(["crontab", "-u", "leo-deploy", "-"], input=crontab, text=True, check=True)
        refused = leo("destroy", "--app", app, "--host", "testhost", ok=False)
        assert refused.returncode == 2 and "--yes" in refused.stderr
        assert containers(app)

        leo("destroy", "--app", app, "--host", "testhost", "--yes")
        assert containers(app) == [] and not (APPS / app).exists()
        assert sh("crontab", "-l", "-u", "leo-deploy").stdout == f"{mine}\n"
        assert nginx("-t").returncode == 0
        assert http_get(domain_of(other))[1].startswith("leo-test-web v2")  # untouched
        gone = leo("rotate", "--app", app, "--host", "testhost", ok=False)
        assert gone.returncode == 1 and "does not exist" in gone.stderr
    finally:
        remove_app(other)
        sh("crontab", "-r", "-u", "leo-deploy", ok=False)
