"""`leo deploy --build` on this machine: the pure parts, and the streaming of a build's output.

The builds themselves (real docker engine) are in tests/e2e/test_localbuild.py;
here compose only reads files (`docker compose config`), and the streaming and
stopping of a long command is checked with small Python child processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leo_tasks import localbuild
from leo_tasks.commands import localcompose
from leo_tasks.errors import InvalidInput, LeoError
from leo_tasks.localbuild import (
    BuildFailed,
    buildable,
    built_reference,
    image_name,
    image_name_of,
)

from .conftest import needs_compose
from .test_imagetags import assert_valid_reference

IMAGE_ID = "sha256:" + "0123456789abcdef" * 4
# `docker compose config --format json` of a project in directory `Shop.Site`
# (see captured/README.md): web, Worker (own image:), assets.v2, db (image: only),
# and debug (a profile service, left out of the output).
CAPTURED_CONFIG = "config-build-compose2.40.3.json"


@pytest.fixture
def shop_site(captured) -> dict:
    return json.loads(captured(CAPTURED_CONFIG))


# ---- buildable -------------------------------------------------------------------


def test_buildable_from_real_compose_output(shop_site):
    # Compose 2.40 sorts services by name in its JSON: the file listed web first.
    # `db` has only `image:`; `debug` (profile) is not in the output at all.
    assert buildable(shop_site) == ["Worker", "assets.v2", "web"]


def test_buildable_keeps_the_order_it_is_given():
    config = {
        "name": "shop",
        "services": {
            "web": {"build": {"context": "/src"}},
            "db": {"image": "postgres:16"},
            "api": {"build": {"context": "/src/api"}, "image": "shop/api:dev"},
            "cache": {"image": "redis"},
        },
    }
    assert buildable(config) == ["web", "api"]


@pytest.mark.parametrize(
    "config",
    [
        {"name": "shop"},
        {"name": "shop", "services": {}},
        {"name": "shop", "services": None},
        {"name": "shop", "services": {"web": {"image": "nginx"}, "db": None}},
        {"name": "shop", "services": {"web": {"image": "nginx", "build": None}}},
    ],
)
def test_nothing_to_build(config):
    assert buildable(config) == []


# ---- image_name ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "name"),
    [
        ("web", "shopsite-web"),  # project from the directory `Shop.Site`, normalized
        ("assets.v2", "shopsite-assets.v2"),  # dots kept, as compose does
        ("Worker", "shop/worker:dev"),  # its own image:
        ("db", "leo-test-web:v1"),
    ],
)
def test_image_name_from_real_compose_output(shop_site, service, name):
    assert image_name(shop_site, service) == name


def test_image_name_keeps_upper_case_as_compose_does():
    # Compose 2.40 names it `proj-Worker` and then fails: "repository name must
    # be lowercase" (build() refuses it before building, see below).
    config = {"name": "proj", "services": {"Worker": {"build": {"context": "."}}}}
    assert image_name(config, "Worker") == "proj-Worker"


def test_an_empty_image_is_no_image():
    config = {"name": "proj", "services": {"web": {"build": {"context": "."}, "image": ""}}}
    assert image_name(config, "web") == "proj-web"


@needs_compose
@pytest.mark.parametrize(
    ("directory", "text", "dotenv", "expected"),
    [
        ("My.Shop", "services:\n  web:\n    build: .\n", "", "myshop-web"),
        ("shop", "name: Other.Name\nservices:\n  web:\n    build: .\n", "", "othername-web"),
        (
            "shop",
            "services:\n  web:\n    build: .\n    image: ${REPO}/web:${TAG}\n",
            "REPO=registry.example/shop\nTAG=7\n",
            "registry.example/shop/web:7",
        ),
        (
            "shop",
            "services:\n  web:\n    build: .\n",
            "COMPOSE_PROJECT_NAME=fromenv\n",
            "fromenv-web",
        ),
        # Only this service's name, not those of the services it depends on.
        (
            "shop",
            "services:\n  web:\n    build: .\n    image: ${REPO:-x}/web\n    depends_on: [db]\n"
            "  db:\n    image: postgres:16\n",
            "",
            "x/web",
        ),
        # leo's env file exists only on the host: reading the config must not need it.
        (
            "shop",
            "services:\n  web:\n    build: .\n    env_file: ./env\n    image: ${REPO}/web\n",
            "REPO=registry.example/shop\n",
            "registry.example/shop/web",
        ),
    ],
)
def test_image_name_of_what_real_compose_reads(tmp_path, directory, text, dotenv, expected):
    """The project name and `.env` come from the compose file's directory, wherever leo runs."""
    project = tmp_path / directory
    project.mkdir()
    (project / "docker-compose.yml").write_text(text)
    if dotenv:
        (project / ".env").write_text(dotenv)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        localcompose.config_json(str(project / "docker-compose.yml")),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=elsewhere,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        check=True,
    )
    config = json.loads(done.stdout)
    compose_file = str(project / "docker-compose.yml")
    assert image_name_of(compose_file, config, "web") == expected


# ---- built_reference -------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "service", "reference"),
    [
        ("shop", "web", "leo-shop-web:0123456789ab"),
        ("shop", "assets.v2", "leo-shop-assets.v2:0123456789ab"),
        ("my_app", "api-web", "leo-my_app-api-web:0123456789ab"),
    ],
)
def test_built_reference(app, service, reference):
    assert built_reference(app, service, IMAGE_ID) == reference
    assert_valid_reference(reference)


@pytest.mark.parametrize("service", ["Worker", "a..b", "web_", "WEB", "x-"])
def test_built_reference_maps_names_docker_refuses(service):
    reference = built_reference("shop", service, IMAGE_ID)
    assert_valid_reference(reference)
    assert reference.startswith("leo-shop-")
    assert reference.endswith(":0123456789ab")


def test_built_reference_tag_is_the_content():
    other = "sha256:" + "f" * 64
    assert built_reference("shop", "web", other) == "leo-shop-web:ffffffffffff"
    assert built_reference("shop", "web", IMAGE_ID) != built_reference("shop", "web", other)


@pytest.mark.parametrize(
    "image_id",
    ["0123456789abcdef" * 4, "sha256:0123", "sha256:" + "G" * 64, "", "sha512:" + "0" * 64],
)
def test_built_reference_needs_an_image_id(image_id):
    with pytest.raises(ValueError):
        built_reference("shop", "web", image_id)


# ---- BuildFailed -----------------------------------------------------------------


def test_build_failed_message():
    argv = localcompose.build("/src/shop/c.yml", "web")
    error = BuildFailed("web", 1, ["#5 0.124 about to fail", "failed to solve: exit code: 7"], argv)
    assert error.exit_code == 1
    assert isinstance(error, LeoError)
    assert str(error) == (
        "building service web failed: `docker compose --ansi never --progress plain "
        "--project-directory /src/shop --file /src/shop/c.yml build -- web` exited 1; "
        "nothing was changed on any host\n"
        "last 2 lines of its output:\n"
        "  #5 0.124 about to fail\n"
        "  failed to solve: exit code: 7"
    )


def test_build_failed_by_a_signal():
    assert "was killed by signal 9;" in str(BuildFailed("web", -9, [], ["docker"]))


# ---- streaming a build's output ----------------------------------------------------


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def stream(code: str, *, seconds: float = 30) -> tuple[int, list[str], list[str]]:
    lines: list[str] = []
    exited, tail = localbuild._stream(
        python(code), "[build web] ", lines.append, time.monotonic() + seconds
    )
    return exited, tail, lines


def test_stdout_and_stderr_are_streamed_in_order_with_the_prefix():
    code = (
        "import sys\n"
        "print('to stdout', flush=True)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "print('', flush=True)\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.exit(3)\n"
    )
    exited, tail, lines = stream(code)
    assert exited == 3
    assert lines == [
        "[build web] to stdout",
        "[build web] to stderr",
        "[build web] ",
        "[build web] no newline at the end",
    ]
    assert tail == ["to stdout", "to stderr", "no newline at the end"]  # no blank lines


def test_a_long_output_is_passed_on_and_only_its_end_is_kept():
    exited, tail, lines = stream("for i in range(20000): print(f'line {i}')")
    assert exited == 0
    assert len(lines) == 20000
    assert tail == [f"line {i}" for i in range(20000 - localbuild.TAIL_LINES, 20000)]


def test_a_line_without_end_is_passed_on_in_pieces():
    size = localbuild.CHUNK * 3
    _, _, lines = stream(f"import sys; sys.stdout.write('x' * {size}); sys.stdout.flush()")
    assert sum(len(line) - len("[build web] ") for line in lines) == size
    assert len(lines) >= 2


def test_undecodable_bytes_do_not_stop_the_stream():
    _, tail, _ = stream(r"import sys; sys.stdout.buffer.write(b'caf\xe9 ok\r\n')")
    assert tail == ["caf\ufffd ok"]


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether `pid` has exited (a zombie waiting for init counts as exited)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# A child that starts a grandchild (as `docker compose` runs its plugin, and
# buildx bake) and prints its pid, then waits.
WITH_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(g.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_timeout_stops_the_child_and_its_children():
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(localbuild._TimedOut):
        localbuild._stream(python(WITH_GRANDCHILD), "", lines.append, time.monotonic() + 2)
    assert time.monotonic() - started < 2 + localbuild.STOP_GRACE
    assert _gone(int(lines[0]))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_the_child_and_its_children_and_is_re_raised():
    seen: list[str] = []

    def out(line: str) -> None:
        seen.append(line)
        raise KeyboardInterrupt  # as if Ctrl-C came while the build printed

    with pytest.raises(KeyboardInterrupt):
        localbuild._stream(python(WITH_GRANDCHILD), "", out, time.monotonic() + 30)
    assert _gone(int(seen[0]))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_child_that_ignores_sigterm_is_killed(monkeypatch):
    monkeypatch.setattr(localbuild, "STOP_GRACE", 0.5)
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(60)\n"
    )
    lines: list[str] = []
    with pytest.raises(localbuild._TimedOut):
        localbuild._stream(python(code), "", lines.append, time.monotonic() + 1)
    assert _gone(int(lines[0]), within=1)


# ---- build(): what is refused before anything is built -----------------------------


def test_a_missing_compose_file(tmp_path):
    with pytest.raises(InvalidInput, match=r"cannot read the compose file .*nope\.yml"):
        localbuild.build(str(tmp_path / "nope.yml"), "shop")


def test_a_directory_is_no_compose_file(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read the compose file"):
        localbuild.build(str(tmp_path), "shop")


def test_docker_not_installed(tmp_path, monkeypatch):
    (tmp_path / "c.yml").write_text("services:\n  web:\n    build: .\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InvalidInput, match="docker is not installed on this machine"):
        localbuild.build(str(tmp_path / "c.yml"), "shop")


@needs_compose
@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("services:\n  web:\n    build: .\n    bogus: 1\n", "additional properties 'bogus'"),
        ("services:\n  web:\n    ports: [\n", "yaml:"),
        # Interpolated only for a service leo builds (the others are the host's).
        ("services:\n  web:\n    build: .\n    image: ${NOPE:?must be set}\n", "must be set"),
    ],
)
def test_a_compose_file_compose_refuses(tmp_path, text, quoted):
    (tmp_path / "c.yml").write_text(text)
    with pytest.raises(InvalidInput) as info:
        localbuild.build(str(tmp_path / "c.yml"), "shop", out=pytest.fail)
    assert str(info.value).startswith(
        (f"docker compose refused {tmp_path / 'c.yml'}: ", "docker compose could not name")
    )
    assert quoted in str(info.value)
    assert info.value.exit_code == 2


@needs_compose
def test_nothing_to_build_is_no_build(tmp_path):
    (tmp_path / "c.yml").write_text("services:\n  web:\n    image: leo-test-web:v1\n")
    assert localbuild.build(str(tmp_path / "c.yml"), "shop", out=pytest.fail) == []


@needs_compose
@pytest.mark.parametrize("service", ["Worker", "web_", "a..b"])
def test_a_default_image_name_docker_refuses_is_refused_before_building(tmp_path, service):
    (tmp_path / "c.yml").write_text(
        f"name: proj\nservices:\n  ok:\n    build: .\n  {service}:\n    build: .\n"
    )
    with pytest.raises(InvalidInput) as info:
        localbuild.build(str(tmp_path / "c.yml"), "shop", out=pytest.fail)
    message = str(info.value)
    assert f"service {service} has `build:` and no `image:`" in message
    assert "give it an `image:`" in message


@needs_compose
def test_an_upper_case_service_with_its_own_image_is_fine_to_build(tmp_path, monkeypatch):
    """Only the default name is checked; the build itself is not run here."""
    (tmp_path / "c.yml").write_text("services:\n  Worker:\n    build: .\n    image: w:dev\n")
    started: list[list[str]] = []

    def fake_stream(argv, prefix, out, deadline):
        started.append(argv)
        return 1, ["failed to solve: nope"]

    monkeypatch.setattr(localbuild, "_stream", fake_stream)
    with pytest.raises(BuildFailed, match="building service Worker failed"):
        localbuild.build(str(tmp_path / "c.yml"), "shop")
    assert started == [localcompose.build(str(tmp_path / "c.yml"), "Worker")]


def test_services_with_profiles_are_not_built():
    # leo's plain `up` never starts them; the uninterpolated config still lists them.
    config = {
        "name": "p",
        "services": {"app": {"build": {}}, "tests": {"build": {}, "profiles": ["t"]}},
    }
    assert buildable(config) == ["app"]
