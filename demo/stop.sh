#!/bin/bash
# Stops the demo server started by demo/start.sh (make demo-stop).
# Only the server whose pid is in demo/run/logs/httpd.pid is stopped.
set -euo pipefail

demo=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=$demo/run
httpd=${RW_HTTPD:-/usr/sbin/apache2}
pidfile=$run/logs/httpd.pid
conf=$run/conf/httpd.conf

cleanup_tmpsite() {
    if [ -s "$run/tmpsite.path" ]; then
        tmpsite=$(cat "$run/tmpsite.path")
        case $tmpsite in /tmp/rw-demo-site.*) rm -rf "$tmpsite" ;; esac
        rm -f "$run/tmpsite.path"
    fi
}

if ! [ -s "$pidfile" ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "demo: not running"
    rm -f "$pidfile"
    cleanup_tmpsite
    exit 0
fi

pid=$(cat "$pidfile")
if [ -f "$conf" ]; then
    "$httpd" -f "$conf" -k stop 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
else
    kill -TERM "$pid" 2>/dev/null || true
fi
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "demo: server (pid $pid) did not stop after 10s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile"
cleanup_tmpsite
echo "demo: stopped (pid $pid)"
