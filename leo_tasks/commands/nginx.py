"""nginx control: test, reload (and confirm the reload took effect), watch old workers.

`nginx -t` runs through `sudo -n` for leo-deploy (see the sudoers drop-in).
The other commands are short scripts with no data inlined: arguments arrive
as positional parameters.
"""

from __future__ import annotations

from collections.abc import Sequence


def test() -> list[str]:
    return ["nginx", "-t"]


def version() -> list[str]:
    """`nginx -v` (prints `nginx version: nginx/1.22.1` on stderr)."""
    return ["sh", "-c", 'PATH="$PATH:/usr/sbin:/sbin"; nginx -v']


def dump() -> list[str]:
    """`nginx -T`: the whole configuration, each file under `# configuration file X:`."""
    return ["nginx", "-T"]


# Sets $master to the pid of THE host's nginx: the one its pid file names (the
# `pid` directive of the main nginx.conf, else the compiled-in --pid-path).
# Any other process called nginx (an app's own nginx in a container, a second
# instance) is not ours and must not be waited for.
_FIND_MASTER = r"""
PATH="$PATH:/usr/sbin:/sbin"
v=$(nginx -V 2>&1)
conf=$(printf '%s\n' "$v" | sed -n 's/.*--conf-path=\([^ ]*\).*/\1/p')
pidfile=$(sed -n 's/^[[:space:]]*pid[[:space:]][[:space:]]*\([^;[:space:]]*\)[[:space:]]*;.*/\1/p' \
  "${conf:-/etc/nginx/nginx.conf}" 2>/dev/null | tail -n 1)
[ -n "$pidfile" ] || pidfile=$(printf '%s\n' "$v" | sed -n 's/.*--pid-path=\([^ ]*\).*/\1/p')
pidfile=${pidfile:-/run/nginx.pid}
master=$(cat "$pidfile" 2>/dev/null)
case "$master" in ''|*[!0-9]*) master= ;; esac
if [ -z "$master" ] || [ ! -d "/proc/$master" ]; then
  echo "nginx is not running (no live master process in $pidfile)" >&2
  exit 3
fi
kids() { ps -o pid= --ppid "$master" 2>/dev/null | tr -s ' \n' '  '; }
"""

# Reloads nginx and waits up to $1 seconds until the new configuration is the
# only one that accepts connections: the master has started a worker that did
# not exist before, and every worker from before has stopped accepting (its
# title says "shutting down") or exited. `nginx -s reload` returns before any
# of that, and when the master cannot apply the configuration (a port in use,
# a certificate it cannot read) it keeps the old one and says so only in its
# error log. Prints `old <pids>`: the workers from before, which may still be
# finishing requests they accepted.
_RELOAD_CONFIRMED = (
    _FIND_MASTER
    + r"""
before=" $(kids) "
if [ "$(id -u)" -eq 0 ]; then nginx -s reload; else sudo -n -- nginx -s reload; fi || exit 4
end=$(( $(date +%s) + $1 ))
accepting() {  # old workers that may still accept a connection with the old config
  for p in $before; do
    t=$( { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null ) || continue
    case "$t" in *"worker process"*) case "$t" in *"shutting down"*) ;; *) echo "$p" ;; esac ;; esac
  done
}
while :; do
  new=""
  for p in $(kids); do case "$before" in *" $p "*) ;; *) new="$p" ;; esac; done
  if [ -n "$new" ] && [ -z "$(accepting)" ]; then echo "old$before"; exit 0; fi
  if [ ! -d "/proc/$master" ]; then
    echo "the nginx master (pid $master) exited during the reload" >&2
    exit 5
  fi
  if [ "$(date +%s)" -ge "$end" ]; then
    if [ -z "$new" ]; then
      echo "nginx started no new worker within $1s of the reload: it kept its previous" \
        "configuration (its error log says why, e.g. a port in use)" >&2
    else
      echo "nginx's previous workers still accept connections $1s after the reload" >&2
    fi
    exit 5
  fi
  sleep 0.05
done
"""
)


def reload_confirmed(wait_seconds: int) -> list[str]:
    """Reload, then wait for the new generation of workers (see _RELOAD_CONFIRMED)."""
    return ["sh", "-c", _RELOAD_CONFIRMED, "sh", str(wait_seconds)]


# Waits until none of the given PIDs exists, for at most $1 seconds; prints
# the ones still alive on timeout. /proc works for any user, kill -0 does not.
_WAIT_GONE = r"""
end=$(( $(date +%s) + $1 )); shift
while :; do
  alive=""
  for p in "$@"; do [ -d "/proc/$p" ] && alive="$alive $p"; done
  [ -z "$alive" ] && exit 0
  [ "$(date +%s)" -ge "$end" ] && { echo $alive; exit 1; }
  sleep 0.1
done
"""


def wait_gone(pids: Sequence[int], max_seconds: int) -> list[str]:
    return ["sh", "-c", _WAIT_GONE, "sh", str(max_seconds), *map(str, pids)]
