#!/usr/bin/env bash
# Format sets other than the original: the fast twin against src/hw compiled
# with the set as macros, bit for bit (tests/check_hw_formats.c, built per
# set by mk/formats.mk), on the shipped model.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
rc=0
for s in fa fc; do
    bin="$BUILD/hwfmt/check_hw_formats_$s"
    if ! make -s BUILD="$BUILD" "$bin" >/dev/null; then echo "FAIL: hw_formats: build of set $s failed"; rc=1; continue; fi
    # every kernel set on the first set, the best one on the others
    "$bin" $([ $s = fa ] && echo --all-kernels) || rc=1
done
exit $rc
