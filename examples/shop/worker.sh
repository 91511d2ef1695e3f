#!/bin/sh
# The shop's background worker: says which version it runs, then idles.
echo "worker $(cat /VERSION) started"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
