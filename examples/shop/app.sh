#!/bin/sh
# The shop's web app: answers with its version and the container's hostname.
# busybox httpd as PID 1 would ignore SIGTERM (docker stop would wait 10 s):
# this shell stops it and exits at once.
mkdir -p /www
printf 'shop %s\nhost %s\n' "$(cat /VERSION)" "$(hostname)" >/www/index.html
trap 'kill -TERM "$child" 2>/dev/null; exit 0' TERM INT
httpd -f -p 8000 -h /www &
child=$!
wait "$child"
