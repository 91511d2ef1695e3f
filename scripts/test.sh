#!/usr/bin/env bash
# The README's test command (run as root on Debian 12, from anywhere):
#   bash scripts/test.sh [pytest args]
# Provisions this machine as the local test host (docker engine, compose v2,
# nginx, sshd on 127.0.0.1:2222, test images), installs leo_tasks into .venv,
# checks lint, then runs the unit and end-to-end tests against the real host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/provision-testhost.sh

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
# -p no:cacheprovider: CI runs from a read-only-ish fresh clone; no cache dirs.
exec .venv/bin/python -m pytest -p no:cacheprovider -q -ra "$@"
