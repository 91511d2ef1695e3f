# Sourced by provision-testhost.sh and start-pebble.sh: telling a live daemon
# from a stale pid file. CI runs after the session's processes were killed, so
# a pid file may name a dead process, an unreaped zombie (PID 1 on these
# machines reaps slowly) or an unrelated process that reused the pid.

# True if $1 is a live (not zombie) process whose command name is $2. The
# kernel truncates command names to 15 characters ("pebble-challtes").
pid_is() {
  local pid="$1" name="$2" stat comm state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  comm="${stat#*(}"; comm="${comm%)*}"
  state="${stat##*) }"; state="${state%% *}"
  [[ "$comm" == "$name" && "$state" != Z && "$state" != X ]]
}

# Whether pid $1 is a live process (not a zombie), whatever its name. For a
# daemon just started with `cmd &`: until the child has exec'd, its name is
# still the shell's (or setsid's), and pid_is would call it dead.
pid_alive() {
  local pid="$1" stat state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
  state="${stat##*) }"; state="${state%% *}"
  [[ "$state" != Z && "$state" != X ]]
}

# The pid in pid file $1, digits only (empty if missing).
pidfile_pid() { [[ -s "$1" ]] && tr -dc '0-9' <"$1" || true; }
