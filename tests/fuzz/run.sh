#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET...: runs each libFuzzer target for SECONDS
# from its committed seeds plus the corpus grown by earlier runs, prints one
# PASS/FAIL line per target with its executions, and the summary line.
# A crash leaves its input in $FUZZ_BUILD/crashes/<target>/.  FUZZ_TIMEOUT (s,
# default 60) is the per-input limit; raise it on a loaded machine.
set -u
secs=$1; shift
B=${FUZZ_BUILD:-build-fuzz}
pass=0; fail=0
for t in "$@"; do
    corpus=$B/corpus/$t; crashes=$B/crashes/$t
    mkdir -p "$corpus" "$crashes"
    log=$B/fuzz_$t.log
    ASAN_OPTIONS=detect_leaks=1 "$B/fuzz/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=4096 -timeout="${FUZZ_TIMEOUT:-60}" \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        echo "PASS: fuzz_$t: ${secs}s, ${execs:-?} executions, $cov, corpus $(ls "$corpus" | wc -l) files"
        pass=$((pass + 1))
    else
        echo "FAIL: fuzz_$t: exit $rc after ${execs:-?} executions; see $log and $crashes"
        grep -m3 -E 'ERROR|SUMMARY' "$log"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
