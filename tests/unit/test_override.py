"""leo's compose override: what it says, and what compose makes of the user's file with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from leo_tasks import composeyaml
from leo_tasks.errors import InvalidInput
from leo_tasks.override import HEADER, images_in, plan

from .conftest import compose_config_json, needs_compose

# A compose file as people write them for local development.
ORDINARY = """\
services:
  app:
    build: .
    ports: ["8000:8000"]
    container_name: app
    environment:
      DEBUG: "no"
  worker:
    build: .
    command: ["sh", "-c", "echo $$HOME; sleep 1000"]
  db:
    image: postgres:16
    ports: ["5432:5432"]
    container_name: db
"""
BUILT = {"app": "leo-shop-app:0123456789ab", "worker": "leo-shop-worker:0123456789ab"}


def merged(tmp_path: Path, compose: str, override: str) -> dict:
    """What the real `docker compose config` makes of the two files together."""
    (tmp_path / "docker-compose.yml").write_text(compose)
    (tmp_path / "docker-compose.leo.yml").write_text(override)
    files = [tmp_path / "docker-compose.yml", tmp_path / "docker-compose.leo.yml"]
    return compose_config_json(tmp_path, files)["services"]


def test_a_built_deploy_drops_what_pins_web_and_points_built_services_at_their_images():
    done = plan(ORDINARY, "app", given=BUILT, live_override=None, new_file=True)
    assert done.text.startswith(HEADER)
    services = composeyaml.load(done.text)["services"]
    reset = composeyaml.Tagged
    assert services["app"] == {
        "ports": reset("!reset", []),
        "container_name": reset("!reset", None),
        "image": BUILT["app"],
        "pull_policy": "never",
        "build": reset("!reset", None),
    }
    assert services["worker"] == {
        "image": BUILT["worker"],
        "pull_policy": "never",
        "build": reset("!reset", None),
    }
    assert "db" not in services  # not web, not built: exactly as the user wrote it
    assert done.images == BUILT


@needs_compose
def test_compose_merges_it_as_intended(tmp_path):
    done = plan(ORDINARY, "app", given=BUILT, live_override=None, new_file=True)
    original = compose_config_json(tmp_path, _write(tmp_path, ORDINARY))["services"]
    services = merged(tmp_path, ORDINARY, done.text)
    app = services["app"]
    assert "ports" not in app and "container_name" not in app and "build" not in app
    assert (app["image"], app["pull_policy"]) == (BUILT["app"], "never")
    assert app["environment"] == {"DEBUG": "no"}  # the rest is the user's
    assert services["worker"]["command"] == original["worker"]["command"]
    assert services["db"] == original["db"]  # published ports and name kept: one instance


@needs_compose
def test_a_file_that_needs_nothing_gets_an_empty_override_compose_accepts(tmp_path):
    text = "services:\n  web:\n    image: shop:1\n    env_file: ./env\n"
    (tmp_path / "env").write_text("")
    done = plan(text, "web", given=None, live_override=None, new_file=True)
    assert composeyaml.load(done.text) == {"services": {}}
    assert merged(tmp_path, text, done.text)["web"]["image"] == "shop:1"


def test_the_web_service_must_be_in_the_file():
    with pytest.raises(InvalidInput, match=r"the compose file has no `web` service"):
        plan(ORDINARY, "web", given=BUILT, live_override=None, new_file=True)


def test_a_service_to_build_without_a_build_is_refused_with_what_to_do():
    with pytest.raises(InvalidInput) as info:
        plan(ORDINARY, "app", given=None, live_override=None, new_file=True)
    message = str(info.value)
    assert message.startswith("service app, worker has `build:` and no `image:`")
    assert "deploy with --build" in message


def test_a_new_file_without_build_keeps_the_images_an_earlier_build_made():
    live = plan(ORDINARY, "app", given=BUILT, live_override=None, new_file=True).text
    changed = ORDINARY.replace('DEBUG: "no"', 'DEBUG: "yes"')
    done = plan(changed, "app", given=None, live_override=live, new_file=True)
    assert done.images == BUILT
    assert done.notes[0] == (
        "service app runs leo-shop-app:0123456789ab, from an earlier `leo deploy --build` or "
        "rollback (pass --build to build it again)"
    )


def test_a_new_file_drops_the_pins_of_services_that_no_longer_build():
    # After a rollback pinned `db` to its release tag, deploying a file means its images.
    pins = {**BUILT, "db": "leo/shop/db:release-3"}
    live = plan(ORDINARY, "app", given=pins, live_override=None, new_file=False).text
    done = plan(ORDINARY, "app", given=None, live_override=live, new_file=True)
    assert done.images == BUILT


def test_a_rotate_of_what_is_there_keeps_every_image_of_the_live_override():
    pins = {**BUILT, "db": "leo/shop/db:release-3", "gone": "x:1"}
    live = plan(ORDINARY, "app", given=pins, live_override=None, new_file=False).text
    done = plan(ORDINARY, "app", given=None, live_override=live, new_file=False)
    assert done.images == {**BUILT, "db": "leo/shop/db:release-3"}  # `gone` left the file
    assert done.text == live and done.notes == []


def test_a_changed_web_service_moves_the_resets_to_it():
    text = ORDINARY.replace("  db:\n    image: postgres:16\n", "  db:\n    image: pg\n")
    done = plan(text, "db", given=BUILT, live_override=None, new_file=True)
    services = composeyaml.load(done.text)["services"]
    assert set(services["db"]) == {"ports", "container_name"}
    assert "ports" not in services["app"]


@pytest.mark.parametrize("text", [None, "", "not: [yaml", "services: [a]\n", "- x\n"])
def test_an_override_leo_cannot_read_names_no_images(text):
    assert images_in(text) == {}


def _write(directory: Path, text: str) -> Path:
    path = directory / "only.yml"
    path.write_text(text)
    return path


def test_a_build_service_with_profiles_is_not_required_to_be_built():
    # `up` without --profile never starts it, and a local build leaves it out.
    text = ORDINARY + "  tests:\n    build: .\n    profiles: [test]\n"
    done = plan(text, "app", given=BUILT, live_override=None, new_file=True)
    assert "tests" not in done.images
