#!/bin/bash
# `make load`: the load scenario of t/load/run-load.pl (wrk, every
# feature, event and prefork) against the sanitizer build (default), our
# normal build, both, or the stock module for reference figures.
#
# Environment:
#   LOAD_BUILD     both (default): the sanitizer build (built by
#                  t/load/build-sanitized.sh in a temporary directory;
#                  crashes, sanitizer reports, RSS within ASan's
#                  quarantine), then the normal build (.libs/mod_rewrite.so
#                  or RW_MODULE; RSS growth within 16 MB per process);
#                  or sanitize, normal, stock (reference figures)
#   LOAD_QUICK=1   20000 requests instead of LOAD_REQUESTS
#   LOAD_REQUESTS  requests per MPM (default 200000)
#   RW_SAN_MODULE  an existing sanitizer build to use
# and the LOAD_* variables of t/load/run-load.pl.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${LOAD_BUILD:-both}
if [ "${LOAD_QUICK:-0}" = 1 ]; then
    export LOAD_REQUESTS=20000
else
    export LOAD_REQUESTS=${LOAD_REQUESTS:-200000}
fi
command -v wrk >/dev/null || { echo "load: wrk not found (apt-get install wrk)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rw-load.XXXXXX") || exit 2
chmod 755 "$work"
trap '[ "${RW_KEEP_TMP:-0}" = 1 ] || rm -rf "$work"' EXIT
export TMPDIR=$work

rc=0
run() { perl "$here/run-load.pl" "$@" || rc=1; }
case $build in
    sanitize|both)
        so=${RW_SAN_MODULE:-}
        if [ -z "$so" ]; then
            echo "load: building the sanitizer build in $work/build"
            so=$(bash "$here/build-sanitized.sh" "$work/build") || exit 2
        fi
        run --sanitize --module "$so" --label "sanitizer build" ;;
esac
case $build in
    normal|both)
        so=${RW_MODULE:-$top/.libs/mod_rewrite.so}
        [ -f "$so" ] || { echo "load: $so not found (make first)" >&2; exit 2; }
        run --module "$so" --label "normal build" ;;
    stock)
        so=$("$top/tools/stock-module") || exit 2
        run --module "$so" --label "stock module" ;;
    sanitize) ;;
    *) echo "load: LOAD_BUILD must be sanitize, normal, both or stock" >&2; exit 2 ;;
esac
exit $rc
