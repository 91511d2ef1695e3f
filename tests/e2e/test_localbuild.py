"""`leo deploy --build`'s local half with the real docker engine and compose: no sshd needed.

Each test builds a throwaway project (FROM scratch + the static busybox, since
nothing can be pulled) in a directory named after this run, so its compose
project and images are its own; a finalizer removes every image it named.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leo_tasks import localbuild
from leo_tasks.errors import InvalidInput
from leo_tasks.imagetags import component
from leo_tasks.localbuild import BuildFailed, Built, built_reference

from .hostkit import sh

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/bin/busybox")
DB_IMAGE = "leo-test-web:v1"
RUN_ID = f"{os.getpid()}{int(time.time()) % 100000}"
# Upper case and a dot: compose normalizes a directory name to the project name
# `lbbuild_<RUN_ID>` (lowercase, dot dropped), and names its images after that.
PROJECT_DIR = f"Lb.Build_{RUN_ID}"
PROJECT = f"lbbuild_{RUN_ID}"
APP = f"lb{RUN_ID}"

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG STAMP=none
RUN echo "stamping $STAMP" && printf '%s' "$STAMP" > /stamp
CMD ["cat", "/stamp"]
"""

COMPOSE = f"""\
services:
  app:
    build: .
  worker:
    build: .
    command: ["sh", "-c", "echo worker; sleep 1"]
  # Upper case: compose would name its image lbbuild_...-Jobs, which docker
  # refuses; with its own image: it builds, and leo's tag maps the name.
  Jobs:
    build: .
    image: {PROJECT}-jobs-own:dev
  db:
    image: {DB_IMAGE}
"""


def image_id(reference: str) -> str | None:
    done = sh("docker", "image", "inspect", "--format", "{{.Id}}", "--", reference, ok=False)
    return done.stdout.strip() if done.returncode == 0 else None


def repo_tags(reference: str) -> list[str]:
    return sh(
        "docker", "image", "inspect", "--format", '{{join .RepoTags "\\n"}}', "--", reference
    ).stdout.split()


def remove_images(*patterns: str) -> None:
    """Remove every tag matching the `docker image ls` reference patterns (tags, not IDs:
    an image another tag still names stays)."""
    refs: list[str] = []
    for pattern in patterns:
        refs += sh(
            "docker", "image", "ls", "--filter", f"reference={pattern}",
            "--format", "{{.Repository}}:{{.Tag}}",
        ).stdout.split()  # fmt: skip
    if refs:
        sh("docker", "image", "rm", "--", *sorted(set(refs)), ok=False)


@pytest.fixture(scope="module", autouse=True)
def docker_ready() -> Iterator[None]:
    if not BUSYBOX.exists():
        pytest.skip("needs Debian's static busybox at /bin/busybox (package busybox-static)")
    if sh("docker", "info", ok=False).returncode != 0:
        pytest.fail("the local docker engine does not answer", pytrace=False)
    if image_id(DB_IMAGE) is None:
        sh("bash", str(REPO / "scripts/build-test-images.sh"))
    yield
    remove_images(f"leo-{APP}*", f"{PROJECT}-*", f"lbbad_{RUN_ID}-*", f"lbslow_{RUN_ID}-*")


def make_project(parent: Path, name: str, compose: str, dockerfile: str = DOCKERFILE) -> Path:
    """A build context with busybox in it (a copy: a symlink would leave the context)."""
    project = parent / name
    project.mkdir()
    shutil.copy(BUSYBOX, project / "busybox")
    (project / "busybox").chmod(0o755)
    (project / "Dockerfile").write_text(dockerfile)
    (project / "docker-compose.yml").write_text(compose)
    # The stamp makes the first build of each run really run the RUN step.
    (project / ".env").write_text(f"STAMP={RUN_ID}\n")
    return project / "docker-compose.yml"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    # STAMP comes from the project's .env: compose must read it in the project's directory.
    args = "    build:\n      context: .\n      args:\n        STAMP: ${STAMP}\n"
    compose = COMPOSE.replace("    build: .\n", args)
    return make_project(tmp_path_factory.mktemp("localbuild"), PROJECT_DIR, compose)


@pytest.fixture(scope="module")
def first_build(project) -> tuple[list[Built], list[str]]:
    db_tags = repo_tags(DB_IMAGE)
    lines: list[str] = []
    built = localbuild.build(str(project), APP, out=lines.append)
    assert repo_tags(DB_IMAGE) == db_tags  # the image:-only service's image is not touched
    return built, lines


def test_every_service_with_build_is_built_and_tagged_by_content(first_build):
    built, _ = first_build
    # compose 2.40 lists services sorted by name (upper case first), not in file order
    assert [b.service for b in built] == ["Jobs", "app", "worker"]
    for b in built:
        assert b.image_id.startswith("sha256:")
        assert b.reference == built_reference(APP, b.service, b.image_id)
        assert b.reference == f"leo-{APP}-{component(b.service)}:{b.image_id[7:19]}"
        assert image_id(b.reference) == b.image_id  # the tag resolves to the built image
    assert built[0].reference.startswith(f"leo-{APP}-jobs-")  # `Jobs` mapped by component()


def test_compose_names_the_images_after_the_normalized_directory(first_build):
    built = {b.service: b for b in first_build[0]}
    # The name localbuild.image_name() predicts, checked against the engine.
    assert image_id(f"{PROJECT}-app") == built["app"].image_id
    assert image_id(f"{PROJECT}-worker") == built["worker"].image_id
    assert image_id(f"{PROJECT}-jobs-own:dev") == built["Jobs"].image_id


def test_the_image_is_the_one_just_built(first_build):
    built = {b.service: b for b in first_build[0]}
    ran = sh("docker", "run", "--rm", "--", built["worker"].reference)
    assert ran.stdout == RUN_ID  # the STAMP from the project's .env, via build args


def test_output_is_streamed_with_the_service_name(first_build):
    _, lines = first_build
    assert any(line.startswith("[build app] ") and f"stamping {RUN_ID}" in line for line in lines)
    assert any(line.startswith("[build worker] ") for line in lines)
    assert any(line.startswith("[build Jobs] ") for line in lines)
    assert not any(line.startswith("[build db]") for line in lines)
    app_ref = next(b.reference for b in first_build[0] if b.service == "app")
    assert any(line.startswith(f"[build app] tagged {app_ref} (") for line in lines)


def test_the_image_only_service_is_not_built_or_tagged(first_build):
    assert "db" not in [b.service for b in first_build[0]]
    assert not sh(
        "docker", "image", "ls", "--quiet", "--filter", f"reference=leo-{APP}-db"
    ).stdout.strip()


def test_building_again_gives_the_same_tags(project, first_build):
    # Nothing changed: the build cache gives the same images, so the same tags.
    again = localbuild.build(str(project), APP, out=lambda line: None)
    assert again == first_build[0]


def test_a_failing_run_step_raises_build_failed(tmp_path):
    dockerfile = (
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        f'RUN ["/bin/busybox", "sh", "-c", "echo about to fail {RUN_ID}; exit 7"]\n'
    )
    compose = "services:\n  api:\n    build: .\n"
    compose_file = make_project(tmp_path, f"lbbad_{RUN_ID}", compose, dockerfile)
    lines: list[str] = []
    with pytest.raises(BuildFailed) as info:
        localbuild.build(str(compose_file), APP, out=lines.append)
    error = info.value
    assert error.exit_code == 1
    assert error.service == "api"
    assert error.exited != 0
    message = str(error)
    assert message.startswith("building service api failed: ")
    assert f"about to fail {RUN_ID}" in message  # the failing step's own output
    assert "exit code: 7" in message
    assert "nothing was changed on any host" in message
    assert any(f"about to fail {RUN_ID}" in line for line in lines)  # streamed as it came
    assert not sh(
        "docker", "image", "ls", "--quiet", "--filter", f"reference=leo-{APP}-api"
    ).stdout.strip()


def test_a_compose_file_compose_refuses_is_invalid_input(tmp_path):
    compose_file = make_project(
        tmp_path, f"lbbad_{RUN_ID}", "services:\n  app:\n    build: .\n    no_such_key: 1\n"
    )
    with pytest.raises(InvalidInput) as info:
        localbuild.build(str(compose_file), APP, out=pytest.fail)
    assert info.value.exit_code == 2
    assert "additional properties 'no_such_key' not allowed" in str(info.value)


# A RUN step that sleeps for a time no other process on the machine sleeps, so
# the test can tell whether BuildKit's process is still there afterwards.
SLEEP = f"{40 + int(RUN_ID) % 997 / 1000:.3f}"
SLOW_DOCKERFILE = (
    "FROM scratch\nCOPY busybox /bin/busybox\n"
    f'RUN ["/bin/busybox", "sh", "-c", "echo sleeping; /bin/busybox sleep {SLEEP}"]\n'
)


def sleepers() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[-2:] == [SLEEP.encode(), b""] or argv[-1:] == [SLEEP.encode()]:
            found.append(int(proc.name))
    return found


def wait_until_gone(seconds: float = 10) -> list[int]:
    end = time.monotonic() + seconds
    while (left := sleepers()) and time.monotonic() < end:
        time.sleep(0.1)
    return left


@pytest.fixture
def slow_project(tmp_path) -> Path:
    compose = "services:\n  slow:\n    build: .\n"
    return make_project(tmp_path, f"lbslow_{RUN_ID}", compose, SLOW_DOCKERFILE)


def test_a_timeout_stops_the_build(slow_project):
    started = time.monotonic()
    with pytest.raises(
        InvalidInput, match="took longer than 4s: stopped the build of service slow"
    ):
        localbuild.build(str(slow_project), APP, out=lambda line: None, timeout=4)
    assert time.monotonic() - started < 4 + localbuild.STOP_GRACE + 2
    assert wait_until_gone() == []


def test_ctrl_c_stops_the_build_and_is_re_raised(slow_project):
    seen_sleeping: list[int] = []

    def out(line: str) -> None:
        if line.endswith(" sleeping"):
            # echo ran; the sleep starts a moment later
            end = time.monotonic() + 5
            while not seen_sleeping and time.monotonic() < end:
                seen_sleeping.extend(sleepers())
            raise KeyboardInterrupt  # as if Ctrl-C came now

    with pytest.raises(KeyboardInterrupt):
        localbuild.build(str(slow_project), APP, out=out)
    assert seen_sleeping  # the RUN step was running when it was interrupted
    assert wait_until_gone() == []
