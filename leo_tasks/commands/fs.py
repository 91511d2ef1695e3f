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


def read_many(paths: Sequence[str]) -> list[str]:
    """Several files in one command (one round trip): a line `<path> <base64 of its
    bytes>` for each that exists (see facts.parse_files). base64, so that no byte of
    a file can be mistaken for the next file's start."""
    script = 'for f; do if [ -f "$f" ]; then printf "%s " "$f"; base64 -w0 -- "$f"; echo; fi; done'
    return ["sh", "-c", script, "sh", *paths]


def sha256(paths: Sequence[str]) -> list[str]:
    """Hashes of the files that exist; missing ones are just absent from stdout."""
    return ["sha256sum", "--", *paths]


def list_dir(path: str) -> list[str]:
    return ["ls", "-1", "-A", "--", path]


def exists(path: str) -> list[str]:
    return ["test", "-e", path]


def remove_temp_files(
    directory: str, *, older_than_minutes: int = 10, also: Sequence[str] = ()
) -> list[str]:
    """Delete (and print) leo's own temp files under `directory`: what an interrupted
    upload left (uploads go to `*.leo-tmp-*` / `*.leo-new-*`, then a rename), and the
    files in `also` (a killed deploy's candidate compose file).

    Temp files only when older than a few minutes: a younger one may belong to a
    run that is writing it right now (a certificate install, an env edit).
    """
    stale = [
        "(",
        "(",
        "-name",
        "*.leo-tmp-*",
        "-o",
        "-name",
        "*.leo-new-*",
        ")",
        "-mmin",
        f"+{older_than_minutes}",
        ")",
    ]
    for path in also:
        stale += ["-o", "-path", path]
    return ["find", directory, "-maxdepth", "3", "(", *stale, ")", "-print", "-delete"]


def install_candidates(moves: Sequence[tuple[str, str, str]]) -> list[str]:
    """For each (candidate, live, previous): keep a copy of the live file as `previous`,
    then rename the candidate over it. One command for all of them."""
    # Every copy first, then the renames: a copy that fails (a full disk) stops the
    # script before any file moved, so the live files never disagree; renames within
    # one directory tree do not fail that way.
    script = (
        'set -e; n=$#; i=0; while [ "$i" -lt "$n" ]; do if [ -e "$2" ]; then '
        'cp -p -- "$2" "$3"; fi; set -- "$@" "$1" "$2"; shift 3; i=$((i + 3)); done; '
        'while [ "$#" -ge 2 ]; do mv -f -- "$1" "$2"; shift 2; done'
    )
    return ["sh", "-c", script, "sh", *(path for move in moves for path in move)]
