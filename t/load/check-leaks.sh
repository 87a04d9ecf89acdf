#!/bin/bash
# `make check-leaks`: the Apache::Test suite (t/run-apache-test.sh)
# against the sanitizer build (ASan + UBSan, built by
# t/load/build-sanitized.sh in a temporary directory), with the
# sanitizer runtimes preloaded (README, "Sanitizer build"); fails when
# the suite fails or when any server log or sanitizer log file shows a
# crash or a sanitizer report (t/load/scan-logs.pl).
#
# Environment: RW_LEAKS_DIR (work directory, default a new one under
# TMPDIR, removed afterwards unless RW_KEEP_TMP=1), RW_SAN_MODULE (use
# this sanitizer build instead of building one); other variables reach
# t/run-apache-test.sh (e.g. RW_TEST_TIMEOUT).  Arguments go to it too
# (t/faults.t -v ...).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

work=${RW_LEAKS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rw-check-leaks.XXXXXX")}
mkdir -p "$work"
chmod 755 "$work"
cleanup() { [ "${RW_KEEP_TMP:-0}" = 1 ] && echo "check-leaks: kept $work" || rm -rf "$work"; }
trap cleanup EXIT

if [ -n "${RW_SAN_MODULE:-}" ]; then
    so=$RW_SAN_MODULE
else
    echo "check-leaks: building the sanitizer build in $work/build"
    so=$(bash "$here/build-sanitized.sh" "$work/build") || exit 2
fi
# the suite's temporary trees and the sanitizers' log files, kept for
# the scan (writable by the user the suite runs as)
mkdir -p "$work/tmp" "$work/san"
chmod 1777 "$work/tmp" "$work/san"

# The runtimes are preloaded into httpd only (and what it starts): a
# wrapper named apache2 given to the suite as RW_HTTPD.  (Preloading
# them into every process of the suite also reaches PostgreSQL's tools
# and perl, which the tests do not need instrumented.)
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
httpd=${RW_HTTPD:-/usr/sbin/apache2}
mkdir -p "$work/bin"
cat >"$work/bin/apache2" <<WRAP
#!/bin/sh
# the sanitizer runtimes for httpd (README, "Sanitizer build")
LD_PRELOAD="$asan $ubsan"
ASAN_OPTIONS="detect_leaks=0:log_path=$work/san/asan\${RW_ASAN_OPTIONS:+:\$RW_ASAN_OPTIONS}"
UBSAN_OPTIONS="print_stacktrace=1:log_path=$work/san/ubsan"
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec "$httpd" "\$@"
WRAP
chmod 755 "$work/bin" "$work/bin/apache2"
echo "check-leaks: module $so; httpd $work/bin/apache2 (LD_PRELOAD=$asan $ubsan)"
env RW_HTTPD="$work/bin/apache2" RW_MODULE="$so" TMPDIR="$work/tmp" RW_KEEP_TMP=1 \
    bash "$top/t/run-apache-test.sh" "$@"
rc=$?
echo "check-leaks: test suite exit status $rc"

# as root the suite's copy is owned by nobody; read it as root anyway
perl "$here/scan-logs.pl" "$work/tmp" "$work/san"
scan=$?
if [ $rc -ne 0 ] || [ $scan -ne 0 ]; then
    echo "check-leaks: FAILED (suite exit $rc, sanitizer/crash lines: $([ $scan -ne 0 ] && echo yes || echo no))"
    exit 1
fi
echo "check-leaks: passed (no sanitizer report, no crash)"
