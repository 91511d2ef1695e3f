"""The one command per host behind `leo logs`: list the app's containers and print
their logs, each line tagged with the container it came from.

Every container of the compose project counts (label
com.docker.compose.project=<app>), not only what the compose file names now:
during a rotate the web service's old containers are there too. One-off
containers (`leo run`) are left out unless asked for.

The script writes a small line protocol that logview.py parses:

    c <n> <name>              container number n is called <name>
    l <n> <timestamp> <text>  a log line of container n (docker's --timestamps)
    s <service>               no container matched: a service the app does have

Numbers, not names, go into sed's expression: nothing docker or the user
chose is ever part of a script. bash for arrays and `read -t`; GNU sed for -u
(one write per line, so a followed line is not held in sed's buffer).
"""

from __future__ import annotations

from dataclasses import dataclass

from .docker import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL

# Exit status of the script when the app's directory is missing (sysexits' EX_NOINPUT).
NO_APP = 66

# $1 the app's compose file, $2 --since ("" none), $3 --tail ("" none), $4 the
# project's own `docker ps` filter; the rest: the filters that pick the containers.
_PRELUDE = r"""
set -u
[ -e "$1" ] || exit 66
since=$2 tail=$3 project=$4
shift 4
list() { docker ps --all --no-trunc --format '{{.ID}} {{.Names}} {{.State}}' "$@" </dev/null; }
services() {
  docker ps --all --format '{{.Label "com.docker.compose.service"}}' --filter "$project" \
    </dev/null | sort -u | sed 's/^/s /'
}
"""

# Every container's lines so far, one container after the other (leo sorts them by time).
_DUMP = (
    _PRELUDE
    + r"""
found=$(list "$@") || exit
[ -n "$found" ] || { services; exit 0; }
opts=(--timestamps)
[ -n "$since" ] && opts+=(--since "$since")
[ -n "$tail" ] && opts+=(--tail "$tail")
n=0
while read -r id name _; do
  echo "c $n $name"
  docker logs "${opts[@]}" -- "$id" </dev/null 2>&1 | sed "s/^/l $n /"
  n=$((n + 1))
done <<<"$found"
"""
)

# `docker logs --follow` for every container, in the background, while this
# shell waits on its own stdin: leo's heartbeats (a newline every few seconds)
# keep it going; EOF (leo ended, was killed, lost the link) or silence longer
# than $1 seconds (a link that died quietly) ends it, and the EXIT trap kills
# every follower, so nothing is left running on the host. Closing an SSH
# channel does not kill the command behind it: this shell has to.
#
# Between heartbeats it re-lists the containers every 2 s: one that appeared
# (a rotate started meanwhile) is followed from its first line; one that was
# restarted is followed again from its new start (docker's StartedAt).
_FOLLOW = (
    r"""
silence=$1
shift
"""
    + _PRELUDE
    + r"""
declare -A num=() pid=()
n=0
stop() {
  trap - EXIT
  for p in "${pid[@]}"; do kill "$p" 2>/dev/null; done
  wait "${pid[@]}" 2>/dev/null  # exit only once they are gone: leo waits for this exit
}
trap stop EXIT
trap 'exit 0' PIPE HUP INT TERM
follow() {  # id number since tail
  local o=(--timestamps --follow)
  [ -n "$3" ] && o+=(--since "$3")
  [ -n "$4" ] && o+=(--tail "$4")
  docker logs "${o[@]}" -- "$1" </dev/null > >(sed -u "s/^/l $2 /") 2>&1 &
  pid[$1]=$!
}
poll() {  # first(1/0) filters...
  local first=$1 found id name state started
  shift
  # docker failing at the start (daemon down, no permission) ends the follow with its
  # error; later, one failed listing is skipped (a daemon restarting).
  found=$(list "$@") || { [ "$first" = 0 ] || exit 1; return 0; }
  if [ -z "$found" ] && [ "$first" = 1 ]; then services; echo "w"; fi
  while read -r id name state; do
    [ -n "$id" ] || continue
    if [ -z "${num[$id]+x}" ]; then
      num[$id]=$n
      echo "c $n $name"
      n=$((n + 1))
      if [ "$first" = 1 ]; then follow "$id" "${num[$id]}" "$since" "$tail"
      else follow "$id" "${num[$id]}" "$since" ""; fi
    elif [ "$state" = running ] && ! kill -0 "${pid[$id]}" 2>/dev/null; then
      started=$(docker inspect --format '{{.State.StartedAt}}' -- "$id" </dev/null) &&
        follow "$id" "${num[$id]}" "$started" ""
    fi
  done <<<"$found"
}
poll 1 "$@"
heard=$SECONDS
while :; do
  if read -r -t 2 _; then
    heard=$SECONDS
  else
    [ $? -gt 128 ] || exit 0
    [ $((SECONDS - heard)) -lt "$silence" ] || exit 0
  fi
  poll 0 "$@"
done
"""
)


@dataclass(frozen=True)
class LogQuery:
    """Which containers, and which of their lines (already checked: logview.py)."""

    service: str | None = None
    since: str | None = None  # as docker takes it: "600s", or an RFC 3339 UTC time
    tail: int | None = None
    oneoffs: bool = False


def filters(app: str, query: LogQuery) -> list[str]:
    """`docker ps` filters for the containers `leo logs` shows."""
    argv = ["--filter", f"label={PROJECT_LABEL}={app}"]
    if query.service:
        argv += ["--filter", f"label={SERVICE_LABEL}={query.service}"]
    if not query.oneoffs:
        # Compose marks every container it makes True or False.
        argv += ["--filter", f"label={ONEOFF_LABEL}=False"]
    return argv


def _args(compose_file: str, app: str, query: LogQuery) -> list[str]:
    return [
        compose_file,
        query.since or "",
        "" if query.tail is None else str(query.tail),
        f"label={PROJECT_LABEL}={app}",
        *filters(app, query),
    ]


def dump(compose_file: str, app: str, query: LogQuery) -> list[str]:
    """The logs so far of the app's containers (`compose_file` proves the app exists)."""
    return ["bash", "-c", _DUMP, "leo-logs", *_args(compose_file, app, query)]


def follow(compose_file: str, app: str, query: LogQuery, *, silence: float) -> list[str]:
    """Follow the app's containers until stdin closes or stays silent `silence` seconds."""
    patience = str(max(1, round(silence)))
    return ["bash", "-c", _FOLLOW, "leo-logs", patience, *_args(compose_file, app, query)]
