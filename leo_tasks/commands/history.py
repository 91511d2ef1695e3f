"""Commands on the audit logs (coreutils + util-linux flock only)."""

from __future__ import annotations

from collections.abc import Sequence

# Appends the record on stdin to log $1 (made on demand, with umask $2), under a
# short flock on the log itself (never the deploy lock: a record is written while
# a run holds that). `dd iflag=fullblock` reads the whole record before its one
# write(2), so records of concurrent runs never interleave. A last line left
# without its newline (a write cut short) gets one first: it stays a line of its
# own that readers skip, and this record stays whole.
_APPEND = r"""
set -e
umask "$2"
[ -d "${1%/*}" ] || mkdir -p -- "${1%/*}"
exec 9>>"$1"
flock -w 10 9
{ if [ -s "$1" ] && [ -n "$(tail -c 1 -- "$1")" ]; then echo; fi; cat; } |
  dd bs=1M iflag=fullblock status=none >&9
"""

# For each log that exists: `<path> <base64 of its last $1 lines>` (facts.parse_files).
_TAILS = r"""
n=$1; shift
for f; do
  [ -e "$f" ] || continue
  [ -r "$f" ] || { echo "cannot read $f" >&2; exit 1; }
  printf '%s ' "$f"; tail -n "$n" -- "$f" | base64 -w0; echo
done
"""


def append(path: str, *, private: bool) -> list[str]:
    """Append stdin to `path`; `private`: the log and its directory only for their owner."""
    return ["sh", "-c", _APPEND, "sh", path, "077" if private else "022"]


def tails(paths: Sequence[str], lines: int) -> list[str]:
    """The last `lines` lines of each log in one round trip; absent logs are left out."""
    return ["sh", "-c", _TAILS, "sh", str(lines), *paths]
