"""`leo create`: validation before anything is touched, and the files on the host."""

from __future__ import annotations

import os
import stat

import pytest

from .conftest import domain_of
from .hostkit import APPS, http_get, nginx_ok, write_compose


@pytest.mark.parametrize("name", ["../x", "a/b", "x;rm -rf ~", "Shop", "", "-x", "a" * 41])
def test_bad_app_name_is_refused_and_changes_nothing(leo, deploy_host, name):
    before = sorted(os.listdir(APPS))
    result = leo(
        "create", "--app", name, "--host", "testhost", "--image", "leo-test-web:v1", ok=False
    )
    assert result.returncode == 2
    assert "invalid app name" in result.stderr or "no app given" in result.stderr
    assert sorted(os.listdir(APPS)) == before


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("    network_mode: host", "network_mode: host"),
        ("    network_mode: none", "network_mode: none"),
    ],
)
def test_compose_that_cannot_rotate_is_refused(leo, app, tmp_path, extra, reason):
    compose = write_compose(tmp_path / "c.yml", "leo-test-web:v1")
    compose.write_text(compose.read_text() + extra + "\n")
    result = leo("create", "--app", app, "--host", "testhost", "--compose", str(compose), ok=False)
    assert result.returncode == 2
    assert reason in result.stderr and "two" in result.stderr  # says why
    assert not (APPS / app).exists()


def test_compose_without_web_is_refused(leo, app, tmp_path):
    compose = tmp_path / "c.yml"
    compose.write_text("services:\n  api:\n    image: leo-test-web:v1\n")
    result = leo("create", "--app", app, "--host", "testhost", "--compose", str(compose), ok=False)
    assert result.returncode == 2 and "no `web` service" in result.stderr
    assert not (APPS / app).exists()


def test_create_with_image_writes_the_app(leo, app):
    leo(
        "create",
        "--app",
        app,
        "--host",
        "testhost",
        "--image",
        "leo-test-web:v1",
        "--domain",
        f"{app}.test",
        "--domain",
        f"www.{app}.test",
    )
    root = APPS / app
    assert sorted(os.listdir(root)) == [
        ".leo",
        "docker-compose.leo.yml",
        "docker-compose.yml",
        "env",
        "letsencrypt",
        "nginx.conf",
        "tls.conf",
        "upstream.conf",
    ]
    assert stat.S_IMODE(os.stat(root / "env").st_mode) == 0o600
    assert (root / "env").stat().st_uid == (root / "nginx.conf").stat().st_uid != 0
    assert "image: leo-test-web:v1" in (root / "docker-compose.yml").read_text()
    assert f"server_name {app}.test www.{app}.test;" in (root / "nginx.conf").read_text()
    assert nginx_ok()
    # Nothing deployed yet: nginx answers for the app, with no backend.
    assert http_get(domain_of(app))[0] == 502

    again = leo(
        "create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v2", ok=False
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "leo-test-web:v1" in (root / "docker-compose.yml").read_text()


def test_domain_defaults_to_app_name(leo, app):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    assert f"server_name {app};" in (APPS / app / "nginx.conf").read_text()


def test_broken_user_nginx_site_leaves_nothing_behind(leo, app, tmp_path):
    site = tmp_path / "site.conf"
    site.write_text("server { listen 80; server_name x.test; bogus_directive on; }\n")
    result = leo(
        "create",
        "--app",
        app,
        "--host",
        "testhost",
        "--image",
        "leo-test-web:v1",
        "--nginx",
        str(site),
        ok=False,
    )
    assert result.returncode == 1
    assert "bogus_directive" in result.stderr
    assert not (APPS / app).exists()
    assert nginx_ok()
