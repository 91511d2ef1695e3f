"""Shared helpers for the unit tests: where the captured real output lives."""

from __future__ import annotations

from pathlib import Path

import pytest

CAPTURED = Path(__file__).parent / "captured"


@pytest.fixture
def captured():
    """Read a file from tests/unit/captured/ (real output of docker, compose, coreutils)."""

    def read(name: str) -> str:
        return (CAPTURED / name).read_text(encoding="utf-8")

    return read
