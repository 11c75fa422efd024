#!/usr/bin/env bash
# Builds the SystemC oracle (tests/oracle/sc_oracle.cpp) and runs it: every
# fixed-point primitive of src/hw bit-exact against sc_fixed<W,I,SC_TRN,SC_WRAP>.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if ! make -s BUILD="$BUILD" "$BUILD/oracle/hw_oracle" >/dev/null; then
    echo "FAIL: hw_oracle: build failed (needs libsystemc-dev)"; exit 1
fi
# SystemC keeps global allocations until exit: no leak check on this test-only program
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$BUILD/oracle/hw_oracle" || rc=1
# the same primitives at a non-original format set (mk/formats.mk: 16-bit fm
# with 2 integer bits, 12-bit weights, negative integer bits, b5 with more
# fractional bits than fm)
if ! make -s BUILD="$BUILD" "$BUILD/oracle/hw_oracle_fc" >/dev/null; then echo "FAIL: hw_oracle: build of set fc failed"; exit 1; fi
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$BUILD/oracle/hw_oracle_fc" || rc=1
exit ${rc:-0}
