"""Shared helpers for the unit tests: where the captured real output lives."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
