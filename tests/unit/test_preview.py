"""--dry-run's verdict on each service, from facts as the host gives them: the compose
model, the containers, the image IDs, and the containers compose's own dry run of
`up` would recreate. (tests/e2e/test_dry_run.py runs it against a real host.)"""

from __future__ import annotations

from leo_tasks.appsettings import AppSettings
from leo_tasks.facts import ComposeModel, Container
from leo_tasks.steps.preview import Preview, _containers

from .conftest import make_container

V1, V2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def container(service: str, number: int = 1, *, image: str = V1, status: str = "running"):
    return make_container(service, number, image=image, status=status)


def verdict(
    services: dict,
    found: list[Container],
    ids: dict,
    recreated: set[str] = frozenset(),
    *,
    sent: frozenset[str] = frozenset(),
    settings: AppSettings | None = None,
) -> Preview:
    out = Preview()
    _containers(
        out,
        ComposeModel(services=services),
        found,
        settings or AppSettings(),
        ids,
        set(recreated),
        sent=set(sent),
    )
    return out


SERVICES = {
    "web": {"image": "app:1"},
    "worker": {"image": "app:1"},
    "db": {"image": "postgres:16"},
}
IDS = {"app:1": V1, "postgres:16": V1}


def test_what_runs_now_is_no_change():
    found = [container("web"), container("worker"), container("db")]
    out = verdict(SERVICES, found, IDS)
    assert not out.changes
    assert "web: unchanged (a rotate would replace shop-web-1 with identical containers)" in (
        out.lines
    )


def test_compose_recreating_a_service_is_a_change_and_says_why():
    found = [container("web"), container("worker"), container("db")]
    out = verdict(SERVICES, found, IDS, {"shop-worker-1"})
    assert out.changes
    assert "worker: recreate shop-worker-1 (its configuration changed)" in out.lines
    assert "db: unchanged" in out.lines


def test_a_new_image_on_the_host_is_named():
    found = [container("web"), container("worker"), container("db")]
    # The host's app:1 is another image now (a pull, a push): compose or not, it is new.
    out = verdict(SERVICES, found, {**IDS, "app:1": V2})
    assert any(
        line.startswith("web: start 1 new beside the old ones (new image app:1)")
        for line in out.lines
    )


def test_an_image_not_on_the_host_is_pulled_unless_it_is_never_pulled_or_sent():
    services = {
        **SERVICES,
        "web": {"image": "app:2"},
        "cron": {"image": "cron:1", "pull_policy": "never"},
    }
    found = [container("web"), container("worker"), container("db")]
    out = verdict(services, found, IDS)
    assert "pull: web (app:2): not on the host yet" in out.lines
    assert any(line.startswith("missing: cron (cron:1)") for line in out.lines)
    sent = verdict(services, found, IDS, sent=frozenset({"app:2", "cron:1"}))
    assert not any(line.startswith(("pull:", "missing:")) for line in sent.lines)


def test_services_added_and_dropped():
    found = [container("web"), container("db"), container("cache")]
    out = verdict(SERVICES, found, IDS)
    assert "worker: start (new in the compose file)" in out.lines
    assert "cache: remove shop-cache-1 (no longer in the compose file)" in out.lines


def test_no_running_web_is_a_first_deploy():
    found = [container("web", status="exited"), container("db")]
    out = verdict(SERVICES, found, IDS)
    assert out.changes and out.lines[0].startswith("first deploy: start every service")


def test_a_release_phase_one_shot_that_did_not_change_is_no_change():
    services = {
        "web": {
            "image": "app:1",
            "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
        },
        "migrate": {"image": "app:1"},
    }
    found = [container("web"), container("migrate", status="exited")]
    out = verdict(services, found, IDS)
    assert not out.changes, out.lines
    assert (
        "release phase: migrate runs to completion (same configuration and image as last time)"
        in out.lines
    )
    changed = verdict(services, found, IDS, {"shop-migrate-1"})
    assert "release phase: migrate runs to completion (its configuration changed)" in changed.lines


def test_a_stopped_worker_would_be_started_and_leftovers_removed():
    found = [
        container("web"),
        container("web", 2, status="exited"),
        container("worker", status="exited"),
        container("db"),
    ]
    out = verdict(SERVICES, found, IDS)
    assert out.changes
    assert any("containers a failed run left behind are removed" in line for line in out.lines)
    assert "worker: start shop-worker-1 (none of its containers is running)" in out.lines
    paused = verdict(
        SERVICES, [container("web"), container("worker", status="paused"), container("db")], IDS
    )
    assert not paused.changes, paused.lines
