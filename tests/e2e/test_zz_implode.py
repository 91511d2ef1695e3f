"""`leo implode` and `leo setup` from scratch. Runs last (file name): it removes leo."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import domain_of, remove_app
from .hostkit import containers, http_get, nginx_ok, sh
from .test_rotate import deploy_v1

LEO_FILES = [
    "/home/leo-deploy",
    "/etc/nginx/conf.d/leo.conf",
    "/etc/sudoers.d/leo-deploy",
    "/usr/local/bin/chown_leo_deploy",
]


def test_implode_removes_leo_and_setup_starts_over(leo, app, leo_home, tmp_path):
    compose = tmp_path / "vol.yml"
    deploy_v1(leo, app, tmp_path)
    compose.write_text(
        "services:\n  web:\n    image: leo-test-web:v1\n    env_file: ./env\n"
        "    volumes: [data:/data]\nvolumes:\n  data: {}\n"
    )
    leo("deploy", "--app", app, "--host", "testhost", "--compose", str(compose))
    sh("sh", "-c", "echo '17 3 * * * true # leo test entry' | crontab -u leo-deploy -")
    assert http_get(domain_of(app))[0] == 200

    refused = leo("implode", "--host", "root@testhost", ok=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert Path("/home/leo-deploy").exists() and containers(app)

    nginx_master = Path("/run/nginx.pid").read_text().strip()
    leo("implode", "--host", "root@testhost", "--yes")
    assert sh("id", "leo-deploy", ok=False).returncode != 0
    assert [p for p in LEO_FILES if Path(p).exists()] == []
    assert containers(app) == []
    assert sh("crontab", "-l", "-u", "leo-deploy", ok=False).returncode != 0
    volumes = sh(
        "docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={app}"
    ).stdout.split()
    assert volumes == [f"{app}_data"]  # data is kept unless --volumes
    sh("docker", "volume", "rm", *volumes)
    # nginx is still valid and running (reloaded, not restarted), now without the app.
    assert nginx_ok()
    assert Path("/run/nginx.pid").read_text().strip() == nginx_master
    assert Path(f"/proc/{nginx_master}").exists()
    assert "leo" not in sh("nginx", "-T").stdout.split("# configuration file /etc/nginx/")[-1]

    first = leo(
        "setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub")
    )
    outcomes = dict(re.findall(r"^\[root@testhost\] (.+?): (\w+)", first.stderr, re.M))
    assert outcomes.pop("check prerequisites") == "ok"
    assert set(outcomes.values()) == {"changed"}, first.stderr
    second = leo(
        "setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub")
    )
    assert ": changed" not in second.stderr and second.stderr.count(": unchanged") == 6
    remove_app(app)


def test_implode_with_volumes_removes_data(leo, app, leo_home, tmp_path):
    compose = tmp_path / "vol.yml"
    compose.write_text(
        "services:\n  web:\n    image: leo-test-web:v1\n    env_file: ./env\n"
        "    volumes: [data:/data]\nvolumes:\n  data: {}\n"
    )
    leo("create", "--app", app, "--host", "testhost", "--compose", str(compose))
    leo("rotate", "--app", app, "--host", "testhost")
    leo("implode", "--host", "root@testhost", "--yes", "--volumes")
    assert (
        sh(
            "docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={app}"
        ).stdout.split()
        == []
    )
    assert nginx_ok()
    leo("setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub"))
