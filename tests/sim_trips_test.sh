#!/usr/bin/env bash
# Performance model vs the accelerator twin: the model's loop trip counts
# equal the iterations counted by an instrumented build of src/hw
# (HW_COUNT_TRIPS) for the same image and task, for ATTN_P = 1, 4, 8.
# Uses the shared weights and their test image when present, else the
# synthetic model and the sample image.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if ! make -s BUILD="$BUILD" sim-trips >/dev/null; then
    echo "FAIL: sim_trips: instrumented build failed"; exit 1
fi
W=${EM_SHARED_WEIGHTS:-../shared/m3vit-edgemoe}
model="-"; image=""
if [ -f "$W/l1_htoh4_weight.float32.bin" ]; then model="$W"; image="$W/image.float32.bin"; fi
rc=0
for p in 1 4 8; do
    echo "-- ATTN_P = $p, model $model, image ${image:-sample}"
    "$BUILD/simtrips/check_sim_trips_p$p" "$model" $image || rc=1
done
# a white image: with the trained gates nearly every token goes to one expert
echo "-- ATTN_P = 4, model $model, white image"
"$BUILD/simtrips/check_sim_trips_p4" "$model" white || rc=1
exit $rc
