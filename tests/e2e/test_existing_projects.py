"""Deploying a compose project as people write it, unchanged: `leo create --web-service
app --port 8000` + `leo deploy --build`.

The project below is written the usual way for local development: the HTTP service
is `app`, built from a local Dockerfile, publishes `8000:8000` and has a fixed
`container_name`; a `migrate` one-shot it waits for and a `worker` are built from the
same Dockerfile. Nothing in it was written for leo.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .hostkit import (
    APPS,
    Load,
    app_files,
    container_states,
    containers,
    http_get,
    set_env,
    sh,
    write_compose,
)

PROJECT_COMPOSE = """\
services:
  app:
    build: .
    ports:
      - "8000:8000"
    container_name: app
    env_file: ./env
    restart: unless-stopped
    depends_on:
      migrate:
        condition: service_completed_successfully
  migrate:
    build: .
    command: ["sh", "-c", "echo migrated to $(cat /www/index.html)"]
  worker:
    build: .
    command: ["sh", "-c", "echo worker up; trap 'exit 0' TERM; sleep 100000 & wait"]
    restart: unless-stopped
"""
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY version /www/index.html
{expose}
# busybox httpd as PID 1 would ignore SIGTERM (docker stop would wait 10 s).
CMD ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8000 -h /www & wait"]
"""


def make_project(root: Path, version: str, *, expose: bool = True) -> Path:
    """An ordinary project directory: Dockerfile, docker-compose.yml, the app's files."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", root / "busybox")
    (root / "Dockerfile").write_text(DOCKERFILE.format(expose="EXPOSE 8000" if expose else ""))
    (root / "version").write_text(f"{version}\n")
    (root / "docker-compose.yml").write_text(PROJECT_COMPOSE)
    return root / "docker-compose.yml"


@pytest.fixture
def built_app(app):
    """An app name whose images `deploy --build` made are removed afterwards."""
    yield app
    refs = sh("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    mine = [r for r in refs if r.startswith((f"leo-{app}-", f"leo/{app}/"))]
    if mine:
        sh("docker", "image", "rm", "--force", *mine, ok=False)


def leo_ok(leo, *args: str, cwd: Path | None = None):
    return leo(*args, "--host", "testhost", cwd=cwd)


def create(leo, app: str, compose: Path, *extra: str):
    return leo_ok(
        leo, "create", "--app", app, "--compose", str(compose), "--domain", f"{app}.test", *extra
    )


def by_hand(app: str, *args: str) -> str:
    """What a person managing the app by hand sees (the README's emergency commands)."""
    directory = APPS / app
    return sh(
        "docker",
        "compose",
        "--project-directory",
        str(directory),
        "-f",
        str(directory / "docker-compose.yml"),
        "-f",
        str(directory / "docker-compose.leo.yml"),
        *args,
    ).stdout


def deployed_project(leo, app: str, root: Path) -> Path:
    """The ordinary project at v1, created with --web-service app --port 8000 and deployed
    with --build; returns its compose file."""
    compose = make_project(root, "v1")
    create(leo, app, compose, "--web-service", "app", "--port", "8000")
    leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    return compose


def served(app: str) -> str:
    status, body = http_get(f"{app}.test")
    assert status == 200, (status, body)
    return body.strip()


def test_an_ordinary_project_deploys_rotates_and_rolls_back_unchanged(leo, built_app, tmp_path):
    app = built_app
    compose = make_project(tmp_path / "shop", "v1")
    original = compose.read_bytes()
    created = create(leo, app, compose, "--web-service", "app", "--port", "8000")
    assert "leo's override drops `ports:` 8000:8000 and `container_name: app`" in created.stderr
    set_env(leo, app, "LEO_DRAIN_SECONDS", "0.5")

    first = leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    for service in ("app", "migrate", "worker"):
        assert f"[build {service}]" in first.stderr
    assert served(app) == "v1"
    live = APPS / app
    # The user's file is theirs, byte for byte; leo's changes are in its override.
    assert (live / "docker-compose.yml").read_bytes() == original
    override = (live / "docker-compose.leo.yml").read_text()
    assert "ports: !reset []" in override and "container_name: !reset null" in override
    images = {c.service: c.image for c in containers(app)}
    assert images["app"].startswith(f"leo-{app}-app:"), images
    assert images["worker"].startswith(f"leo-{app}-worker:"), images
    # By hand, as the README says: both files, and the app is there.
    assert f"{app}-app-1" in by_hand(app, "ps", "--format", "{{.Name}}")

    make_project(tmp_path / "shop", "v2")
    with Load(f"{app}.test") as load:
        second = leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert load.total > 50 and set(load.bodies) >= {"v2"}
    assert "release 2" in second.stderr
    assert served(app) == "v2"

    with Load(f"{app}.test") as load:
        leo_ok(leo, "rollback", "--app", app)
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert served(app) == "v1"  # the previous build, from its release tag
    assert (live / "docker-compose.yml").read_bytes() == original
    override = (live / "docker-compose.leo.yml").read_text()
    assert f"leo/{app}/app:release-1" in override
    # The one-shot had exited (no running container to tag): it runs its v1 build too.
    migrate = next(c for c in containers(app) if c.service == "migrate")
    first_release = json.loads((live / ".leo" / "releases" / "1.json").read_text())
    assert migrate.image == first_release["supplied"]["migrate"]
    assert migrate.image.startswith(f"leo-{app}-migrate:") and migrate.image in override
    logs = sh("docker", "logs", migrate.id).stdout
    assert logs.strip() == "migrated to v1", logs

    status = leo_ok(leo, "status", "--app", app).stdout
    assert "web: service app, port 8000 (LEO_WEB_PORT)" in status
    assert "agree: yes" in status
    worker = [c for c in containers(app) if c.name.startswith(f"{app}-worker-")]
    assert [c.state for c in worker] == ["running"]


def test_the_port_comes_from_the_images_expose(leo, built_app, tmp_path):
    app = built_app
    compose = make_project(tmp_path / "shop", "exposed")
    create(leo, app, compose, "--web-service", "app")  # no --port
    done = leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    assert f"8000 (EXPOSE of leo-{app}-app:" in done.stderr
    assert served(app) == "exposed"
    status = leo_ok(leo, "status", "--app", app).stdout
    assert "web: service app, port 8000 (found in the image at release 1)" in status


def test_a_wrong_port_fails_health_naming_the_port_and_deploys_nothing(leo, built_app, tmp_path):
    app = built_app
    compose = make_project(tmp_path / "shop", "v1", expose=False)
    create(leo, app, compose, "--web-service", "app", "--port", "9000")
    set_env(leo, app, "LEO_HEALTH_TIMEOUT", "4")
    before = app_files(app)
    failed = leo(
        "deploy", "--app", app, "--host", "testhost", "--compose", str(compose), "--build", ok=False
    )
    assert failed.returncode == 1, failed.stderr
    assert ":9000/ " in failed.stderr or ":9000/)" in failed.stderr
    assert "nothing answered HTTP on port 9000" in failed.stderr
    assert "LEO_WEB_PORT" in failed.stderr
    assert app_files(app) == before
    assert not (APPS / app / ".leo" / "releases").exists() or not list(
        (APPS / app / ".leo" / "releases").glob("*.json")
    )
    # Fixed the documented way, the same deploy works.
    set_env(leo, app, "LEO_WEB_PORT", "8000")
    leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    assert served(app) == "v1"


def test_a_failed_build_changes_nothing_on_the_host(leo, built_app, tmp_path):
    app = built_app
    compose = deployed_project(leo, app, tmp_path / "shop")
    files, states = app_files(app), container_states(app)
    dockerfile = tmp_path / "shop" / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text() + 'RUN ["sh", "-c", "echo cannot build; exit 7"]\n'
    )
    failed = leo(
        "deploy", "--app", app, "--host", "testhost", "--compose", str(compose), "--build", ok=False
    )
    assert failed.returncode == 1, failed.stderr
    assert "[build app]" in failed.stderr and "cannot build" in failed.stderr
    assert "nothing was changed on any host" in failed.stderr
    assert app_files(app) == files
    assert container_states(app) == states
    assert served(app) == "v1"
    assert "Traceback" not in failed.stderr


def test_a_service_to_build_without_build_is_refused_before_anything_changes(
    leo, built_app, tmp_path
):
    app = built_app
    compose = make_project(tmp_path / "shop", "v1")
    create(leo, app, compose, "--web-service", "app", "--port", "8000")
    before = app_files(app)
    refused = leo("deploy", "--app", app, "--host", "testhost", "--compose", str(compose), ok=False)
    assert refused.returncode == 2, refused.stderr
    assert "service app, migrate, worker has `build:` and no `image:`" in refused.stderr
    assert "deploy with --build" in refused.stderr
    assert app_files(app) == before
    assert container_states(app) == []


def test_the_web_service_on_the_host_network_is_still_refused_at_deploy(leo, built_app, tmp_path):
    app = built_app
    deployed_project(leo, app, tmp_path / "shop")
    before, states = app_files(app), container_states(app)
    hostnet = tmp_path / "shop" / "hostnet.yml"
    hostnet.write_text(
        PROJECT_COMPOSE.replace("    container_name: app\n", "    network_mode: host\n")
    )
    refused = leo(
        "deploy", "--app", app, "--host", "testhost", "--compose", str(hostnet), "--build", ok=False
    )
    assert refused.returncode == 2, refused.stderr
    assert "service app uses network_mode: host" in refused.stderr
    assert "needs a bridge network" in refused.stderr
    assert app_files(app) == before and container_states(app) == states


def test_changing_the_port_later_is_an_env_set_and_a_rotate(leo, built_app, tmp_path):
    """The documented way to change an app's port after create."""
    app = built_app
    root = tmp_path / "shop"
    compose = deployed_project(leo, app, root)
    (root / "Dockerfile").write_text(
        (root / "Dockerfile").read_text().replace("8000", "8080")  # -p and EXPOSE
    )
    refused = leo(
        "env.set",
        "--app",
        app,
        "--host",
        "testhost",
        "--name",
        "LEO_WEB_PORT",
        "--value",
        "eighty",
        ok=False,
    )
    assert refused.returncode == 2 and "LEO_WEB_PORT must be a TCP port number" in refused.stderr
    set_env(leo, app, "LEO_WEB_PORT", "8080")
    with Load(f"{app}.test") as load:
        leo_ok(leo, "deploy", "--app", app, "--compose", str(compose), "--build")
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert ":8080;" in (APPS / app / "upstream.conf").read_text()
    assert served(app) == "v1"


def test_an_app_deployed_by_the_previous_leo_keeps_port_5000(leo, built_app, tmp_path):
    """An upgrade of leo must not move a running app to the port its image EXPOSEs."""
    app = built_app
    image = f"leo-{app}-legacy:1"  # listens on 5000 (leo-test-web), EXPOSEs 5000 and 80
    context = tmp_path / "legacy"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM leo-test-web:v1\nEXPOSE 80\n")
    sh("docker", "build", "--quiet", "--tag", image, str(context))
    compose = write_compose(tmp_path / "c.yml", image)
    create(leo, app, compose)
    set_env(leo, app, "LEO_DRAIN_SECONDS", "0.5")
    set_env(leo, app, "LEO_WEB_PORT", "5000")
    leo_ok(leo, "rotate", "--app", app)
    # What the previous leo left behind: no override, a release record without web
    # settings, no LEO_WEB_PORT.
    live = APPS / app
    record = live / ".leo" / "releases" / "1.json"
    data = json.loads(record.read_text())
    del data["web"], data["supplied"]
    record.write_text(json.dumps(data))
    (live / "docker-compose.leo.yml").unlink()
    leo_ok(leo, "env.del", "--app", app, "--name", "LEO_WEB_PORT")

    leo_ok(leo, "stop", "--app", app)  # with the compose file alone, as that leo ran it
    leo_ok(leo, "start", "--app", app)
    assert http_get(f"{app}.test")[0] == 200
    with Load(f"{app}.test") as load:
        rotated = leo_ok(leo, "rotate", "--app", app)
    assert load.failed == 0, (load.statuses, load.errors[:3])
    assert "find web port: 5000 (kept: the port before leo read EXPOSE" in rotated.stderr
    assert (live / "docker-compose.leo.yml").exists()
    status = leo_ok(leo, "status", "--app", app).stdout
    assert "port 5000 (kept from before leo read EXPOSE" in status
