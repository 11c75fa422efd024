#!/usr/bin/env bash
# The shipped model end to end: 20 generated val scenes through the fast and
# the fixed engines with their heads; mIoU >= 0.70 and depth relative error
# <= 0.15 for both (the model card's numbers on 500 scenes are far better:
# this catches a broken model, engine or head, not a small regression).
set -u
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_shipped.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
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
    /usr/bin/python3 - "$T/$engine.json" "$engine" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().split("\n")[-1])
miou, rel = j["semseg"]["miou"], j["depth"]["rel_err"]
print("%s: %s shipped model on 20 val scenes: mIoU %.4f (>= 0.70), depth rel err %.4f (<= 0.15)"
      % ("PASS" if miou >= 0.70 and rel <= 0.15 else "FAIL", sys.argv[2], miou, rel))
PY
done
