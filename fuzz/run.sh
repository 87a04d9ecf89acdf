#!/bin/bash
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# Runs fuzz targets one after the other (the machine has two cores) for
# SECONDS each and prints, per target, the executions, the coverage
# (cov: edges, ft: features) and the corpus size; then
# "fuzz: N passed, N failed".  Exits 1 if any target crashed (sanitizer
# report, failed invariant, timeout, out of memory), after printing the
# report and where the crashing input was saved.
#
#   bash fuzz/run.sh SECONDS TARGET...     (normally through `make fuzz`)
#
# Each target starts from the seeds in fuzz/corpus/<target>/ plus what
# earlier runs found in fuzz/out/corpus/<target>/, where new inputs go
# (the seed directories are never written).  Crashing inputs go to
# fuzz/out/artifacts/<target>-crash-<sha1>; logs to fuzz/out/<target>.log.
# Extra libFuzzer options can be given in FUZZ_ARGS.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -lt 2 ]; then
    echo "usage: $0 SECONDS TARGET..." >&2
    exit 2
fi
secs=$1
shift
out=fuzz/out

# UBSan findings are fatal (the binaries are built with
# -fno-sanitize-recover) and show their stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# the targets' scratch files (map files) go here, not to /tmp: a crash
# skips their clean-up
export TMPDIR=$PWD/$out/tmp
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"

passed=0
failed=0
for t in "$@"; do
    bin=$out/$t
    corpus=$out/corpus/$t
    arts=$out/artifacts
    log=$out/$t.log
    if [ ! -x "$bin" ]; then
        echo "$t: no binary $bin (make fuzz-build)" >&2
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$corpus" "$arts"
    # every crash found so far is a regression test: replayed first
    regress=$(ls fuzz/crashes/"$t"-* 2>/dev/null)
    if [ -n "$regress" ]; then
        # shellcheck disable=SC2086
        if ! timeout -k 10 120 "$bin" $regress > "$out/$t.regress.log" 2>&1; then
            echo "$t: FAILED on a saved crash input (fuzz/crashes/$t-*):"
            tail -n 30 "$out/$t.regress.log"
            failed=$((failed + 1))
            continue
        fi
        echo "$t: $(echo "$regress" | wc -l) saved crash input(s) replayed: ok"
    fi
    case $t in
        fuzz_txtmap) maxlen=8192 ;;   # map files with lines past 1024
        *) maxlen=4096 ;;
    esac
    dict=
    [ -f "fuzz/dict/$t.dict" ] && dict=-dict=fuzz/dict/$t.dict
    # a hard limit on top of -max_total_time, should the target hang.
    # -timeout=60: a backtracking pattern on fuzz_expand's 20,000-byte
    # subjects runs the interpreter to PCRE2's default match limit (as
    # the stock module does) when the JIT gives up: 10-30 s under the
    # sanitizers, slow but not a hang
    timeout -k 10 $((secs + 180)) "$bin" -max_total_time="$secs" \
        -timeout=60 -rss_limit_mb=2048 -max_len=$maxlen $dict \
        -print_final_stats=1 -artifact_prefix="$arts/$t-" ${FUZZ_ARGS:-} \
        "$corpus" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    [ -n "$execs" ] || execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
    printf '%-15s %10s execs  cov: %-5s ft: %-6s corpus: %s inputs (%s in %s)\n' \
        "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp%%/*}" \
        "$(ls "$corpus" | wc -l) saved" "$corpus"
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        continue
    fi
    failed=$((failed + 1))
    echo "$t: FAILED (exit $rc); the report ($log):"
    # from the first line of the report on, without libFuzzer's chatter
    awk '/ERROR: |runtime error:|invariant failed|==[0-9]+==|deadly signal|timeout after|out-of-memory/ {on=1} on' \
        "$log" | grep -v '^INFO:' | head -60 | sed 's/^/    /'
    art=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
    if [ -n "$art" ]; then
        echo "    crashing input: $art"
        echo "    reproduce:      $bin $art"
        echo "    minimise:       $bin -minimize_crash=1 -runs=100000 $art"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
