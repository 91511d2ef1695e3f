#!/bin/sh
# PID 1 of leo-test-web.
# busybox httpd run directly as PID 1 ignores SIGTERM (it installs no handler,
# and the kernel drops unhandled signals sent to a namespace's PID 1), so
# `docker stop` would wait its 10 s timeout and SIGKILL it (exit 137). This
# shell traps TERM/INT, stops httpd and exits 0 at once.
VERSION=$(cat /etc/leo-test/version)
MODE=$(cat /etc/leo-test/mode)
child=
stop() {
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT

case "$MODE" in
  broken)
    echo "broken release: refusing to start" >&2
    exit 3
    ;;
  slow)
    # Not ready for 4 s (health gating tests); still stops promptly.
    sleep 4 &
    child=$!
    wait "$child"
    ;;
esac

printf 'leo-test-web %s\nhost %s\n' "$VERSION" "$(hostname)" >/www/index.html
httpd -f -p 5000 -h /www &
child=$!
wait "$child"
exit $?
