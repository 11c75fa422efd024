#!/usr/bin/env bash
# Runs every test program in $BUILD/tests and every tests/*_test.sh / tests/test_*.py,
# counting PASS/FAIL/SKIP lines; ends with "N passed, N failed, N skipped".
# A test whose data is missing (e.g. ../shared) prints one "SKIP: <why>" line.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0; fail=0; skip=0
# Up to TEST_JOBS entries run at once (default: the cores), the slow ones
# first; each one's output is kept apart and printed whole, in the fixed
# order below, so the log and the counts do not depend on the scheduling.
JOBS=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
SLOW_FIRST=" hw_synth_test.sh video_test.sh sim_trips_test.sh test_m3vit_convert.py sim_board_test.sh cli_test.sh ref_numpy_test.sh test_sim_board "
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
names=(); cmds=()
add() { names+=("$1"); shift; cmds+=("$(printf '%q ' "$@")"); }
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    add "$(basename "$t")" "$t"
done
for t in tests/*_test.sh; do
    [ -f "$t" ] || continue
    add "$(basename "$t")" bash "$t"
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    add "$(basename "$t")" /usr/bin/python3 "$t"
done
order=()
for i in "${!names[@]}"; do case "$SLOW_FIRST" in *" ${names[$i]} "*) order+=("$i");; esac; done
for i in "${!names[@]}"; do case "$SLOW_FIRST" in *" ${names[$i]} "*) ;; *) order+=("$i");; esac; done

report() {
    local i=$1 name=${names[$1]} log="$dir/$1.log" rc
    rc=$(cat "$dir/$1.rc")
    echo "== $name"
    cat "$log"
    local p f s
    p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc"; fail=$((fail + 1))
    fi
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        echo "FAIL: $name ran no check"; fail=$((fail + 1))
    fi
}
next=0   # the first entry not yet reported
flush() { while [ $next -lt ${#names[@]} ] && [ -f "$dir/$next.rc" ]; do report $next; next=$((next + 1)); done; }
running=0
for i in "${order[@]}"; do
    while [ $running -ge "$JOBS" ]; do wait -n; running=$((running - 1)); flush; done
    ( eval "${cmds[$i]}" >"$dir/$i.log" 2>&1 </dev/null; echo $? >"$dir/$i.rc.tmp"; mv "$dir/$i.rc.tmp" "$dir/$i.rc" ) &
    running=$((running + 1))
done
wait
flush
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
