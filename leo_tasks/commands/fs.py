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


# Writing stdin to $1 atomically, with mode $2 (and owner:group $3 if set): a temp
# file beside it, created 0600 by `mktemp` before any byte is written (O_EXCL and an
# unguessable name: a symlink planted in the directory is never followed), then
# renamed into place. Paths arrive as positional arguments, never inlined.
_STRICT = "set -e; umask 077; "
_STAGE = 'tmp=$(mktemp -- "$1.leo-tmp-XXXXXXXX"); trap \'rm -f -- "$tmp"\' EXIT; cat > "$tmp"; '
_INSTALL = (
    'if [ -n "$3" ]; then chown -h -- "$3:$3" "$tmp"; fi; '
    'chmod -- "$2" "$tmp"; mv -f -- "$tmp" "$1"; trap - EXIT'
)
# `swap` first prints what $1 holds (a line `present` then its bytes, or `absent`),
# and leaves a file that already has the new content alone.
_PRINT_OLD = 'if [ -f "$1" ]; then echo present; cat -- "$1"; else echo absent; fi; '
_UNLESS_SAME = 'if [ -f "$1" ] && cmp -s -- "$tmp" "$1"; then exit 0; fi; '


def write(path: str, *, mode: int, owner: str | None = None) -> list[str]:
    """Write the command's stdin to `path` atomically (leo's uploads, `Remote.put`)."""
    script = _STRICT + _STAGE + _INSTALL
    return ["sh", "-c", script, "sh", path, format(mode, "o"), owner or ""]


def swap(path: str, *, mode: int, owner: str | None = None) -> list[str]:
    """Read a file and write its new content (stdin) in one command: a round trip
    less than reading, then writing. See `parse_swapped` for what it prints."""
    script = _STRICT + _PRINT_OLD + _STAGE + _UNLESS_SAME + _INSTALL
    return ["sh", "-c", script, "sh", path, format(mode, "o"), owner or ""]


def parse_swapped(stdout: str) -> str | None:
    """What the file held before `swap` (None: there was no file)."""
    marker, _, before = stdout.partition("\n")
    return before if marker == "present" else None


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
