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
pytest=(.venv/bin/python -m pytest -p no:cacheprovider -q -ra --durations=25)
status=0
if (($#)); then
  "${pytest[@]}" "$@" || status=$?
else
  # The fleet scenario runs on its own hosts (own dockerd, sshd, nginx), so it runs
  # beside the single-host tests instead of after them: the suite stays well under
  # 15 minutes. Its output is printed when both are done.
  fleet_log="$(mktemp /tmp/leo-fleet-tests.XXXXXX)"
  "${pytest[@]}" tests/fleet >"$fleet_log" 2>&1 &
  fleet_pid=$!
  "${pytest[@]}" --ignore=tests/fleet || status=$?
  fleet_status=0
  wait "$fleet_pid" || fleet_status=$?
  echo "---- fleet tests (tests/fleet, on scripts/fleet.sh's hosts) ----"
  cat "$fleet_log"
  rm -f "$fleet_log"
  ((status)) || status=$fleet_status
fi
if [[ "${LEO_FLEET_KEEP:-0}" != 1 ]]; then
  bash scripts/fleet.sh down >/dev/null || echo "[test] fleet.sh down failed" >&2
fi
exit "$status"
