#!/usr/bin/env bash
# Build the local test images used by leo_tasks' tests and demo.
#
# There is no registry and nothing can be pulled, so every image is built
# FROM scratch around Debian's static busybox (package busybox-static), which
# is copied into a temporary build context together with tests/images/<name>/.
#
# Idempotent and fast: every image carries a label with a hash of all inputs
# (Dockerfiles, scripts, busybox binary, this script); when all tags already
# carry the current hash nothing is built. Otherwise docker's build cache
# makes a rebuild take a second or two.
#
#   leo-test-web:v1 / :v2        busybox httpd on :5000, no HEALTHCHECK
#   leo-test-web:healthy         VERSION=healthy, with HEALTHCHECK (1s/2s/3 retries)
#   leo-test-web:broken          prints "broken release: refusing to start" to stderr, exits 3
#   leo-test-web:slow            httpd starts only after 4 s, no HEALTHCHECK
#   leo-test-web:slow-healthy    like :slow, with a HEALTHCHECK and a 15 s start period
#   leo-test-worker:v1 / :v2     prints "worker VERSION started", idles, exits on TERM
#
# Usage: scripts/build-test-images.sh [--force]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_DIR="$(cd "$SCRIPT_DIR/../tests/images" && pwd)"
BUSYBOX=/bin/busybox
LABEL=org.leo-tasks.test-inputs
FORCE=0
[[ "${1:-}" == --force ]] && FORCE=1

log() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }

# tag | context dir | docker build args
BUILDS=(
  "leo-test-web:v1|web|--target web --build-arg VERSION=v1"
  "leo-test-web:v2|web|--target web --build-arg VERSION=v2"
  "leo-test-web:healthy|web|--target healthy --build-arg VERSION=healthy"
  "leo-test-web:broken|web|--target web --build-arg VERSION=broken --build-arg MODE=broken"
  "leo-test-web:slow|web|--target web --build-arg VERSION=slow --build-arg MODE=slow"
  "leo-test-web:slow-healthy|web|--target slow-healthy --build-arg VERSION=slow --build-arg MODE=slow"
  "leo-test-worker:v1|worker|--build-arg VERSION=v1"
  "leo-test-worker:v2|worker|--build-arg VERSION=v2"
)

docker info >/dev/null 2>&1 || die "docker engine not reachable (run scripts/provision-testhost.sh)"
[[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)" == "install ok installed" ]] \
  || die "busybox-static is not installed (a dynamic busybox would not run FROM scratch)"

# Hash of everything that goes into the images (paths + contents).
inputs_hash="$(
  {
    (cd "$IMAGES_DIR" && find web worker -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    sha256sum "$BUSYBOX" "${BASH_SOURCE[0]}" | cut -d' ' -f1
    printf '%s\n' "${BUILDS[@]}"
  } | sha256sum | cut -d' ' -f1
)"

tags=()
for b in "${BUILDS[@]}"; do tags+=("${b%%|*}"); done

if ((!FORCE)); then
  current="$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "${tags[@]}" 2>/dev/null || true)"
  if [[ "$(printf '%s\n' "$current" | grep -cxF "$inputs_hash" || true)" == "${#tags[@]}" ]]; then
    log "up to date: ${tags[*]}"
    exit 0
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
t0=$(date +%s%N)

# One build context per image directory: its files plus the busybox binary.
# Modes are set here so the images do not depend on git's executable bits.
for ctx in web worker; do
  mkdir -p "$work/$ctx"
  cp -R "$IMAGES_DIR/$ctx/." "$work/$ctx/"
  cp "$BUSYBOX" "$work/$ctx/busybox"
  chmod 0755 "$work/$ctx/busybox"
  find "$work/$ctx" -name '*.sh' -exec chmod 0755 {} +
  if [[ -d "$work/$ctx/www/cgi-bin" ]]; then chmod 0755 "$work/$ctx/www/cgi-bin/"*; fi
done

for b in "${BUILDS[@]}"; do
  IFS='|' read -r tag ctx args <<<"$b"
  # shellcheck disable=SC2086  # args is a list of words on purpose
  if ! DOCKER_BUILDKIT=0 docker build -q --label "$LABEL=$inputs_hash" $args \
        -t "$tag" "$work/$ctx" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    die "docker build of $tag failed"
  fi
done

# Images replaced by this build are left dangling: drop ours (only unused ones).
docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true

ms=$((($(date +%s%N) - t0) / 1000000))
log "built ${#tags[@]} images in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s: ${tags[*]}"
