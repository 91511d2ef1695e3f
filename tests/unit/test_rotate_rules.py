"""Pure decisions a rotate makes: what can be rotated, in what order one-shots run,
which network nginx uses, which release a rollback goes to, what an error may show."""

from __future__ import annotations

import json
import subprocess

import pytest

from leo_tasks import rotatable
from leo_tasks.errors import InvalidInput, StepFailed
from leo_tasks.facts import ComposeModel, parse_compose_config
from leo_tasks.steps.containers import redact_values
from leo_tasks.steps.lock import probe_argv
from leo_tasks.steps.releases import SEPARATOR, Release, parse_history, rollback_target

from .conftest import compose_config_json, needs_compose


def model(**services) -> ComposeModel:
    return ComposeModel(services=services)


# ---- rotatable.check: on the model compose resolved -------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"container_name": "fixed"}, "container_name"),
        ({"ports": [{"target": 5000, "published": "8080", "protocol": "tcp"}]}, "host port 8080"),
        ({"network_mode": "host"}, "network_mode: host"),
        ({"profiles": ["debug"]}, "profiles"),
    ],
)
def test_web_that_cannot_run_twice_is_refused(spec, reason):
    with pytest.raises(InvalidInput, match=reason):
        rotatable.check(model(web=spec), "web")


def test_a_container_port_without_a_host_port_is_fine():
    rotatable.check(model(web={"ports": [{"target": 5000, "protocol": "tcp"}]}), "web")


def test_rotated_services_are_checked_too_and_others_are_not():
    with pytest.raises(InvalidInput, match="service worker sets container_name"):
        rotatable.check(model(web={}, worker={"container_name": "w"}), "web", ("worker",))
    rotatable.check(model(web={}, db={"container_name": "db"}), "web", ("worker",))


def test_no_web_service():
    with pytest.raises(InvalidInput, match="no `web` service"):
        rotatable.check(model(api={}), "web")


# ---- the release phase ------------------------------------------------------------

COMPLETED = {"condition": "service_completed_successfully"}


def test_release_phase_orders_one_shots_dependencies_first():
    m = model(
        web={"depends_on": {"migrate": COMPLETED, "db": {"condition": "service_healthy"}}},
        worker={"depends_on": {"migrate": COMPLETED, "seed": COMPLETED}},
        migrate={"depends_on": {"schema": COMPLETED, "db": {"condition": "service_started"}}},
        schema={},
        seed={},
        db={},
    )
    assert m.release_phase(["web"]) == ["schema", "migrate"]
    assert m.release_phase(["web", "worker"]) == ["schema", "migrate", "seed"]
    assert m.depends_on("web") == {
        "migrate": "service_completed_successfully",
        "db": "service_healthy",
    }


def test_release_phase_survives_a_cycle_and_unknown_services():
    m = model(
        web={"depends_on": {"a": COMPLETED, "ghost": COMPLETED}},
        a={"depends_on": {"web": COMPLETED}},
    )
    assert m.release_phase(["web"]) == ["a"]


@needs_compose
def test_release_phase_from_the_real_compose_config(tmp_path):
    (tmp_path / "c.yml").write_text(
        "services:\n"
        "  migrate: {image: busybox}\n"
        "  web:\n"
        "    image: busybox\n"
        "    depends_on: {migrate: {condition: service_completed_successfully}}\n"
    )
    config = compose_config_json(tmp_path, tmp_path / "c.yml")
    assert parse_compose_config(json.dumps(config)).release_phase(["web"]) == ["migrate"]


# ---- networks -----------------------------------------------------------------


def test_nginx_prefers_default_then_ordinary_then_internal_networks():
    m = ComposeModel(
        services={"web": {"networks": {"back": None, "front": None, "default": None}}},
        networks={
            "default": {"name": "shop_default"},
            "back": {"name": "shop_back", "internal": True},
            "front": {"name": "custom-front"},
        },
    )
    assert m.reachable_networks("web") == ["shop_default", "custom-front", "shop_back"]
    assert ComposeModel(services={"web": {}}).reachable_networks("web") == []


# ---- releases and rollbacks -------------------------------------------------------


def release(number: int, origin: int = 0, left: int | None = None) -> Release:
    return Release(number, "t", "me@x", "0" * 64, {}, origin=origin, rolled_back_from=left)


def test_rollback_goes_further_back_each_time():
    history = [release(1), release(2), release(3)]
    assert rollback_target(history, None).number == 2
    history.append(release(4, origin=2, left=3))  # rolled back from 3 to 2
    assert rollback_target(history, None).number == 1  # not 3 again, not 2 (current)
    history.append(release(5, origin=1, left=2))
    with pytest.raises(StepFailed, match="no earlier release to roll back to"):
        rollback_target(history, None)
    assert rollback_target(history, 3).number == 3  # asked for by number: allowed


def test_a_new_deploy_after_a_rollback_rolls_back_to_what_ran_before_it():
    history = [release(1), release(2), release(3, origin=1, left=2), release(4)]
    assert rollback_target(history, None).number == 3  # it runs release 1's files


def test_records_written_before_origins_existed_still_work():
    old = [Release(1, "t", "me", "0" * 64, {}), Release(2, "t", "me", "0" * 64, {})]
    assert rollback_target(old, None).number == 1
    with pytest.raises(StepFailed, match="no release 9 recorded"):
        rollback_target(old, 9)


def test_history_skips_unreadable_records_and_numbers_past_them():
    good = json.dumps({"number": 1, "time": "t", "by": "b", "compose_sha256": "x", "services": {}})
    text = (
        f"{SEPARATOR}/r/1.json\n{good}"
        f'{SEPARATOR}/r/2.json\n{{"number": 2, "time": '
        f"{SEPARATOR}/r/3.json\n[1, 2]"
    )
    history = parse_history(text)
    assert [r.number for r in history.releases] == [1]
    assert history.highest == 3
    assert [p.split(":")[0] for p in history.unreadable] == ["/r/2.json", "/r/3.json"]


def test_history_ignores_fields_it_does_not_know():
    raw = {"number": 7, "time": "t", "by": "b", "compose_sha256": "x", "services": {}, "new": 1}
    (only,) = parse_history(f"{SEPARATOR}/r/7.json\n{json.dumps(raw)}").releases
    assert only.number == 7 and only.source == 7


# ---- what errors may show -----------------------------------------------------------


def test_compose_env_file_errors_lose_the_value():
    stderr = 'failed to read /a/env: line 4: unterminated quoted value "hunter2 secret'
    assert (
        redact_values(stderr)
        == "failed to read /a/env: line 4: unterminated quoted value (not shown)"
    )


# ---- the lock probe never takes the lock ------------------------------------------


def test_lock_probe_reads_proc_locks_and_never_takes_the_lock(tmp_path):
    lock = tmp_path / "deploy.lock"
    lock.touch()
    argv = probe_argv(str(lock))
    assert "flock" not in " ".join(argv)  # it cannot take what it never asks for

    def probe() -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

    assert probe() == "free"
    holder = subprocess.Popen(
        ["flock", str(lock), "sh", "-c", "echo held; read _"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert probe() == "held"
    finally:
        holder.communicate("\n", timeout=10)
    assert probe() == "free"
    assert (
        subprocess.run(
            probe_argv(str(tmp_path / "absent")), capture_output=True, text=True
        ).stdout.strip()
        == "free"
    )


# ---- what a rollback pins, and what pruning keeps --------------------------------

BUILT_COMPOSE = (
    "services:\n"
    "  app: {build: ., depends_on: {migrate: {condition: service_completed_successfully}}}\n"
    "  migrate: {build: ., command: [migrate]}\n"
    "  db: {image: postgres:16}\n"
)


def _built_release(number: int, digest: str) -> Release:
    built = {s: f"leo-shop-{s}:{digest}" for s in ("app", "migrate")}
    return Release(
        number,
        "t",
        "me",
        "0" * 64,
        {
            "app": {
                "image": built["app"],
                "image_id": "x",
                "tag": f"leo/shop/app:release-{number}",
            },
            "db": {"image": "postgres:16", "image_id": "y", "tag": f"leo/shop/db:release-{number}"},
        },
        supplied=built,  # migrate had exited: it is not among the running services
    )


def test_a_rollback_pins_release_tags_and_the_built_one_shot_that_was_not_running():
    from leo_tasks.steps.releases import pinned_images

    assert pinned_images(_built_release(3, "aaa"), BUILT_COMPOSE) == {
        "app": "leo/shop/app:release-3",
        "db": "leo/shop/db:release-3",
        "migrate": "leo-shop-migrate:aaa",
    }


def test_pruning_keeps_what_the_kept_releases_still_run():
    from leo_tasks.steps.releases import _in_use, built_images

    old = _built_release(1, "aaa")
    # Release 2 is a rollback to 1: it runs release 1's tags and built images.
    rollback = Release(
        2,
        "t",
        "me",
        "0" * 64,
        {
            "app": {
                "image": "leo/shop/app:release-1",
                "image_id": "x",
                "tag": "leo/shop/app:release-2",
            }
        },
        supplied={"app": "leo/shop/app:release-1", "migrate": "leo-shop-migrate:aaa"},
    )
    kept = _in_use([rollback])
    assert "leo/shop/app:release-1" in kept and "leo-shop-migrate:aaa" in kept
    assert "leo-shop-app:aaa" not in kept  # release 1's build, no longer run: may go
    assert built_images([old], "shop") == ["leo-shop-app:aaa", "leo-shop-migrate:aaa"]
