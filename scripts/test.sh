#!/usr/bin/env bash
# The README's test command (run as root on Debian 12, from anywhere):
#   bash scripts/test.sh [pytest args]
# Provisions this machine as the local test host (docker engine, compose v2,
# nginx, sshd on 127.0.0.1:2222, test images), builds and starts the fleet of
# three real hosts behind a load balancer (scripts/fleet.sh), installs
# leo_tasks into .venv, checks lint, then runs the unit, end-to-end and fleet
# tests against the real hosts. The fleet is torn down at the end (its host
# image stays cached); LEO_FLEET_KEEP=1 leaves it up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/provision-testhost.sh
# Builds the host image once (about 30 s); the fleet tests start from fresh hosts.
bash scripts/fleet.sh up 3

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
# -p no:cacheprovider: CI runs from a read-only-ish fresh clone; no cache dirs.
pytest=(.venv/bin/python -m pytest -p no:cacheprovider -q -ra --durations=15)
status=0
if (($#)); then
  "${pytest[@]}" "$@" || status=$?
else
  # Most e2e tests wait on the host (health checks, drains, timeouts), each with its
  # own app, so two runs share the test host side by side, with the fleet scenario
  # (its own hosts) beside them: the suite stays well under 15 minutes. Each output
  # is printed when it is done.
  #
  # Shard A holds the tests that share host-wide state besides apps: leo-deploy's
  # crontab (lifecycle, letsencrypt), Pebble (letsencrypt, json_output). Shard B is
  # every other e2e file (new files land there) and the unit tests. The files that
  # change the host for everyone (setup, implode, a deliberately broken nginx
  # site written from outside, sshd relays, a second nginx) run afterwards, alone.
  exclusive=(test_connections.py test_nginx_safety.py test_rotate.py test_setup.py test_zz_implode.py)
  # (The split also balances them: about 7 minutes each on this machine.)
  shard_a=(test_env.py test_existing_projects.py test_json_output.py
    test_letsencrypt.py test_lifecycle.py test_rotate_safety.py)
  ignore_for_b=()
  for f in "${exclusive[@]}" "${shard_a[@]}"; do ignore_for_b+=("--ignore=tests/e2e/$f"); done
  logs="$(mktemp -d /tmp/leo-tests.XXXXXX)"
  "${pytest[@]}" tests/fleet >"$logs/fleet" 2>&1 &
  fleet_pid=$!
  "${pytest[@]}" "${shard_a[@]/#/tests/e2e/}" >"$logs/a" 2>&1 &
  a_pid=$!
  "${pytest[@]}" tests/e2e tests/unit "${ignore_for_b[@]}" >"$logs/b" 2>&1 &
  b_pid=$!
  statuses=()
  for pid in "$a_pid" "$b_pid" "$fleet_pid"; do
    code=0
    wait "$pid" || code=$?
    statuses+=("$code")
  done
  for part in a b fleet; do
    echo "---- tests: ${part} ----"
    cat "$logs/$part"
  done
  echo "---- tests: e2e files that change the host for everyone, alone ----"
  "${pytest[@]}" "${exclusive[@]/#/tests/e2e/}" || status=$?
  for code in "${statuses[@]}"; do ((status)) || status=$code; done
  rm -rf "$logs"
fi
if [[ "${LEO_FLEET_KEEP:-0}" != 1 ]]; then
  bash scripts/fleet.sh down >/dev/null || echo "[test] fleet.sh down failed" >&2
fi
exit "$status"
