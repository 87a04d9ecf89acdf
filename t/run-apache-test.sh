#!/bin/bash
# Runs the Apache::Test suite (t/*.t) against Debian's /usr/sbin/apache2
# with OUR mod_rewrite.so, from a private copy of t/ in a temporary
# directory, and passes the TAP output through.
#
#   t/run-apache-test.sh [t/TEST options and test files, e.g. t/engine.t -v]
#
# Environment:
#   RW_MODULE   module under test (default: <repo>/.libs/mod_rewrite.so);
#               RW_MODULE=/usr/lib/apache2/modules/mod_rewrite.so tests
#               the stock module
#   RW_TEST_TIMEOUT  seconds before the run is stopped (default 900)
#   RW_KEEP_TMP=1    keep the temporary tree (its path is printed)
#
# Apache::Test refuses to run as root, so as root the copy is owned by
# and run as `nobody`; as another user it runs as that user.  The copy
# is removed afterwards and the test server is always stopped (by
# t/TEST itself, else by `t/TEST -stop`, else by its pid file).
# Exit status: that of t/TEST (non-zero when a test failed), 2 when the
# suite could not be run at all.

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
module=${RW_MODULE:-$top/.libs/mod_rewrite.so}
timeout_s=${RW_TEST_TIMEOUT:-900}

die() { echo "run-apache-test: $*" >&2; exit 2; }

[ -f "$module" ] || die "module under test not found: $module (run make, or set RW_MODULE)"
command -v perl >/dev/null || die "perl not found"
perl -MApache::TestRun -e1 2>/dev/null || die "Apache::Test not installed (apt-get install libapache2-mod-perl2)"
[ -x /usr/sbin/apache2 ] || [ -n "${RW_HTTPD:-}" ] || die "/usr/sbin/apache2 not found (apt-get install apache2 apache2-dev)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rw-apache-test.XXXXXX") || die "mktemp failed"

if [ "$(id -u)" = 0 ]; then
    run_user=nobody
    as_user=(runuser -u "$run_user" --)
else
    run_user=$(id -un)
    as_user=()
fi

stopped=0
cleanup() {
    local rc=$?
    if [ "$stopped" = 0 ]; then
        stopped=1
        if [ -x "$tmp/t/TEST" ] && [ -f "$tmp/t/conf/apache_test_config.pm" ]; then
            (cd "$tmp" && "${as_user[@]}" env HOME="$tmp" perl t/TEST -stop) >/dev/null 2>&1 || true
        fi
        pidfile="$tmp/t/logs/httpd.pid"
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile" 2>/dev/null || true)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
                for _ in 1 2 3 4 5 6 7 8 9 10; do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.5
                done
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        if [ "${RW_KEEP_TMP:-0}" = 1 ]; then
            echo "run-apache-test: kept $tmp" >&2
        else
            rm -rf "$tmp"
        fi
    fi
    return $rc
}
child=
on_signal() {
    if [ -n "$child" ]; then
        kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 -- "-$child" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL -- "-$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

# --- copy the test tree (sources only, not generated files or t/diff)
mkdir -p "$tmp/t" "$tmp/modules"
(cd "$here" && tar -cf - \
    --exclude=./diff --exclude=./unit --exclude=./logs --exclude=./TEST \
    --exclude=./conf/httpd.conf --exclude=./conf/extra.conf \
    --exclude=./conf/apache_test_config.pm --exclude=./conf/rw-inherit.conf \
    --exclude=./conf/mime.types --exclude=./htdocs/index.html \
    --exclude='./*.t.orig' . ) | (cd "$tmp/t" && tar -xf -) \
    || die "copying $here failed"
cp "$module" "$tmp/modules/mod_rewrite.so" || die "copying $module failed"
# the tests that compare with stock find it with tools/stock-module (which
# uses tools/rwharness.py)
mkdir -p "$tmp/tools"
cp "$top/tools/stock-module" "$top/tools/rwharness.py" "$tmp/tools/" ||
    die "copying tools/stock-module failed"
chmod 755 "$tmp/modules/mod_rewrite.so"
find "$tmp/t/htdocs" -name '*.cgi' -exec chmod 755 {} +
chmod -R u+rwX,go+rX "$tmp"
if [ "$(id -u)" = 0 ]; then
    id "$run_user" >/dev/null 2>&1 || die "user $run_user does not exist"
    chown -R "$run_user:$(id -gn "$run_user")" "$tmp"
fi
chmod 755 "$tmp"

echo "# run-apache-test: module $module, user $run_user, tree $tmp"

# --- generate t/TEST, then run it
cd "$tmp" || die "cd $tmp"
"${as_user[@]}" env HOME="$tmp" RW_MODULE="$tmp/modules/mod_rewrite.so" \
    perl t/TEST.PL >/dev/null || die "perl t/TEST.PL failed"

port_opt=()
[ -n "${APACHE_TEST_PORT:-}" ] || port_opt=(-port select)

# in the background + wait, so that a signal to this script is acted on
# at once (the EXIT trap then stops the server and removes the copy)
# (setsid: the run gets a process group of its own, so that on a signal
# everything it started can be stopped by that group's id)
setsid --wait "${as_user[@]}" env HOME="$tmp" APACHE_TEST_NO_COLOR=1 \
    timeout --kill-after=30 "$timeout_s" \
    perl t/TEST "${port_opt[@]}" "$@" </dev/null 2>&1 &
child=$!
wait "$child"
rc=$?
child=
[ $rc = 124 ] && echo "run-apache-test: timed out after ${timeout_s}s" >&2
if [ $rc != 0 ] && [ -d "$tmp/t/logs" ]; then
    # keep the server's logs of a failed run, and show its complaints
    saved=$(mktemp -d "${TMPDIR:-/tmp}/rw-apache-test-logs.XXXXXX") &&
        cp -a "$tmp/t/logs/." "$saved/" 2>/dev/null &&
        echo "run-apache-test: FAILED (exit $rc); server logs saved in $saved" >&2
    if [ -f "$tmp/t/logs/error_log" ]; then
        echo "run-apache-test: last notices/warnings/errors of t/logs/error_log:" >&2
        grep -Ev '\[[a-z_0-9]+:(trace[1-8]|debug|info)\]' "$tmp/t/logs/error_log" | tail -n 30 >&2
    fi
fi
exit $rc
