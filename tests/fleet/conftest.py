"""Fixtures for the fleet tests: three real hosts (scripts/fleet.sh) and a load balancer."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ..e2e.hostkit import Leo
from .fleetkit import FLEET_DIR, SCRIPT, make_home

HOSTS = ["h1", "h2", "h3"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/fleet/" in str(item.fspath):
            item.add_marker(pytest.mark.fleet)


@pytest.fixture(scope="session")
def fleet() -> list[str]:
    """Three fresh hosts: the scenario starts from bare Debian hosts, whatever an
    earlier run left (down and up take a few seconds once the host image is built;
    the first `up` builds it, about 30 s)."""
    for argv in (["down"], ["up", str(len(HOSTS))]):
        proc = subprocess.run(
            ["bash", str(SCRIPT), *argv], capture_output=True, text=True, timeout=900
        )
        if proc.returncode != 0:
            pytest.fail(
                f"scripts/fleet.sh {' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}",
                pytrace=False,
            )
    if not (FLEET_DIR / "known_hosts").exists():
        pytest.fail(f"scripts/fleet.sh up wrote no {FLEET_DIR / 'known_hosts'}", pytrace=False)
    return HOSTS


@pytest.fixture(scope="session")
def project(fleet, tmp_path_factory) -> Path:
    """An app's repository: leo.yaml names the fleet's groups, as a user would write it."""
    path = tmp_path_factory.mktemp("project")
    (path / "leo.yaml").write_text(
        "app: shop\n"
        "host: prod\n"
        "hosts:\n"
        f"  prod: [{', '.join(fleet)}]\n"
        f"  roots: [{', '.join('root@' + h for h in fleet)}]\n"
    )
    return path


@pytest.fixture(scope="session")
def home(fleet, tmp_path_factory) -> Path:
    return make_home(tmp_path_factory.mktemp("fleet-home"), fleet)


@pytest.fixture(scope="session")
def leo(home, project) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`leo` run from inside the project (its leo.yaml applies), HOME knowing the fleet."""
    return functools.partial(Leo(home), cwd=project)
