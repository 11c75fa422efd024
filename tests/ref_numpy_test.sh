#!/usr/bin/env bash
# The C reference engine against the independent numpy reference
# (tests/ref/m3vit_ref.py, float64): every traced stage within 1e-4 of the
# stage's largest magnitude, identical routing.
#  - the shared image, both tasks, backbone and head;
#  - a second, generated image (gradient + noise + rectangles) and a uniform
#    white image (255/256 everywhere: many tokens alike), both tasks, backbone
#    only (--blocks-only), so routing is checked on more than one input;
#  - a small random model (.safetensors) whose MoE blocks are 0, 2 and 3, not
#    the odd ones: both follow the config's moe_layers (runs without ../shared).
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
if ! "$PY" -c 'import numpy' 2>/dev/null; then echo "FAIL: $PY cannot import numpy (Debian: python3-numpy)"; exit 1; fi
mkdir -p "$OUT" || { echo "FAIL: cannot create $OUT"; exit 1; }

now() { date +%s.%N; }

# one MODEL IMAGE_PATH TAG TASK [--blocks-only]
one() {
    local model=$1 img=$2 tag=$3 task=$4; shift 4
    local dump="$OUT/$tag-$task.dump" t0 t1 t2
    t0=$(now)
    if ! "$PY" "$REF" --model "$model" --image "$img" --task "$task" --out "$dump" "$@"; then
        echo "FAIL: numpy reference on $tag, task $task"; fail=1; return
    fi
    t1=$(now)
    "$CHECK" "$model" "$img" "$dump" "$task" || fail=1
    t2=$(now)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$tag $task" \
        'BEGIN { printf "ref_numpy: %s: numpy reference %.1f s, C check %.1f s\n", n, b - a, c - b }'
}

# MoE in blocks 0, 2 and 3 of 4: random weights in the converter's layout
# (tools/m3vit_convert.py), the config with moe_layers in the metadata
M=$OUT/moe_0_2_3.safetensors
if "$PY" - "$M" <<'EOF' && "$PY" "$REF" --model "$M" --write-test-image "$OUT/moe_0_2_3.float32.bin" --seed 7; then
import json, os, sys
import numpy as np
sys.path.insert(0, "tools")
import m3vit_convert as mc
cfg = dict(img_c=3, img_h=32, img_w=64, patch=16, n_tok=9, dim=32, depth=4, mlp_hidden=64, n_experts=4,
           expert_hidden=16, top_k=2, head_ch=8, task_name=["semseg", "depth"], task_channels=[7, 1],
           moe_layers=0b1101)
rng = np.random.default_rng(5)
sd = {k: (rng.random(s, dtype=np.float32) + 0.5 if k.endswith("running_var") else
          (rng.standard_normal(s) * 0.3).astype(np.float32))
      for k, s in mc.expected_keys(cfg, {"semseg": 0, "depth": 1}).items()}
conf, tensors, _ = mc.convert_state_dict(sd, heads=1, image_size=(32, 64))
assert conf.get("moe_layers") == 0b1101, conf
mc.write_safetensors(sys.argv[1], tensors, {"format": "edgemoe", "edgemoe.config": json.dumps(conf)})
EOF
    for task in semseg depth; do
        one "$M" "$OUT/moe_0_2_3.float32.bin" moe_0_2_3 "$task"
    done
else
    echo "FAIL: could not write the model with MoE in blocks 0, 2, 3 or its image"; fail=1
fi

if [ ! -f "$W/image.float32.bin" ]; then echo "SKIP: ref_numpy: no shared weights in $W (set EM_SHARED_WEIGHTS)"; exit $fail; fi
for task in semseg depth; do
    one "$W" "$W/image.float32.bin" shared "$task"
done

if "$PY" "$REF" --write-test-image "$OUT/image2.float32.bin" --seed 2026 &&
   "$PY" "$REF" --write-test-image "$OUT/white.float32.bin" --uniform 255; then
    for task in semseg depth; do
        one "$W" "$OUT/image2.float32.bin" image2 "$task" --blocks-only
        one "$W" "$OUT/white.float32.bin" white "$task" --blocks-only
    done
else
    echo "FAIL: could not write the generated test images"; fail=1
fi
exit $fail
