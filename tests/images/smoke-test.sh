#!/usr/bin/env bash
# Smoke test of the images built by scripts/build-test-images.sh: runs each one
# with `docker run`, checks it over HTTP on the container's bridge address (a
# container this script started), checks stop behaviour, removes the containers.
# Usage: bash tests/images/smoke-test.sh      (exit 0 = all good)
set -euo pipefail

pass=0 fail=0
# Every container of this run carries this label, so cleanup removes exactly
# the containers this run started (run() is called in $(...) subshells).
RUN_LABEL="org.leo-tasks.smoke=$$-$RANDOM"
tmp="$(mktemp -d)"
cleanup() {
  local ids
  ids="$(docker ps -aq --filter "label=$RUN_LABEL")"
  # shellcheck disable=SC2086  # one id per word
  [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ok()  { pass=$((pass + 1)); printf '  ok    %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf '  FAIL  %s\n' "$*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

run() {  # run [docker run args...] IMAGE -> prints container id
  docker run -d --label "$RUN_LABEL" "$@"
}
ip_of() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
wait_http() {  # wait_http IP SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -m 1 -o /dev/null "http://$1:5000/" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
stop_time_ms() {  # docker stop, print elapsed ms
  local t0; t0=$(date +%s%N)
  docker stop "$1" >/dev/null
  echo $((($(date +%s%N) - t0) / 1000000))
}
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }

# Env values to round-trip byte for byte through /cgi-bin/env.
declare -A VALS=(
  [SPACES]='  a  b  '
  [NEWLINES]=$'line1\nline2\n'
  [EQUALS]='k=v=w'
  [QUOTES]=$'it\'s "quoted" $HOME `id` \\n \\'
  [UNICODE]='héllo ✓ 日本'
  [EMPTY]=''
  [GLOB]='*?[a]'
  [DASH]='-x'
)
envargs=()
for k in "${!VALS[@]}"; do envargs+=(-e "$k=${VALS[$k]}"); done

for v in v1 v2; do
  echo "leo-test-web:$v"
  cid="$(run "${envargs[@]}" "leo-test-web:$v")"
  ip="$(ip_of "$cid")"
  host="$(docker inspect -f '{{.Config.Hostname}}' "$cid")"
  check "answers on $ip:5000" wait_http "$ip" 5
  body="$(curl -fsS "http://$ip:5000/")"
  check "GET / has 'leo-test-web $v'" grep -qF "leo-test-web $v" <<<"$body"
  check "GET / has hostname $host" grep -qF "$host" <<<"$body"
  check "/cgi-bin/version = $v" test "$(curl -fsS "http://$ip:5000/cgi-bin/version")" = "$v"
  check "/cgi-bin/host = $host" test "$(curl -fsS "http://$ip:5000/cgi-bin/host")" = "$host"
  for k in "${!VALS[@]}"; do
    printf '%s' "${VALS[$k]}" >"$tmp/want"
    code="$(curl -sS -o "$tmp/got" -w '%{http_code} %{content_type}' "http://$ip:5000/cgi-bin/env?$k")"
    check "/cgi-bin/env?$k exact bytes ($code)" \
      bash -c '[[ "$1" == "200 text/plain" ]] && cmp -s "$2" "$3"' _ "$code" "$tmp/want" "$tmp/got"
  done
  code="$(curl -sS -o /dev/null -w '%{http_code}' "http://$ip:5000/cgi-bin/env?NOT_SET_ANYWHERE")"
  check "/cgi-bin/env of unset var -> 404 ($code)" test "$code" = 404
  code="$(curl -sS -o /dev/null -w '%{http_code}' "http://$ip:5000/cgi-bin/env?a;id")"
  check "/cgi-bin/env bad name -> 400 ($code)" test "$code" = 400
  check "no HEALTHCHECK" test "$(health "$cid")" = none
  ms="$(stop_time_ms "$cid")"
  check "docker stop took ${ms}ms (< 2000)" test "$ms" -lt 2000
  check "exit code 0 after stop" test "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" = 0
done

echo "leo-test-web:healthy"
cid="$(run leo-test-web:healthy)"
ip="$(ip_of "$cid")"
check "answers" wait_http "$ip" 5
check "/cgi-bin/version = healthy" test "$(curl -fsS "http://$ip:5000/cgi-bin/version")" = healthy
st=""
for _ in $(seq 1 50); do st="$(health "$cid")"; [[ "$st" == healthy ]] && break; sleep 0.2; done
check "health = healthy ($st)" test "$st" = healthy
ms="$(stop_time_ms "$cid")"
check "docker stop took ${ms}ms (< 2000)" test "$ms" -lt 2000

echo "leo-test-web:broken"
cid="$(run leo-test-web:broken)"
check "exit code 3" test "$(docker wait "$cid")" = 3
check "stderr says refusing to start" \
  bash -c 'docker logs "$1" 2>&1 >/dev/null | grep -qxF "broken release: refusing to start"' _ "$cid"

echo "leo-test-web:slow"
t0=$(date +%s%N)
cid="$(run leo-test-web:slow)"
ip="$(ip_of "$cid")"
sleep 2
check "not answering after 2 s" bash -c '! curl -fsS -m 1 -o /dev/null "http://$1:5000/" 2>/dev/null' _ "$ip"
check "answers within 8 s" wait_http "$ip" 8
ms=$((($(date +%s%N) - t0) / 1000000))
check "first answer after ${ms}ms (>= 4000)" test "$ms" -ge 4000
cid="$(run leo-test-web:slow)"
sleep 1
ms="$(stop_time_ms "$cid")"
check "docker stop while still sleeping took ${ms}ms (< 2000)" test "$ms" -lt 2000

echo "leo-test-web:slow-healthy"
cid="$(run leo-test-web:slow-healthy)"
seen=""
for _ in $(seq 1 60); do
  st="$(health "$cid")"; [[ "$seen" == *"$st"* ]] || seen="$seen $st"
  [[ "$st" == healthy ]] && break
  sleep 0.2
done
check "health went${seen} (never unhealthy)" bash -c '[[ "$1" == *healthy && "$1" != *unhealthy* ]]' _ "$seen"

for v in v1 v2; do
  echo "leo-test-worker:$v"
  cid="$(run "leo-test-worker:$v")"
  sleep 0.5
  check "logs 'worker $v started'" bash -c 'docker logs "$1" 2>&1 | grep -qxF "worker $2 started"' _ "$cid" "$v"
  check "still running" test "$(docker inspect -f '{{.State.Running}}' "$cid")" = true
  ms="$(stop_time_ms "$cid")"
  check "docker stop took ${ms}ms (< 2000)" test "$ms" -lt 2000
  check "exit code 0 after stop" test "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" = 0
done

echo
echo "$pass passed, $fail failed"
((fail == 0))
