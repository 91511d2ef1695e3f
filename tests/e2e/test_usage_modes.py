"""The ways people run leo: leo.yaml defaults, `inv` in this repo, the collection
imported into their own tasks.py, `--host local`, several hosts, ProxyJump."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .conftest import domain_of
from .hostkit import APPS, Leo, http_get, make_home, set_env

REPO = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).parent / "inv")


def inv(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INV, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(home)},
    )


def test_leo_yaml_supplies_app_and_host(leo, app, tmp_path):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    (tmp_path / "leo.yaml").write_text(f"app: {app}\nhost: testhost\n")
    leo("env.set", "--name", "FROM_YAML", "--value", "yes", cwd=tmp_path)
    assert "FROM_YAML=yes" in leo("env", cwd=tmp_path).stdout
    (tmp_path / "leo.yaml").write_text("app: x\nhots: typo\n")
    bad = leo("env", cwd=tmp_path, ok=False)
    assert bad.returncode == 2 and "unknown keys ['hots']" in bad.stderr


def test_inv_in_this_repo_runs_the_same_tasks(leo, app):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    listing = inv(leo.home, REPO, "--list")
    for name in ("rotate", "deploy", "env.set", "implode", "dev.test"):
        assert name in listing.stdout
    done = inv(
        leo.home,
        REPO,
        "env.set",
        "--app",
        app,
        "--host",
        "testhost",
        "--name",
        "VIA_INV",
        "--value",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "VIA_INV=" in (APPS / app / "env").read_text()


def test_collection_imported_into_a_users_tasks_py(leo, app, tmp_path):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    (tmp_path / "tasks.py").write_text(
        "from invoke import Collection, task\n"
        "from leo_tasks import ns as leo\n\n"
        "@task\n"
        "def hello(c):\n"
        "    print('hello from my tasks')\n\n"
        "ns = Collection(hello)\n"
        "ns.add_collection(leo, 'leo')\n"
    )
    done = inv(
        leo.home,
        tmp_path,
        "leo.env.set",
        "--app",
        app,
        "--host",
        "testhost",
        "--name",
        "MINE",
        "--value",
        "ok",
    )
    assert done.returncode == 0, done.stderr
    assert inv(leo.home, tmp_path, "hello").stdout == "hello from my tasks\n"
    failed = inv(leo.home, tmp_path, "leo.rotate", "--app", "nosuch", "--host", "testhost")
    assert failed.returncode == 1 and "does not exist" in failed.stderr


def test_host_local_runs_as_leo_deploy_without_ssh(leo, app, tmp_path):
    leo(
        "create",
        "--app",
        app,
        "--host",
        "local",
        "--image",
        "leo-test-web:v1",
        "--domain",
        domain_of(app),
    )
    leo("env.set", "--app", app, "--host", "local", "--name", "LEO_DRAIN_SECONDS", "--value", "0")
    leo("rotate", "--app", app, "--host", "local")
    assert http_get(domain_of(app))[0] == 200
    owners = {p.name: p.stat().st_uid for p in (APPS / app).iterdir()}
    deploy_uid = (APPS / app).stat().st_uid
    assert deploy_uid != 0 and set(owners.values()) == {deploy_uid}, owners


def test_several_hosts_output_is_grouped_per_host_in_the_order_given(leo, app):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    set_env(leo, app, "X", "1")
    set_env(leo, app, "Y", "2")
    shown = leo("env", "--app", app, "--host", "testhost,local")
    assert shown.stdout == (
        "[leo-deploy@testhost] X=1\n[leo-deploy@testhost] Y=2\n[local] X=1\n[local] Y=2\n"
    )
    # One host: plain env-file lines, to pipe or redirect.
    assert leo("env", "--app", app, "--host", "local").stdout == "X=1\nY=2\n"


def test_proxyjump_through_a_checked_hop(leo, app, tmp_path):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    set_env(leo, app, "HOP", "1")
    jump = "\nHost behind\n  HostName 127.0.0.1\n  Port 2222\n  ProxyJump root@testhost\n"
    home = make_home(tmp_path / "home")
    (home / ".ssh/config").write_text((home / ".ssh/config").read_text() + jump)
    assert Leo(home)("env", "--app", app, "--host", "behind").stdout == "HOP=1\n"
    # Without known_hosts, the hop itself is refused (Fabric's own hops accept any key).
    (home / ".ssh/known_hosts").unlink()
    refused = Leo(home)("env", "--app", app, "--host", "behind", ok=False)
    assert refused.returncode == 3 and "not in ~/.ssh/known_hosts" in refused.stderr
