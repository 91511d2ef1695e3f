#!/usr/bin/env bash
# The README's first command. Run as root on Debian 12, from anywhere:
#
#   bash scripts/demo.sh
#
# Turns THIS machine into a deploy host (scripts/provision-testhost.sh: docker,
# compose v2, nginx, sshd on 127.0.0.1:2222, test images), installs leo into
# .venv, then uses leo exactly as you would against a server, on an ordinary
# compose project (examples/shop: service `app` built from a Dockerfile,
# `ports: ["8000:8000"]`, a container_name, a worker), deployed unchanged:
#   leo setup -> leo create --web-service app --port 8000 -> leo deploy --build
#   -> leo deploy --build of the other release (v1 <-> v2) while wrk sends
#   traffic through nginx.
# It prints the commands it runs (`+ leo ...`), the responses before and after,
# the failed requests per client type and the rotate time of each phase.
#
# Re-runnable: each run deploys the release that is NOT being served, so runs
# alternate v1 -> v2 -> v1 ... Takes well under a minute once provisioned.
#
# Last line: `DEMO OK: ...` (exit 0), or `DEMO FAILED: ...` (exit 1) when a step
# failed or a `Connection: close` client saw a failed request. Keep-alive
# clients are reported but do not fail the demo: a keep-alive connection that
# nginx closes at a reload can lose a request in any nginx setup (see the
# README and bench/rotate_under_load.py).
#
# Environment: LEO_DEMO_HOME (default /var/lib/leo-testhost/demo-home) is the
# HOME leo runs with, so your own ~/.ssh is never read or written.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTHOST_DIR="${LEO_TESTHOST_DIR:-/var/lib/leo-testhost}"
H="${LEO_DEMO_HOME:-$TESTHOST_DIR/demo-home}"
APP=shop
DOMAIN=shop.localhost
WEB=app                             # the project's web service (leo create --web-service)
HOST=testhost                       # defined in $H/.ssh/config: 127.0.0.1:2222
APP_DIR=/home/leo-deploy/apps/$APP  # where leo keeps the app on the host
WRK_CONNECTIONS=10                  # per client type; both run at once
WRK_TIMEOUT=5                       # a response slower than this counts as failed
T0=$SECONDS

section() { printf '\n=== %s\n' "$*"; }
fail() {
  printf '\nDEMO FAILED: %s\n' "$*"
  exit 1
}
# Show a command the way a reader would type it, then run it.
show() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
}
leo() {
  show leo "$@"
  # cd: no leo.yaml from wherever the demo was started.
  (cd "$H" && HOME="$H" "$REPO/.venv/bin/leo" "$@")
}
# GET / through nginx on this machine, as a browser asking for shop.localhost.
fetch() { curl --noproxy '*' -sS --max-time 5 -H "Host: $DOMAIN" http://127.0.0.1/; }
# IDs (12 hex) of the app's running web containers.
web_containers() {
  docker ps --format '{{.ID}}' --filter "label=com.docker.compose.project=$APP" \
    --filter "label=com.docker.compose.service=$WEB"
}
# The app's answer through nginx, once it comes from one of the app's own
# containers (its page names the container's hostname = short ID). An unknown
# Host header would be answered by nginx's default server, i.e. another app.
# Retried for up to 5 s: `nginx -s reload` returns before the new workers run.
served_body() {
  local body host i
  for i in $(seq 1 20); do
    body="$(fetch 2>/dev/null || true)"
    host="$(printf '%s\n' "$body" | sed -n 's/^host //p')"
    if [[ -n "$host" ]] && web_containers | grep -qx "$host"; then
      printf '%s\n' "$body"
      return 0
    fi
    sleep 0.25
  done
  printf '%s\n' "$body"
  return 1
}
field() { awk -F= -v k="$1" '$1 == k { print substr($0, length(k) + 2) }' "$2"; }

[[ $EUID -eq 0 ]] || fail "run as root (provisioning installs packages and starts daemons)"

WORK="$(mktemp -d /tmp/leo-demo.XXXXXX)"
WRK_PIDS=()
cleanup() {
  local pid
  for pid in "${WRK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# -----------------------------------------------------------------------------
section "1. Provision this machine as the deploy host (idempotent)"
show bash scripts/provision-testhost.sh
bash "$REPO/scripts/provision-testhost.sh" || fail "scripts/provision-testhost.sh failed"

section "2. Install leo into .venv"
if [[ ! -x "$REPO/.venv/bin/python" ]]; then
  show python3 -m venv .venv
  python3 -m venv "$REPO/.venv" || fail "python3 -m venv failed (apt-get install python3-venv?)"
fi
if ! "$REPO/.venv/bin/leo" --version >/dev/null 2>&1; then
  show .venv/bin/pip install -q -e .
  "$REPO/.venv/bin/pip" install -q --disable-pip-version-check -e "$REPO" || fail "pip install failed"
fi
"$REPO/.venv/bin/leo" --version

section "3. A private HOME for leo: $H"
# leo reads ~/.ssh/config and ~/.ssh/known_hosts like ssh does. The demo gets
# its own copies of the test host's key and pinned host key, so your ~/.ssh is
# left alone. Refreshed on every run (provisioning may have replaced them).
install -d -m 0700 "$H" "$H/.ssh"
install -m 0600 "$TESTHOST_DIR/id_ed25519" "$H/.ssh/id_ed25519"
install -m 0644 "$TESTHOST_DIR/id_ed25519.pub" "$H/.ssh/id_ed25519.pub"
install -m 0644 "$TESTHOST_DIR/known_hosts" "$H/.ssh/known_hosts"
sed "s#^\([[:space:]]*IdentityFile[[:space:]]\+\).*#\1$H/.ssh/id_ed25519#" \
  "$TESTHOST_DIR/ssh_config" >"$H/.ssh/config.tmp"
chmod 0600 "$H/.ssh/config.tmp"
mv -f "$H/.ssh/config.tmp" "$H/.ssh/config"
sed 's/^/    /' "$H/.ssh/config"

# -----------------------------------------------------------------------------
section "4. Prepare the host for leo (user leo-deploy, sudoers, nginx include)"
leo setup --host "root@$HOST" --pubkey "$H/.ssh/id_ed25519.pub" || fail "leo setup failed"

section "5. The project: examples/shop, a compose file written for local development"
# A copy, so the demo can change its VERSION; busybox goes into the build context
# (nothing can be pulled on this machine: see examples/shop/Dockerfile).
PROJECT="$WORK/shop"
cp -r "$REPO/examples/shop" "$PROJECT"
cp /bin/busybox "$PROJECT/busybox"
COMPOSE="$PROJECT/docker-compose.yml"
sed 's/^/    /' "$COMPOSE"

section "6. Create the app '$APP' (skipped if it exists) and make sure it is served"
if [[ -e "$APP_DIR/docker-compose.yml" ]]; then
  echo "app $APP exists ($APP_DIR)"
else
  leo create --app "$APP" --host "$HOST" --compose "$COMPOSE" --web-service "$WEB" \
    --port 8000 --domain "$DOMAIN" || fail "leo create failed"
fi
if [[ -z "$(web_containers)" ]] || ! served_body >/dev/null; then
  # First deploy (or a stopped app, or nginx not pointing at it): builds the
  # project here, sends the images to the host and starts it.
  leo deploy --app "$APP" --host "$HOST" --compose "$COMPOSE" --build \
    || fail "first deploy (leo deploy --build) failed"
fi
BEFORE="$(served_body)" || fail "nginx does not serve $DOMAIN from the app's container: $BEFORE"

# Deploy whichever release is not being served: v1 -> v2, or back.
case "$BEFORE" in
  "shop v1"*) FROM=v1 TO=v2 ;;
  "shop v2"*) FROM=v2 TO=v1 ;;
  *) fail "unexpected answer from the app: $BEFORE" ;;
esac

# -----------------------------------------------------------------------------
section "7. Deploy shop $TO (built here) while wrk sends traffic"
echo "$TO" >"$PROJECT/VERSION"
echo "the new release: $PROJECT/VERSION = $TO, same compose file"

echo "load: 2 wrk runs at once through nginx (http://127.0.0.1/, Host: $DOMAIN):"
echo "  'Connection: close' clients (a new connection per request) and keep-alive clients,"
echo "  $WRK_CONNECTIONS connections each; failed = status >= 400, a connect/read/write error,"
echo "  or a response slower than ${WRK_TIMEOUT}s"
for client in close keepalive; do
  # Upper bound 120 s; stopped with SIGTERM 1 s after the deploy ends.
  "$REPO/.venv/bin/python" "$REPO/bench/wrkload.py" --client "$client" \
    --host-header "$DOMAIN" --duration 120 --connections "$WRK_CONNECTIONS" --threads 1 \
    --timeout "$WRK_TIMEOUT" >"$WORK/$client.txt" 2>"$WORK/$client.err" &
  WRK_PIDS+=("$!")
done
sleep 1 # traffic before the deploy starts
for pid in "${WRK_PIDS[@]}"; do
  kill -0 "$pid" 2>/dev/null || fail "wrk did not start: $(cat "$WORK"/*.err)"
done

deploy_rc=0
D0=$(date +%s%N)
leo deploy --app "$APP" --host "$HOST" --compose "$COMPOSE" --build \
  2> >(tee "$WORK/deploy.log" >&2) || deploy_rc=$?
D1=$(date +%s%N)
sleep 1 # traffic after the deploy ends
for pid in "${WRK_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
wrk_rc=0
for pid in "${WRK_PIDS[@]}"; do wait "$pid" || wrk_rc=$?; done
WRK_PIDS=()
sleep 0.2 # let the tee of leo's stderr flush
AFTER="$(served_body || true)"

# -----------------------------------------------------------------------------
section "8. Results"
ms=$(((D1 - D0) / 1000000))
printf 'deployed:   %s %s -> %s, built by leo deploy --build (exit %s, %d.%02ds)\n' \
  "$APP" "$FROM" "$TO" "$deploy_rc" $((ms / 1000)) $((ms % 1000 / 10))
printf 'before:     %s\n' "$(printf '%s' "$BEFORE" | tr '\n' ' ')"
printf 'after:      %s\n' "$(printf '%s' "$AFTER" | tr '\n' ' ')"
echo
printf '%-26s %9s %7s %8s %7s %5s %6s %8s %7s\n' \
  "clients" "requests" "req/s" "non-2xx" "connect" "read" "write" "timeout" "FAILED"
for client in close keepalive; do
  f="$WORK/$client.txt"
  if [[ ! -s "$f" ]]; then
    printf '%-26s no result: %s\n' "$client" "$(tr '\n' ' ' <"$WORK/$client.err")"
    continue
  fi
  label="Connection: close"
  [[ $client == keepalive ]] && label="keep-alive"
  printf '%-26s %9s %7s %8s %7s %5s %6s %8s %7s\n' "$label" \
    "$(field requests "$f")" "$(field rate "$f")" "$(field status "$f")" \
    "$(field connect "$f")" "$(field read "$f")" "$(field write "$f")" \
    "$(field timeout "$f")" "$(field failed "$f")"
done
echo
echo "rotate phases (seconds, from leo's step lines above):"
"$REPO/.venv/bin/python" "$REPO/bench/leophases.py" "$WORK/deploy.log" \
  "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))" || true
echo
echo "(demo took $((SECONDS - T0))s. The app stays up: curl -H 'Host: $DOMAIN' http://127.0.0.1/"
echo " Repeated measurements, with a naive recreate and a bare nginx reload to compare:"
echo " python3 bench/rotate_under_load.py --rounds 3)"

# -----------------------------------------------------------------------------
close_requests="$(field requests "$WORK/close.txt" 2>/dev/null || true)"
close_failed="$(field failed "$WORK/close.txt" 2>/dev/null || true)"
ka_failed="$(field failed "$WORK/keepalive.txt" 2>/dev/null || true)"
((deploy_rc == 0)) || fail "leo deploy exited $deploy_rc (see its lines above)"
((wrk_rc == 0)) && [[ -n "$close_failed" && -n "$ka_failed" ]] \
  || fail "wrk did not report totals: $(cat "$WORK"/*.err)"
[[ "$AFTER" == "shop $TO"* ]] \
  || fail "after the deploy nginx serves '$(printf '%s' "$AFTER" | head -n1)', not shop $TO"
((close_requests > 0)) || fail "the Connection: close clients got no responses at all"
if ((close_failed > 0)); then
  fail "rotate $FROM -> $TO under load: $close_failed of $close_requests requests failed (Connection: close)"
fi
echo
if ((ka_failed > 0)); then
  echo "note: the keep-alive clients saw $ka_failed failed request(s); not counted against the"
  echo "      demo: nginx closes keep-alive connections at every reload (compare:"
  echo "      python3 bench/rotate_under_load.py, scenario 'nginx -s reload')"
fi
echo "DEMO OK: rotate $FROM -> $TO under load, $close_requests requests, 0 failed (Connection: close)"
