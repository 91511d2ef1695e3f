"""Fixtures for tests against the real local test host (sshd + docker + compose + nginx)."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from .hostkit import APPS, HISTORY, TESTHOST_DIR, Leo, make_home, nginx, sh

_counter = itertools.count(1)
TEST_APP = re.compile(r"t\d+-\d+")
# An app dir untouched this long belongs to no running test (each takes < 2 min).
LEFTOVER_AGE = 30 * 60
SETUP_LOCK = "/tmp/leo-e2e-setup.lock"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def leo_home(tmp_path_factory) -> Path:
    if not (TESTHOST_DIR / "id_ed25519").exists():
        pytest.fail(
            "the local test host is not provisioned: run `bash scripts/provision-testhost.sh` "
            "(scripts/test.sh does it for you)",
            pytrace=False,
        )
    return make_home(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def leo(leo_home) -> Leo:
    return Leo(leo_home)


@pytest.fixture(scope="session")
def deploy_host(leo, leo_home) -> str:
    """The test host with `leo setup` done (idempotent: fine if it already was)."""
    # One `leo setup` at a time: parallel test runs each start with one.
    with open(SETUP_LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _sweep_and_setup(leo, leo_home)
    return "testhost"


def _sweep_and_setup(leo, leo_home) -> None:
    # Apps left by an interrupted earlier run (e.g. with a deliberately broken
    # nginx.conf) would make every `nginx -t` on this host fail. Only apps older
    # than any test run: another pytest run on this host may be using its own now.
    if APPS.is_dir():
        for leftover in APPS.iterdir():
            if TEST_APP.fullmatch(leftover.name) and _older_than(leftover, LEFTOVER_AGE):
                remove_app(leftover.name)
    leo("setup", "--host", "root@testhost", "--pubkey", str(leo_home / ".ssh/id_ed25519.pub"))


@pytest.fixture
def app(deploy_host, request):
    """A fresh app name; whatever the test left on the host is removed afterwards."""
    # The whole pid: test runs in parallel (scripts/test.sh) must never share a name.
    name = f"t{os.getpid()}-{next(_counter)}"
    yield name
    remove_app(name)


def remove_app(name: str) -> None:
    ids = sh(
        "docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"
    ).stdout.split()
    if ids:
        sh("docker", "rm", "-f", *ids)
    nets = sh(
        "docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}"
    ).stdout.split()
    if nets:
        sh("docker", "network", "rm", *nets, ok=False)
    if (APPS / name).exists():
        shutil.rmtree(APPS / name)
        nginx("-s", "reload", ok=False)
    (HISTORY / f"{name}.jsonl").unlink(missing_ok=True)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False


def domain_of(app: str) -> str:
    return f"{app}.test"
