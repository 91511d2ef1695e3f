"""Shared helpers for the unit tests: where the captured real output lives, and a
Container as docker inspect would describe one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from leo_tasks.facts import Container

CAPTURED = Path(__file__).parent / "captured"


@pytest.fixture
def captured():
    """Read a file from tests/unit/captured/ (real output of docker, compose, coreutils)."""

    def read(name: str) -> str:
        return (CAPTURED / name).read_text(encoding="utf-8")

    return read


def compose_available() -> bool:
    """Whether `docker compose` (the v2 plugin; no engine needed) runs here."""
    if not shutil.which("docker"):
        return False
    try:
        probe = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


# For tests that feed files to the real compose binary.
needs_compose = pytest.mark.skipif(
    not compose_available(), reason="`docker compose` (v2 plugin) is not available here"
)


def compose_config_json(directory: Path, file: Path | list[Path], *profiles: str) -> dict:
    """What the real `docker compose config` makes of `file` (several: merged in order, as
    `-f a -f b`; only reads files: no engine)."""
    files = file if isinstance(file, list) else [file]
    result = subprocess.run(
        [
            "docker",
            "compose",
            "--ansi",
            "never",
            "--project-name",
            "leo-unit",
            "--project-directory",
            str(directory),
            *(arg for f in files for arg in ("--file", str(f))),
            *(arg for profile in profiles for arg in ("--profile", profile)),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def make_container(service: str = "web", number: int = 1, **changes) -> Container:
    """A running container of app `shop` (compose's name for it), `changes` applied."""
    base = dict(
        id=f"{service}{number}".ljust(64, "0"),
        name=f"shop-{service}-{number}",
        project="shop",
        service=service,
        number=number,
        status="running",
        exit_code=0,
        health=None,
        created="",
        started_at="",
    )
    return Container(**{**base, **changes})
