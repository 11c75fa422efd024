#!/usr/bin/env bash
# Benchmark of the fast engine (docs/fast.md): edgemoe fast, edgemoe ref and
# PyTorch side by side on the same weights and pixels.  Not a test.
#   bench/bench_fast.sh [THREADS [REPEATS]]
# Environment: BUILD (build folder, default build), WEIGHTS (default
# ../shared/m3vit-edgemoe), IMAGE (PNG/JPEG/raw float32; default the weights'
# image), REF_REPEATS (default 3), OUT (results folder, default a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
REPEATS=${2:-20}
BUILD=${BUILD:-build}
WEIGHTS=${WEIGHTS:-../shared/m3vit-edgemoe}
OUT=${OUT:-$(mktemp -d /tmp/edgemoe-bench.XXXXXX)}
make -s BUILD="$BUILD" "$BUILD/bench/bench_fast"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/bench_fast" --threads "$THREADS" --repeats "$REPEATS" --ref-repeats "${REF_REPEATS:-3}" \
    --weights "$WEIGHTS" --out "$OUT" ${IMAGE:+--image "$IMAGE"}
/usr/bin/python3 bench/bench_torch.py --dir "$OUT" --weights "$WEIGHTS" --threads "$THREADS" --repeats "$REPEATS"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
