#!/usr/bin/env bash
# Runs every test program in $BUILD/tests and every tests/*_test.sh / tests/test_*.py,
# counting PASS/FAIL/SKIP lines; ends with "N passed, N failed, N skipped".
# A test whose data is missing (e.g. ../shared) prints one "SKIP: <why>" line.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0; fail=0; skip=0
log=$(mktemp)
run_one() {
    local name=$1; shift
    echo "== $name"
    "$@" >"$log" 2>&1; local rc=$?
    cat "$log"
    local p f s
    p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $name exited with status $rc"; fail=$((fail + 1))
    fi
    if [ $rc -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        echo "FAIL: $name ran no check"; fail=$((fail + 1))
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/*_test.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" bash "$t"
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" /usr/bin/python3 "$t"
done
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
