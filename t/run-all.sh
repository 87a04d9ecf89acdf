#!/bin/bash
# Runs every test suite of the project and sums them up (`make test`):
#   (a) C unit tests             make -C <repo> unit   ("unit: N passed, N failed")
#   (b) Apache::Test suite       t/run-apache-test.sh -verbose (TAP ok / not ok lines)
#   (c) differential runner      t/diff/run-diff ("diff: N passed, N failed")
#   (d) rewrite-test tool tests  t/tools/test-rewrite-test
#   (e) fuzzer smoke test        t/diff/fuzz/fuzz-diff --self-test (stock vs stock)
# Each part's output is printed as it runs; the last line is the totals,
#   N passed, N failed
# alone on its line.  Exit status is non-zero when any test failed or any
# part could not run or crashed (such a part counts as 1 failure, never as
# zero tests).
#
# Environment: RW_MODULE (module under test, passed on to every part),
# RW_UNIT_TIMEOUT (default 1200 s), RW_DIFF_TIMEOUT (default 3000 s),
# RW_TEST_TIMEOUT (Apache::Test run, default 900 s).

set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
export RW_MODULE=${RW_MODULE:-$top/.libs/mod_rewrite.so}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/rw-run-all.XXXXXX") || { echo "run-all: mktemp failed"; echo "0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$logdir"' EXIT

total_pass=0
total_fail=0
summary=()

# record NAME PASSED FAILED NOTE
record() {
    total_pass=$((total_pass + $2))
    total_fail=$((total_fail + $3))
    # (worded unlike the final line on purpose: only that one is the total)
    summary+=("$(printf '  %-12s pass %-5d fail %d%s' "$1" "$2" "$3" "${4:+ ($4)}")")
}

# run_logged LOG CMD... : print the output as it comes, keep a copy; $? = CMD's status
run_logged() {
    local log=$1; shift
    "$@" </dev/null 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}

# last "PREFIX N passed, N failed" line of a log -> "N M", or nothing
counts_from() {
    local prefix=$1 log=$2
    sed -n -E "s/^[[:space:]]*${prefix}[[:space:]]*([0-9]+) passed, ([0-9]+) failed.*$/\\1 \\2/p" "$log" | tail -n 1
}

# Records a suite from its closing "PREFIX N passed, N failed" line in LOG;
# no such line, or a non-zero exit with no failed test, counts as 1 failure.
record_summary() {
    local name=$1 prefix=$2 log=$3 rc=$4 c p f
    c=$(counts_from "$prefix" "$log")
    if [ -z "$c" ]; then
        echo "run-all: $name printed no '$prefix N passed, N failed' line (exit $rc): counted as 1 failure"
        record "$name" 0 1 "no summary line, exit $rc"
        return
    fi
    set -- $c
    p=$1 f=$2
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "run-all: $name exited $rc with no failed test: counted as 1 failure"
        f=1
    fi
    record "$name" "$p" "$f" "$([ "$rc" -ne 0 ] && echo "exit $rc")"
}

banner() { printf '\n===== %s =====\n' "$1"; }

# ---------------------------------------------------------------------
# (a) C unit tests
# ---------------------------------------------------------------------
banner "unit tests: make -C $top unit"
log=$logdir/unit.log
run_logged "$log" timeout --kill-after=30 "${RW_UNIT_TIMEOUT:-1200}" make -C "$top" unit
record_summary "unit" 'unit:' "$log" $?

# ---------------------------------------------------------------------
# (b) Apache::Test suite
# ---------------------------------------------------------------------
banner "Apache::Test suite: t/run-apache-test.sh -verbose"
log=$logdir/apache-test.log
run_logged "$log" bash "$here/run-apache-test.sh" -verbose
rc=$?
p=$(grep -Ec '^ok [0-9]+' "$log")
f=$(grep -Ec '^not ok [0-9]+' "$log")
note=
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "run-all: Apache::Test run exited $rc with no 'not ok' line (could not run, or a test file died): counted as 1 failure"
    f=1; note="exit $rc"
elif [ $rc -eq 0 ] && [ "$p" -eq 0 ]; then
    echo "run-all: Apache::Test run ran no test: counted as 1 failure"
    f=1; note="no test ran"
elif [ $rc -ne 0 ]; then
    note="exit $rc"
fi
record "apache-test" "$p" "$f" "$note"

# ---------------------------------------------------------------------
# (c) differential runner
# ---------------------------------------------------------------------
banner "differential tests: t/diff/run-diff"
log=$logdir/diff.log
run_logged "$log" timeout --kill-after=30 "${RW_DIFF_TIMEOUT:-3000}" python3 "$here/diff/run-diff"
record_summary "diff" 'diff:' "$log" $?

# ---------------------------------------------------------------------
# (d) rewrite-test, the command-line tool ("rewrite-test: N passed, N failed")
# ---------------------------------------------------------------------
banner "rewrite-test: t/tools/test-rewrite-test"
log=$logdir/tools.log
run_logged "$log" timeout --kill-after=30 600 python3 "$here/tools/test-rewrite-test"
record_summary "rewrite-test" 'rewrite-test:' "$log" $?

# ---------------------------------------------------------------------
# (e) differential fuzzer smoke test: stock against stock, fixed seed
#     ("fuzz-diff: N passed, N failed"; the real runs are make fuzz-diff)
# ---------------------------------------------------------------------
banner "fuzz-diff smoke test: t/diff/fuzz/fuzz-diff --self-test"
log=$logdir/fuzz-diff.log
run_logged "$log" timeout --kill-after=30 600 python3 "$here/diff/fuzz/fuzz-diff" --self-test
record_summary "fuzz-diff" 'fuzz-diff:' "$log" $?

# ---------------------------------------------------------------------
banner "summary"
for line in "${summary[@]}"; do echo "$line"; done
echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
