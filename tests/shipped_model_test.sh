#!/usr/bin/env bash
# The shipped model end to end: 20 generated val scenes through the fast and
# the fixed engines with their heads; mIoU >= MIN_MIOU and depth relative
# error <= MAX_REL for both.  The shipped model gives 0.571 and 0.357 on
# these 20 scenes (docs/model.md: 0.577 and 0.340 on 500); the untrained
# model 0.05 and 1.27.  The margins catch a broken model, engine or head, not
# a small regression.  Issue #10 asks 0.70 and 0.15 of a model that reaches
# its targets; raise these when one ships.
set -u
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_shipped.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
MIN_MIOU=0.50
MAX_REL=0.42
MODEL=$(ls models/*.safetensors 2>/dev/null | head -1)
if [ -z "$MODEL" ]; then
    echo "SKIP: no trained model in models/ yet (the training run of tools/train has not shipped one)"
    exit 0
fi
$EM scenes --out "$T/data" --split val --count 20 2>/dev/null
check "20 val scenes generated" test -f "$T/data/val/depth/19.npy"
for engine in fast fixed; do
    $EM eval --model "$MODEL" --data "$T/data" --engine $engine --json >"$T/$engine.json" 2>"$T/err"
    check "eval --engine $engine runs" [ $? -eq 0 ]
    /usr/bin/python3 - "$T/$engine.json" "$engine" "$MIN_MIOU" "$MAX_REL" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().split("\n")[-1])
miou, rel = j["semseg"]["miou"], j["depth"]["rel_err"]
lo, hi = float(sys.argv[3]), float(sys.argv[4])
print("%s: %s shipped model on 20 val scenes: mIoU %.4f (>= %.2f), depth rel err %.4f (<= %.2f)"
      % ("PASS" if miou >= lo and rel <= hi else "FAIL", sys.argv[2], miou, lo, rel, hi))
PY
done
