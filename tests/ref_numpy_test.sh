#!/usr/bin/env bash
# The C reference engine against the independent numpy reference
# (tests/ref/m3vit_ref.py, float64): every traced stage within 1e-4 of the
# stage's largest magnitude, identical routing.
#  - the shared image, both tasks, backbone and head;
#  - a second, generated image (gradient + noise + rectangles) and a uniform
#    white image (255/256 everywhere: many tokens alike), both tasks, backbone
#    only (--blocks-only), so routing is checked on more than one input.
# Env: BUILD (default build), EM_SHARED_WEIGHTS (default ../shared/m3vit-edgemoe).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
W=${EM_SHARED_WEIGHTS:-../shared/m3vit-edgemoe}
PY=/usr/bin/python3
REF=tests/ref/m3vit_ref.py
CHECK=$BUILD/tests/check_ref_numpy
OUT=$BUILD/ref
# Keep the 2-core machine modest: one BLAS thread for numpy.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

fail=0
if [ ! -x "$CHECK" ]; then echo "FAIL: $CHECK not built (make BUILD=$BUILD)"; exit 1; fi
if [ ! -f "$W/image.float32.bin" ]; then echo "SKIP: ref_numpy: no shared weights in $W (set EM_SHARED_WEIGHTS)"; exit 0; fi
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "FAIL: $PY cannot import numpy (Debian: python3-numpy)"; exit 1; fi
mkdir -p "$OUT" || { echo "FAIL: cannot create $OUT"; exit 1; }

now() { date +%s.%N; }

# one IMAGE_PATH TAG TASK [--blocks-only]
one() {
    local img=$1 tag=$2 task=$3; shift 3
    local dump="$OUT/$tag-$task.dump" t0 t1 t2
    t0=$(now)
    if ! "$PY" "$REF" --model "$W" --image "$img" --task "$task" --out "$dump" "$@"; then
        echo "FAIL: numpy reference on $tag, task $task"; fail=1; return
    fi
    t1=$(now)
    "$CHECK" "$W" "$img" "$dump" "$task" || fail=1
    t2=$(now)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$tag $task" \
        'BEGIN { printf "ref_numpy: %s: numpy reference %.1f s, C check %.1f s\n", n, b - a, c - b }'
}

for task in semseg depth; do
    one "$W/image.float32.bin" shared "$task"
done

if "$PY" "$REF" --write-test-image "$OUT/image2.float32.bin" --seed 2026 &&
   "$PY" "$REF" --write-test-image "$OUT/white.float32.bin" --uniform 255; then
    for task in semseg depth; do
        one "$OUT/image2.float32.bin" image2 "$task" --blocks-only
        one "$OUT/white.float32.bin" white "$task" --blocks-only
    done
else
    echo "FAIL: could not write the generated test images"; fail=1
fi
exit $fail
