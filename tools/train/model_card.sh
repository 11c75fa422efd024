#!/usr/bin/env bash
# The numbers of docs/model.md, measured again: the shipped model (or MODEL)
# on N val scenes (default 500) with the fast and fixed engines in one pass,
# the ref engine on the first REF_N (default 100, the trainer's validation
# set), and, when RUN (a training run directory) is given, the trainer's own
# metrics of the same model on the same scenes.
#   tools/train/model_card.sh [N] [REF_N]      env: MODEL, RUN, OUT (default: a temp dir), BUILD
# Prints a summary; the JSON of every run is left in OUT.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
N=${1:-500}
REF_N=${2:-100}
MODEL=${MODEL:-models/edgemoe-street.safetensors}
OUT=${OUT:-$(mktemp -d /tmp/em_card.XXXXXX)}
mkdir -p "$OUT"
[ -x "$EM" ] || { echo "model_card: $EM not built (make)" >&2; exit 1; }
[ -d "$OUT/val$N/val" ] || "$EM" scenes --out "$OUT/val$N" --split val --count "$N" >/dev/null 2>&1
"$EM" eval --model "$MODEL" --data "$OUT/val$N" --engine fast --compare fixed --json >"$OUT/fast_fixed.json"
"$EM" eval --model "$MODEL" --data "$OUT/val$N" --engine ref --limit "$REF_N" --json >"$OUT/ref.json"
"$EM" eval --model "$MODEL" --data "$OUT/val$N" --engine fast --limit "$REF_N" --json >"$OUT/fast_ref_n.json"
if [ -n "${RUN:-}" ]; then
    /usr/bin/python3 tools/train/train.py --run "$RUN" --eval "$REF_N" >"$OUT/trainer.json"
fi
/usr/bin/python3 - "$OUT" "$N" "$REF_N" <<'PY'
import json, os, sys
out, n, ref_n = sys.argv[1], sys.argv[2], sys.argv[3]
ld = lambda f: json.loads(open(os.path.join(out, f)).read().splitlines()[-1]) if f != "trainer.json" \
    else json.load(open(os.path.join(out, f)))
ff, ref, fr = ld("fast_fixed.json"), ld("ref.json"), ld("fast_ref_n.json")
fx = ff["compare"]
names = ["flat", "construction", "object", "nature", "sky", "human", "vehicle"]
print("%s val scenes          %10s %10s %10s" % (n, "fast", "fixed", "diff"))
for k, c in enumerate(names):
    a, b = ff["semseg"]["iou"][k], fx["semseg"]["iou"][k]
    print("  IoU %-16s %10.4f %10.4f %+10.4f" % (c, a, b, b - a))
for key in ("miou", "pixel_acc"):
    print("  %-20s %10.4f %10.4f %+10.4f" % (key, ff["semseg"][key], fx["semseg"][key], fx["semseg"][key] - ff["semseg"][key]))
for key in ("abs_err", "rel_err", "rmse", "delta1"):
    print("  depth %-14s %10.4f %10.4f %+10.4f" % (key, ff["depth"][key], fx["depth"][key], fx["depth"][key] - ff["depth"][key]))
print("  routing agreement fixed vs fast: semseg %.4f, depth %.4f (as sets %.4f, %.4f)" % (
    fx["routing"]["semseg"]["agreement"], fx["routing"]["depth"]["agreement"],
    fx["routing"]["semseg"]["set_agreement"], fx["routing"]["depth"]["set_agreement"]))
d = fx["datapath"]
print("  fixed datapath: %d of %d stored values wrapped; weights wrapped on quantisation: %d" % (
    d["wraps"], d["stores"], d["weight_quant_wraps"]))
print("  images/s: fast %.2f, fixed %.2f (both tasks)" % (ff["images_per_s"], fx["images_per_s"]))
for eng, j in (("fast", ff), ("fixed", fx)):
    for t in ("semseg", "depth"):
        L = j["experts"][t]
        print("  experts %-5s %-6s used %s, max share %s" % (eng, t, " ".join("%d" % l["used"] for l in L),
                                                           " ".join("%.3f" % l["max_share"] for l in L)))
rows = [("ref", ref), ("fast", fr)]
if os.path.exists(os.path.join(out, "trainer.json")):
    tr = ld("trainer.json")
    rows.append(("trainer", {"semseg": {"miou": tr["miou"], "pixel_acc": tr["pixel_acc"]},
                             "depth": {"abs_err": tr["abs_err"], "rel_err": tr["rel_err"], "delta1": tr["delta1"]}}))
print("first %s val scenes     %10s %10s %10s %10s" % (ref_n, "mIoU", "pixel acc", "abs err", "rel err"))
for name, j in rows:
    print("  %-20s %10.4f %10.4f %10.4f %10.4f" % (name, j["semseg"]["miou"], j["semseg"]["pixel_acc"],
                                                  j["depth"]["abs_err"], j["depth"]["rel_err"]))
PY
echo "JSON in $OUT"
