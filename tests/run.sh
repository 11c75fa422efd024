#!/usr/bin/env bash
# Runs every test program in $BUILD/tests and every tests/*_test.sh / tests/test_*.py,
# counting PASS/FAIL/SKIP lines; ends with "N passed, N failed, N skipped".
# A test whose data is missing (e.g. ../shared) prints one "SKIP: <why>" line.
# Each entry's wall and CPU seconds (user + sys of it and its children)
# follow its output ("time: NAME W s wall, C s cpu (U user, S sys)"); before
# the summary, the slowest entries by CPU and the totals.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0; fail=0; skip=0
# Up to TEST_JOBS entries run at once (default: the cores), the slow ones
# first; each one's output is kept apart and printed whole, in the fixed
# order below, so the log and the counts do not depend on the scheduling.
JOBS=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
# by CPU seconds measured (the longest first keeps the critical path short)
SLOW_FIRST=" test_fixed_fast test_m3vit_convert.py video_test.sh eval_cli_test.sh ref_numpy_test.sh hw_formats_test.sh
 test_train.py test_fast hw_synth_test.sh test_sessions sim_board_test.sh sim_trips_test.sh cli_test.sh hw_attn_test.sh "
# glibc's malloc asks for 2 MB pages (transparent huge pages, "madvise"
# mode): far fewer page faults, which cost much in a VM (test_sessions 17.2
# -> 12.4 s CPU, test_fixed_fast 91 -> 83 s); results do not depend on it.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
names=(); cmds=()
# TESTS="test_fast cli_test.sh ...": only those entries
add() { case " ${TESTS:-$1} " in *" $1 "*) names+=("$1"); shift; cmds+=("$(printf '%q ' "$@")");; esac; }
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
for n in $SLOW_FIRST; do for i in "${!names[@]}"; do [ "${names[$i]}" = "$n" ] && order+=("$i"); done; done
for i in "${!names[@]}"; do case " $(echo $SLOW_FIRST) " in *" ${names[$i]} "*) ;; *) order+=("$i");; esac; done

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
    # times: the subshell's own user/sys, its children's, then start and end
    awk -v n="$name" 'function s(t) { split(t, a, "m"); return a[1] * 60 + a[2] }
        NR <= 2 { u += s($1); k += s($2) } NR == 3 { wall = $2 - $1 }
        END { printf "time: %s %.1f s wall, %.1f s cpu (%.1f user, %.1f sys)\n", n, wall, u + k, u, k }' "$dir/$1.times" |
        tee -a "$dir/times"
}
next=0   # the first entry not yet reported
flush() { while [ $next -lt ${#names[@]} ] && [ -f "$dir/$next.rc" ]; do report $next; next=$((next + 1)); done; }
running=0
start=${EPOCHREALTIME%.*}
for i in "${order[@]}"; do
    while [ $running -ge "$JOBS" ]; do wait -n; running=$((running - 1)); flush; done
    ( t0=$EPOCHREALTIME; eval "${cmds[$i]}" >"$dir/$i.log" 2>&1 </dev/null; rc=$?
      t1=$EPOCHREALTIME; times >"$dir/$i.times"; echo "$t0 $t1" >>"$dir/$i.times"
      echo $rc >"$dir/$i.rc.tmp"; mv "$dir/$i.rc.tmp" "$dir/$i.rc" ) &
    running=$((running + 1))
done
wait
flush
# "time: NAME W s wall, C s cpu ...": fields 2, 3 and 6
echo "== slowest entries by CPU (TEST_JOBS=$JOBS)"
sort -k6,6 -rn "$dir/times" | head -12 | awk '{ printf "  %7.1f s cpu %7.1f s wall  %s\n", $6, $3, $2 }'
awk '{ w += $3; c += $6 } END { printf "  %7.1f s cpu %7.1f s wall  all entries\n", c, w }' "$dir/times"
echo "  $(( ${EPOCHREALTIME%.*} - start )) s wall for the suite"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
