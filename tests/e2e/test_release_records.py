"""Releases and rollbacks when history is not tidy: rolling back twice, compose merge
tags, a damaged record, names compose accepts, apps whose names share a prefix."""

from __future__ import annotations

import json

from .conftest import domain_of, remove_app
from .hostkit import APPS, compose_text, deploy, first_deploy, http_get, sh, write_compose
from .test_rotate import deploy_v1


def serving(app: str) -> str:
    return http_get(domain_of(app))[1].splitlines()[0]


def image_tags(pattern: str) -> list[str]:
    out = sh("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return sorted(t for t in out.split() if pattern in t)


def test_rolling_back_twice_goes_further_back(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)  # release 1
    for version in ("v2", "healthy"):  # releases 2 and 3
        deploy(leo, app, write_compose(tmp_path / f"{version}.yml", f"leo-test-web:{version}"))
    assert serving(app) == "leo-test-web healthy"
    leo("rollback", "--app", app, "--host", "testhost")
    assert serving(app) == "leo-test-web v2"
    leo("rollback", "--app", app, "--host", "testhost")
    assert serving(app) == "leo-test-web v1"  # not forward again to the release it left
    last = leo("rollback", "--app", app, "--host", "testhost", ok=False)
    assert last.returncode == 1 and "no earlier release to roll back to" in last.stderr
    assert serving(app) == "leo-test-web v1"
    listed = leo("releases", "--app", app, "--host", "testhost").stdout.splitlines()
    assert "(rollback to release 1)" in listed[0] and "(rollback to release 2)" in listed[1]


def test_rollback_of_a_compose_file_with_merge_tags(leo, app, tmp_path):
    tagged = """
        services:
          web:
            image: "leo-test-web:{v}"
            env_file: ./env
            ports: !reset []
            environment: !override {{GREETING: "{v}"}}
    """
    first_deploy(leo, app, compose_text(tmp_path / "v1.yml", tagged.format(v="v1")))
    deploy(leo, app, compose_text(tmp_path / "v2.yml", tagged.format(v="v2")))
    result = leo("rollback", "--app", app, "--host", "testhost")
    assert "Traceback" not in result.stderr
    assert serving(app) == "leo-test-web v1"
    live = (APPS / app / "docker-compose.yml").read_text()
    assert "!reset" in live and "!override" in live


def test_a_damaged_release_record_is_skipped_not_a_traceback(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    record = APPS / app / ".leo" / "releases" / "1.json"
    record.write_text('{"number": 1, "time": ')  # cut off half-way
    listed = leo("releases", "--app", app, "--host", "testhost")
    assert "skipping an unreadable release record" in listed.stderr
    assert "Traceback" not in listed.stderr
    leo("rotate", "--app", app, "--host", "testhost")
    # Numbering goes on past the damaged record instead of reusing its number.
    assert json.loads((APPS / app / ".leo" / "releases" / "2.json").read_text())["number"] == 2


def test_names_compose_accepts_never_fail_a_deploy_after_the_switch(leo, tmp_path):
    app = "t-tags_"  # valid for leo and compose, not as a docker repository name as is
    remove_app(app)
    try:
        compose = compose_text(
            tmp_path / "c.yml",
            """
            services:
              web: {image: "leo-test-web:v1", env_file: ./env}
              Worker: {image: "leo-test-worker:v1"}
            """,
        )
        leo("create", "--app", app, "--host", "testhost", "--compose", str(compose))
        result = leo("rotate", "--app", app, "--host", "testhost")
        assert "record release: release 1" in result.stderr
        record = json.loads((APPS / app / ".leo" / "releases" / "1.json").read_text())
        tags = {name: info["tag"] for name, info in record["services"].items()}
        assert set(tags) == {"web", "Worker"} and all(tags.values())
        for tag in tags.values():
            sh("docker", "image", "inspect", tag)
    finally:
        remove_app(app)


def test_destroy_removes_only_its_own_apps_rollback_tags(leo, app, tmp_path):
    other = f"{app}-api"  # a name that starts with the first app's name
    try:
        for name in (app, other):
            deploy_v1(leo, name, tmp_path)
        other_record = json.loads((APPS / other / ".leo" / "releases" / "1.json").read_text())
        other_tag = other_record["services"]["web"]["tag"]
        leo("destroy", "--app", app, "--host", "testhost", "--yes")
        sh("docker", "image", "inspect", other_tag)  # still there
        leo("rollback", "--app", other, "--host", "testhost", "--to", "1")
    finally:
        remove_app(other)


def test_destroy_removes_files_a_container_wrote_as_root(leo, app, tmp_path):
    compose = compose_text(
        tmp_path / "c.yml",
        """
        services:
          web: {image: "leo-test-web:v1", env_file: ./env}
          writer:
            image: leo-test-worker:v1
            volumes: ["./data:/data"]
            command: ["sh", "-c", "mkdir -p /data/cache && touch /data/cache/x && sleep 3600"]
        """,
    )
    leo("create", "--app", app, "--host", "testhost", "--compose", str(compose))
    leo("rotate", "--app", app, "--host", "testhost")
    written = APPS / app / "data" / "cache" / "x"
    assert written.exists() and written.stat().st_uid == 0
    leo("destroy", "--app", app, "--host", "testhost", "--yes")
    assert not (APPS / app).exists()
