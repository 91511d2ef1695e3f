#!/usr/bin/env bash
# Start a local Let's Encrypt-like ACME server for end-to-end tests of an
# ACME client: Debian's pebble (RFC 8555 test CA) on https://127.0.0.1:14000,
# with pebble-challtestsrv as its DNS server. Pebble really validates HTTP-01
# against http://<name>:80/.well-known/acme-challenge/..., i.e. against this
# machine's nginx, for names a test registered with challtestsrv:
#   curl -X POST -d '{"host":"x.test","addresses":["127.0.0.1"]}' http://127.0.0.1:8055/add-a
#
# Run as root (provision-testhost.sh calls it). Idempotent: when both daemons
# are up with the current config it only checks and returns. Safe after the
# daemons were killed (stale pid files), which is the normal case on CI.
#
# Writes $STATE_DIR/pebble/env for the tests (shell-style KEY=value lines).
# Pebble makes a NEW issuing root on every start: tests must fetch it from
# $PEBBLE_MANAGEMENT/roots/0 (and /intermediates/0) at test time.
#
# Environment:
#   LEO_TESTHOST_DIR  state dir (default /var/lib/leo-testhost)
set -euo pipefail

STATE_DIR="${LEO_TESTHOST_DIR:-/var/lib/leo-testhost}"
DIR="$STATE_DIR/pebble"
ACME_ADDR="127.0.0.1:14000"
MGMT_ADDR="127.0.0.1:15000"
DNS_ADDR="127.0.0.1:8053"
CTS_MGMT_ADDR="127.0.0.1:8055"
PEBBLE_PIDFILE=/run/pebble-leotest.pid
CTS_PIDFILE=/run/pebble-challtestsrv-leotest.pid
PEBBLE_LOG=/var/log/pebble.log
CTS_LOG=/var/log/pebble-challtestsrv.log
T0=$SECONDS

log() { printf '[pebble] %s\n' "$*"; }
die() { printf '[pebble] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "must run as root"
for b in pebble pebble-challtestsrv openssl curl ss sha256sum flock; do
  command -v "$b" >/dev/null || die "'$b' not found: install the Debian packages pebble, openssl, curl, iproute2 (scripts/provision-testhost.sh does)"
done
# The paths go into a JSON file unescaped.
[[ "$DIR" != *[\"\\]* ]] || die "LEO_TESTHOST_DIR must not contain quotes or backslashes"

# shellcheck source=scripts/pidfile.sh
source "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

mkdir -p "$DIR"
chmod 0700 "$STATE_DIR" "$DIR"
# Two concurrent runs would kill each other's fresh daemons. The daemons must
# not inherit fd 9 (start_daemon closes it), or they would hold the lock forever.
exec 9>"$DIR/.lock"
flock -w 60 9 || die "another start-pebble.sh holds $DIR/.lock"

# ---------------------------------------------------------------------------
# 1. TLS for pebble's own API (ACME + management): a small CA + a leaf for
#    localhost/127.0.0.1, so a client can pass api-ca.pem as its CA bundle.
#    Made once; remade only if a file is missing, broken or near expiry.
# ---------------------------------------------------------------------------
certs_ok() {
  local f
  for f in api-ca.pem api-ca.key api-cert.pem api-key.pem; do [[ -s "$DIR/$f" ]] || return 1; done
  openssl verify -CAfile "$DIR/api-ca.pem" "$DIR/api-cert.pem" >/dev/null 2>&1 \
    && openssl x509 -checkend $((30 * 86400)) -noout -in "$DIR/api-cert.pem" >/dev/null 2>&1
}
if ! certs_ok; then
  log "tls: making API CA + cert for localhost/127.0.0.1 in $DIR"
  tmp="$(mktemp -d "$DIR/.certs.XXXXXX")"
  # Explicit extensions: strict verifiers (Python 3.13+, VERIFY_X509_STRICT)
  # want key identifiers and a critical basicConstraints on the CA.
  cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  if ! {
    openssl req -x509 -config "$tmp/openssl.cnf" -extensions ca -newkey ec \
      -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=leo-testhost pebble API CA" \
      -keyout "$tmp/api-ca.key" -out "$tmp/api-ca.pem" \
    && openssl req -new -config "$tmp/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
      -nodes -subj "/CN=localhost" -keyout "$tmp/api-key.pem" -out "$tmp/api.csr" \
    && openssl x509 -req -in "$tmp/api.csr" -CA "$tmp/api-ca.pem" -CAkey "$tmp/api-ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 3650 \
      -extfile "$tmp/openssl.cnf" -extensions leaf -out "$tmp/api-cert.pem"
  } >"$tmp/openssl.log" 2>&1; then
    cat "$tmp/openssl.log" >&2; rm -rf "$tmp"
    die "openssl failed"
  fi
  chmod 0600 "$tmp/api-ca.key" "$tmp/api-key.pem"
  chmod 0644 "$tmp/api-ca.pem" "$tmp/api-cert.pem"
  for f in api-ca.key api-key.pem api-cert.pem api-ca.pem; do mv -f "$tmp/$f" "$DIR/$f"; done
  rm -rf "$tmp"
fi

# ---------------------------------------------------------------------------
# 2. Pebble config. httpPort 80: the VA fetches HTTP-01 tokens from the real
#    nginx. tlsPort 5001 is only dialled for TLS-ALPN-01 (nothing listens
#    there, so that challenge type just fails). No EAB, no OCSP URL.
# ---------------------------------------------------------------------------
cat >"$DIR/pebble-config.json.tmp" <<EOF
{
  "pebble": {
    "listenAddress": "$ACME_ADDR",
    "managementListenAddress": "$MGMT_ADDR",
    "certificate": "$DIR/api-cert.pem",
    "privateKey": "$DIR/api-key.pem",
    "httpPort": 80,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
if cmp -s "$DIR/pebble-config.json.tmp" "$DIR/pebble-config.json"; then
  rm -f "$DIR/pebble-config.json.tmp"
else
  mv -f "$DIR/pebble-config.json.tmp" "$DIR/pebble-config.json"
fi

# ---------------------------------------------------------------------------
# 3. Daemon commands. Both run with a clean environment (a stray PEBBLE_*
#    variable in the caller's env must not change behaviour) that carries a
#    fingerprint of everything they were started with: a live daemon whose
#    fingerprint differs (config, cert or flags changed) is restarted.
# ---------------------------------------------------------------------------
# challtestsrv: only its DNS server and management API. Its own HTTP-01,
# HTTPS-01 and TLS-ALPN-01 responders are disabled (they would grab :5002,
# :5003, :5001), and the empty defaults make it answer A/AAAA queries only
# for names a test added (by default every name would resolve to 127.0.0.1/::1).
CTS_CMD=(pebble-challtestsrv -dns01 "$DNS_ADDR" -management "$CTS_MGMT_ADDR"
         -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 "" -defaultIPv6 "")
# pebble: NOSLEEP drops the random 0-15 s validation delay; NONCEREJECT=0
# stops it rejecting 5% of good nonces (tests would be flaky otherwise).
PEBBLE_ENV=(PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0)
PEBBLE_CMD=(pebble -config "$DIR/pebble-config.json" -dnsserver "$DNS_ADDR")
CTS_FP="$(printf '%q ' "${CTS_CMD[@]}" | sha256sum | cut -c1-16)"
PEBBLE_FP="$( { printf '%q ' "${PEBBLE_ENV[@]}" "${PEBBLE_CMD[@]}"
                cat "$DIR/pebble-config.json" "$DIR/api-cert.pem" "$DIR/api-key.pem"; } | sha256sum | cut -c1-16)"

has_fp() { tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF "LEO_PEBBLE_FP=$2"; }
# True while $1 exists and is not a zombie (whatever its name: right after
# start it may still be the bash/env wrapper that execs the daemon).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"; [[ "${stat%% *}" != Z && "${stat%% *}" != X ]]
}

# Health checks: each daemon answers on all of its ports.
cts_up() {  # $1 = pid
  [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$CTS_MGMT_ADDR/" || true)" != 000 ]] \
    && ss -Hlunp "src $DNS_ADDR" 2>/dev/null | grep -q "pid=$1,"
}
pebble_up() {
  curl -fs -o /dev/null -m 3 --cacert "$DIR/api-ca.pem" "https://$ACME_ADDR/dir" \
    && curl -fs -o /dev/null -m 3 --cacert "$DIR/api-ca.pem" "https://$MGMT_ADDR/roots/0"
}

# Stop our daemon recorded in $1 (pid file) if it is alive as $2.
stop_daemon() {
  local pid
  pid="$(pidfile_pid "$1")"
  if [[ -n "$pid" ]] && pid_is "$pid" "$2"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do pid_is "$pid" "$2" || break; sleep 0.1; done
    pid_is "$pid" "$2" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# Ports must be free before a start. A holder that this script started (it
# carries LEO_PEBBLE_FP) but whose pid file is gone is an orphan: stop it.
# Anything else (e.g. a pebble started by hand) is an error.
ports_free() {  # $1 = ss option (-t/-u), rest = addresses
  local opt="$1" a out pid; shift
  for a in "$@"; do
    out="$(ss -Hlnp "$opt" "src $a" 2>/dev/null || true)"
    [[ -n "$out" ]] || continue
    pid="$(grep -o 'pid=[0-9]*' <<<"$out" | head -n1 | cut -d= -f2)"
    if [[ -n "$pid" ]] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^LEO_PEBBLE_FP='; then
      log "stopping orphan pid $pid (ours, no pid file) holding $a"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && kill -9 "$pid" 2>/dev/null && sleep 0.2
      out="$(ss -Hlnp "$opt" "src $a" 2>/dev/null || true)"
    fi
    [[ -z "$out" ]] || die "$a is already in use, not by our daemons: $out"
  done
}

# Start detached: new session, no stdin, log appended; the wrapper shell
# records its own pid and execs the daemon, so the pid file is exact. It also
# closes every other inherited fd (our lock on fd 9, a caller's pipes: a CI
# step must not wait on a pipe held open by a daemon).
start_daemon() {  # $1 = pid file, $2 = log, $3 = fingerprint, rest = env + command
  local pidfile="$1" logf="$2" fp="$3"; shift 3
  printf '=== %s start-pebble.sh: %s\n' "$(date -Is)" "$*" >>"$logf"
  # shellcheck disable=SC2016
  setsid bash -c 'for f in /proc/$$/fd/*; do f=${f##*/}
                    if ((f > 2)) && [[ -e /proc/$$/fd/$f ]]; then exec {f}>&-; fi; done
                  echo $$ >"$0"; exec "$@"' "$pidfile" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LEO_PEBBLE_FP="$fp" "$@" \
    >>"$logf" 2>&1 </dev/null &
}

# Keep a daemon that is ours, current and healthy; otherwise (re)start it.
STARTED=()
ensure() {  # $1 = label, $2 = pid file, $3 = comm name, $4 = fingerprint, $5 = health fn
  local pid
  pid="$(pidfile_pid "$2")"
  if [[ -n "$pid" ]] && pid_is "$pid" "$3" && has_fp "$pid" "$4" && "$5" "$pid"; then
    return 0
  fi
  if [[ -n "$pid" ]] && pid_is "$pid" "$3"; then
    log "$1: pid $pid is outdated or not answering, restarting it"
  elif [[ -e "$2" ]]; then
    log "$1: removing stale $2 (pid '${pid}' is not a live $3)"
  fi
  stop_daemon "$2" "$3"
  STARTED+=("$1")
  return 1
}

if ! ensure challtestsrv "$CTS_PIDFILE" pebble-challtes "$CTS_FP" cts_up; then
  ports_free -u "$DNS_ADDR"; ports_free -t "$DNS_ADDR" "$CTS_MGMT_ADDR"
  log "challtestsrv: starting (DNS $DNS_ADDR, management http://$CTS_MGMT_ADDR, log $CTS_LOG)"
  start_daemon "$CTS_PIDFILE" "$CTS_LOG" "$CTS_FP" "${CTS_CMD[@]}"
fi
if ! ensure pebble "$PEBBLE_PIDFILE" pebble "$PEBBLE_FP" pebble_up; then
  ports_free -t "$ACME_ADDR" "$MGMT_ADDR"
  log "pebble: starting (https://$ACME_ADDR/dir, log $PEBBLE_LOG)"
  start_daemon "$PEBBLE_PIDFILE" "$PEBBLE_LOG" "$PEBBLE_FP" "${PEBBLE_ENV[@]}" "${PEBBLE_CMD[@]}"
fi

# ---------------------------------------------------------------------------
# 4. Wait (max 20 s) until both answer; fail fast if one dies.
# ---------------------------------------------------------------------------
fail() {
  printf -- '--- tail %s\n' "$CTS_LOG" >&2; tail -n 15 "$CTS_LOG" >&2 || true
  printf -- '--- tail %s\n' "$PEBBLE_LOG" >&2; tail -n 15 "$PEBBLE_LOG" >&2 || true
  die "$*"
}
if ((${#STARTED[@]})); then
  ok=0
  for _ in $(seq 1 200); do
    cpid="$(pidfile_pid "$CTS_PIDFILE")"; ppid_="$(pidfile_pid "$PEBBLE_PIDFILE")"
    if [[ -n "$cpid" && -n "$ppid_" ]]; then
      alive "$cpid" || fail "pebble-challtestsrv (pid $cpid) exited"
      alive "$ppid_" || fail "pebble (pid $ppid_) exited"
      if cts_up "$cpid" && pebble_up; then ok=1; break; fi
    fi
    sleep 0.1
  done
  ((ok)) || fail "not answering after 20 s: https://$ACME_ADDR/dir, https://$MGMT_ADDR/roots/0, http://$CTS_MGMT_ADDR, DNS $DNS_ADDR"
fi

# ---------------------------------------------------------------------------
# 5. What the tests read.
# ---------------------------------------------------------------------------
cat >"$DIR/env.tmp" <<EOF
PEBBLE_DIRECTORY=https://$ACME_ADDR/dir
PEBBLE_CA_BUNDLE=$DIR/api-ca.pem
PEBBLE_MANAGEMENT=https://$MGMT_ADDR
CHALLTESTSRV=http://$CTS_MGMT_ADDR
EOF
if cmp -s "$DIR/env.tmp" "$DIR/env"; then rm -f "$DIR/env.tmp"; else
  chmod 0644 "$DIR/env.tmp"; mv -f "$DIR/env.tmp" "$DIR/env"; fi

if ((${#STARTED[@]})); then what="started ${STARTED[*]}"; else what="already running"; fi
log "ready in $((SECONDS - T0))s ($what): pebble pid $(pidfile_pid "$PEBBLE_PIDFILE")," \
    "challtestsrv pid $(pidfile_pid "$CTS_PIDFILE"), env $DIR/env"
