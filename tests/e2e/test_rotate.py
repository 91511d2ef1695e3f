"""rotate/deploy on the real host: first deploy, no dropped request, failures change nothing."""

from __future__ import annotations

import re

from .conftest import domain_of
from .hostkit import APPS, Load, containers, first_deploy, http_get, nginx_ok, write_compose


def upstream_ips(app: str) -> list[str]:
    return re.findall(r"server ([\d.]+):5000;", (APPS / app / "upstream.conf").read_text())


def web(app: str) -> list:
    return [c for c in containers(app) if c.service == "web"]


def deploy_v1(leo, app, tmp_path, **others):
    return first_deploy(leo, app, write_compose(tmp_path / "v1.yml", "leo-test-web:v1", **others))


def test_first_deploy_serves_at_once(leo, app, tmp_path):
    result = deploy_v1(leo, app, tmp_path)
    assert "first deploy" in result.stderr
    status, body = http_get(domain_of(app))
    assert status == 200 and body.startswith("leo-test-web v1")
    [container] = web(app)
    assert container.state == "running"
    assert upstream_ips(app) == list(container.ips)
    assert nginx_ok()


def test_rotate_under_load_drops_no_request(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path, worker="leo-test-worker:v1")
    [old] = web(app)
    v2 = write_compose(tmp_path / "v2.yml", "leo-test-web:v2", worker="leo-test-worker:v2")
    with Load(domain_of(app), workers=4) as load:
        leo("deploy", "--app", app, "--host", "testhost", "--compose", str(v2))
    assert load.total > 100
    assert load.failed == 0, (load.statuses, load.errors[:5])
    assert load.bodies["leo-test-web v1"] > 0 and load.bodies["leo-test-web v2"] > 0

    [new] = web(app)
    assert new.id != old.id and new.image == "leo-test-web:v2"
    assert old.id not in {c.id for c in containers(app)}  # retired by ID, not scaled down
    assert upstream_ips(app) == list(new.ips)
    assert [c.image for c in containers(app) if c.service == "worker"] == ["leo-test-worker:v2"]
    assert http_get(domain_of(app))[1].startswith("leo-test-web v2")


def test_service_added_to_compose_starts_on_next_deploy(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    more = write_compose(tmp_path / "more.yml", "leo-test-web:v1", worker="leo-test-worker:v1")
    leo("deploy", "--app", app, "--host", "testhost", "--compose", str(more))
    assert [c.state for c in containers(app) if c.service == "worker"] == ["running"]


def test_broken_release_is_removed_and_old_keeps_serving(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    [old] = web(app)
    upstream_before = (APPS / app / "upstream.conf").read_text()
    broken = write_compose(tmp_path / "broken.yml", "leo-test-web:broken")
    with Load(domain_of(app), workers=2) as load:
        result = leo(
            "deploy", "--app", app, "--host", "testhost", "--compose", str(broken), ok=False
        )
    assert result.returncode == 1
    assert "broken release: refusing to start" in result.stderr  # the container's last logs
    assert "previous release keeps serving" in result.stderr
    assert load.failed == 0 and load.bodies["leo-test-web v1"] == load.total
    assert [c.id for c in containers(app)] == [old.id]
    assert (APPS / app / "upstream.conf").read_text() == upstream_before


def test_broken_nginx_conf_is_detected_and_nothing_changes(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    [old] = web(app)
    upstream_before = (APPS / app / "upstream.conf").read_text()
    site = APPS / app / "nginx.conf"
    site.write_text(site.read_text().replace("listen 80;", "listen 80;\n    bogus_directive on;"))
    result = leo("rotate", "--app", app, "--host", "testhost", ok=False)
    assert result.returncode == 1
    assert f'unknown directive "bogus_directive" in {site}:' in result.stderr
    assert (APPS / app / "upstream.conf").read_text() == upstream_before
    assert [c.id for c in containers(app)] == [old.id]  # new containers removed
    # Running nginx still serves the old release (it was never reloaded).
    assert http_get(domain_of(app))[1].startswith("leo-test-web v1")
