# Helpers for the shell tests (sourced): PASS/FAIL lines, checks, and the
# "one error line, non-zero exit" contract.  Needs $T, a scratch directory.
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# expect_error NAME PATTERN CMD...: non-zero exit, exactly one stderr line matching PATTERN
expect_error() {
    local name=$1 pat=$2; shift 2
    "$@" >"$T/stdout" 2>"$T/stderr"; local rc=$?
    local lines; lines=$(wc -l <"$T/stderr")
    if [ $rc -ne 0 ] && [ "$lines" -eq 1 ] && grep -q -- "$pat" "$T/stderr"; then
        pass "$name: rc=$rc: $(cat "$T/stderr")"
    else
        fail "$name: rc=$rc lines=$lines: $(head -c 300 "$T/stderr")"
    fi
}
