"""File-system commands on the host (coreutils only)."""

from __future__ import annotations

from collections.abc import Sequence


def mkdir(path: str, *, mode: int) -> list[str]:
    return ["mkdir", "-p", "-m", format(mode, "o"), "--", path]


def remove_tree(path: str) -> list[str]:
    return ["rm", "-rf", "--", path]


def remove_file(path: str) -> list[str]:
    return ["rm", "-f", "--", path]


def read(path: str) -> list[str]:
    return ["cat", "--", path]


def sha256(paths: Sequence[str]) -> list[str]:
    """Hashes of the files that exist; missing ones are just absent from stdout."""
    return ["sha256sum", "--", *paths]


def list_dir(path: str) -> list[str]:
    return ["ls", "-1", "-A", "--", path]


def exists(path: str) -> list[str]:
    return ["test", "-e", path]


def remove_temp_files(directory: str) -> list[str]:
    """Delete (and print) leo's own temp files under `directory`: what an interrupted
    upload left (uploads go to `*.leo-tmp-*` / `*.leo-new-*`, then a rename)."""
    return [
        "find",
        directory,
        "-maxdepth",
        "3",
        "(",
        "-name",
        "*.leo-tmp-*",
        "-o",
        "-name",
        "*.leo-new-*",
        ")",
        "-print",
        "-delete",
    ]
