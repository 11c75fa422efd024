#!/usr/bin/env bash
# The synthesis view of src/hw (-D__SYNTHESIS__): same features and routing
# as the simulation build, bit for bit, and no statistic left (see
# tests/check_hw_synth.c).  Shared weights and image when present, else the
# synthetic model; plus a white image (one expert gets every token).
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin="$BUILD/hwsynth/check_hw_synth"
if ! make -s BUILD="$BUILD" "$bin" "$BUILD/edgemoe" >/dev/null; then
    echo "FAIL: hw_synth: build of the synthesis view failed"; exit 1
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
W=${EM_SHARED_WEIGHTS:-../shared/m3vit-edgemoe}
model=(); mname=-
if [ -f "$W/l1_htoh4_weight.float32.bin" ]; then model=(--model "$W"); mname=$W; image="$W/image.float32.bin"
else "$BUILD/edgemoe" sample-image "$T/sample.png" >/dev/null; image="$T/sample.png"; fi
/usr/bin/python3 -c "import numpy as np; np.full((3,128,256), 255/256, np.float32).tofile('$T/white.bin')"
rc=0
for img in "$image" "$T/white.bin"; do
    # the simulation build, both tasks in one run (the shared prefix once)
    "$BUILD/edgemoe" run --engine hw "${model[@]}" --image "$img" --task all \
        --features "$T/f.bin" --routing "$T/r.bin" >/dev/null 2>&1 || { echo "FAIL: hw_synth: simulation run failed"; rc=1; continue; }
    stem=$(basename "$img"); stem=${stem%%.*}
    for task in 0 1; do
        tname=$([ $task = 0 ] && echo semseg || echo depth)
        echo "-- $(basename "$img"), task $tname"
        "$bin" "$mname" "$img" $task "$T/f.$stem.$tname.bin" "$T/r.$stem.$tname.bin" || rc=1
    done
done
exit $rc
