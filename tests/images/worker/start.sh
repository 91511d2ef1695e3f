#!/bin/sh
# PID 1 of leo-test-worker: announce, then idle until SIGTERM/SIGINT.
# `sleep 1 & wait` rather than a foreground sleep so a trapped signal is
# handled at once instead of after the current sleep.
VERSION=$(cat /etc/leo-test/version)
trap 'echo "worker $VERSION stopping"; exit 0' TERM INT
echo "worker $VERSION started"
while :; do
  sleep 1 &
  wait $!
done
