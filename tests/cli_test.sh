#!/usr/bin/env bash
# The `edgemoe run` contract: outputs, naming, JSON, and bad input (one error
# line, non-zero exit, no output left behind).  The contract does not depend on
# the engine, so it runs on the fast one (the engines' numerics are tested
# elsewhere); compare runs fixed against ref by definition.  The checks on
# the shared weights print one SKIP line when ../shared is absent.
set -u
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
SHARED=${EM_SHARED_WEIGHTS:-../shared/m3vit-edgemoe}
T=$(mktemp -d /tmp/em_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
size_is() { [ "$(stat -c %s "$1" 2>/dev/null)" = "$2" ]; }
empty_dir() { [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

$EM sample-image "$T/sample.png"
check "sample-image writes a PNG" bash -c "head -c 8 '$T/sample.png' | od -An -tx1 | grep -q '89 50 4e 47'"
$EM sample-image --scene 7 "$T/scene7.png"
$EM scenes --out "$T/scn7" --split val --start 7 --count 1 >/dev/null 2>&1
/usr/bin/python3 -c "
import sys, numpy as np
v = np.rint(np.load(sys.argv[1]) * 255).astype(np.uint8)   # the dataset stores v/255
(v.transpose(2, 0, 1).astype(np.float32) / 256).tofile(sys.argv[2])" "$T/scn7/val/image/7.npy" "$T/scene7.bin"
$EM run --model synthetic --task semseg --image "$T/scene7.png" --features "$T/f_png.bin" >/dev/null 2>&1
$EM run --model synthetic --task semseg --image "$T/scene7.bin" --features "$T/f_bin.bin" >/dev/null 2>&1
check "sample-image --scene 7 is val scene 7 of the generator (same features as its pixels v/256)" \
    cmp -s "$T/f_png.bin" "$T/f_bin.bin"
expect_error "sample-image --scene x refused" "--scene: 'x' is not an integer" $EM sample-image --scene x "$T/bad.png"

# synthetic model, one image, one task: names used as given
$EM run --image "$T/sample.png" --task semseg --engine fast --features "$T/f.bin" --logits "$T/l.bin" \
    --routing "$T/r.bin" --out "$T/png" --json >"$T/json" 2>"$T/err"
check "run on the synthetic model exits 0" [ $? -eq 0 ]
check "features 129x192 float32" size_is "$T/f.bin" $((129 * 192 * 4))
check "logits 7x128x256 float32" size_is "$T/l.bin" $((7 * 128 * 256 * 4))
check "routing int32 6x129x2" size_is "$T/r.bin" $((6 * 129 * 2 * 4))
check "semseg colour and class PNGs" test -s "$T/png/sample_semseg.png" -a -s "$T/png/sample_semseg_classes.png"
# the class PNG as the labels of the same image: eval's argmax of the same
# engine's logits must agree with it everywhere
mkdir -p "$T/ds/val/image" "$T/ds/val/label_7"
cp "$T/sample.png" "$T/ds/val/image/0.png"; cp "$T/png/sample_semseg_classes.png" "$T/ds/val/label_7/0.png"
$EM eval --data "$T/ds" --task semseg --engine fast --json >"$T/ds.json" 2>/dev/null
check "the class PNG holds the argmax of the logits: as labels, eval scores pixel accuracy 1 on 128x256 pixels" \
    /usr/bin/python3 -c "import json,sys; j=json.loads(open(sys.argv[1]).read().splitlines()[-1]); sys.exit(0 if j['semseg']['pixel_acc'] == 1.0 and j['semseg']['pixels'] == 128 * 256 else 1)" "$T/ds.json"
check "one JSON line" [ "$(wc -l <"$T/json")" -eq 1 ]
/usr/bin/python3 - "$T/json" "$T/r.bin" <<'PY'
import json, struct, sys
j = json.loads(open(sys.argv[1]).readline())
ok = all(k in j for k in ("image", "task", "engine", "timings", "moe"))
ok &= all(k in j["timings"] for k in ("backbone_ms", "head_ms", "total_ms"))
ok &= j["task"] == "semseg" and j["engine"] == "fast" and len(j["moe"]) == 6
r = open(sys.argv[2], "rb").read()
ids = struct.unpack("<%di" % (len(r) // 4), r)
for li, layer in enumerate(j["moe"]):
    counts = {e["id"]: e["tokens"] for e in layer["experts"]}
    mine = ids[li * 258:(li + 1) * 258]
    ok &= all(counts.get(e, 0) == mine.count(e) for e in range(16))
    ok &= sum(counts.values()) == 258
print(("PASS" if ok else "FAIL") + ": JSON has image/task/engine/timings and per-layer expert counts matching --routing")
PY

have_shared=0
if [ -f "$SHARED/image.float32.bin" ] && [ -f "$SHARED/l1_htoh4_weight.float32.bin" ]; then have_shared=1
else echo "SKIP: cli: no shared weights in $SHARED: two images x two tasks, convert and compare not checked"; fi

if [ $have_shared = 1 ]; then
# both tasks, two images (one PNG, one raw): names get .<stem>.<task>
cp "$SHARED/image.float32.bin" "$T/shared.float32.bin"
$EM run --model "$SHARED" --image "$T/sample.png" --image "$T/shared.float32.bin" --task all --engine fast \
    --features "$T/feat.bin" --out "$T/png2" --json >"$T/json2" 2>"$T/err2"
check "two images x two tasks exit 0" [ $? -eq 0 ]
for s in sample shared; do for t in semseg depth; do
    check "features name $s.$t" size_is "$T/feat.$s.$t.bin" $((129 * 192 * 4))
done; done
check "depth colour + 16-bit PNG" test -s "$T/png2/shared_depth.png" -a -s "$T/png2/shared_depth16.png"
# the panel: input | overlay + legend | depth, 3 model-size panels wide
panel_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print ($1*16777216+$2*65536+$3*256+$4) "x" ($5*16777216+$6*65536+$7*256+$8)}'; }
check "one panel PNG per image, three panels wide ($(panel_size "$T/png2/shared_panel.png"))" \
    bash -c "[ -s '$T/png2/shared_panel.png' ] && [ \$(ls '$T/png2' | grep -c _panel.png) -eq 2 ] && [ '$(panel_size "$T/png2/shared_panel.png" | cut -dx -f1)' = 768 ]"
check "four JSON lines" [ "$(wc -l <"$T/json2")" -eq 4 ]
check "16-bit depth PNG is 16-bit grey" bash -c "file '$T/png2/shared_depth16.png' 2>/dev/null | grep -q '16-bit' || od -An -tx1 -j24 -N2 '$T/png2/shared_depth16.png' | grep -q '10 00'"
fi

# a directory of images
mkdir -p "$T/dir"; cp "$T/sample.png" "$T/dir/a.png"; cp "$T/sample.png" "$T/dir/b.png"; echo x >"$T/dir/notes.txt"
$EM run --image "$T/dir" --task depth --engine fast --routing "$T/rr.bin" 2>"$T/err3"
check "directory: one routing file per image" test -s "$T/rr.a.depth.bin" -a -s "$T/rr.b.depth.bin"
check "directory: images/s reported" grep -q "images/s" "$T/err3"
check "no progress bar when stderr is not a terminal" bash -c "! grep -q '\[#' '$T/err3'"
script -qec "$EM run --image '$T/dir' --task depth --engine fast" /dev/null >"$T/tty" 2>&1
check "progress bar when stderr is a terminal" grep -q '\[##############################\] 2/2' "$T/tty"

if [ $have_shared = 1 ]; then
# convert: the Edge-MoE directory and its safetensors give bit-identical results
$EM convert "$SHARED" "$T/m.safetensors" 2>/dev/null
check "convert writes a safetensors file" test -s "$T/m.safetensors"
$EM run --model "$T/m.safetensors" --image "$T/shared.float32.bin" --task depth --engine fast --features "$T/fs.bin" 2>/dev/null
check "safetensors model gives the directory's features bit for bit" cmp -s "$T/fs.bin" "$T/feat.shared.depth.bin"
expect_error "convert to an unwritable place" "cannot" $EM convert "$SHARED" /nonexistent/dir/m.safetensors

# compare: fixed vs ref per block, JSON form
$EM compare --model "$SHARED" --image "$T/shared.float32.bin" --task semseg --json >"$T/cmp.json" 2>/dev/null
/usr/bin/python3 - "$T/cmp.json" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read())
st = {s["stage"]: s for s in j["stages"]}
ok = len(j["stages"]) == 13 and st["block11"]["mse"] <= 3e-2 and j["routing"]["agree"] >= 0.97
print(("PASS" if ok else "FAIL") + ": compare --json: 13 stages, block11 mse %.3g, routing %.4f" % (st["block11"]["mse"], j["routing"]["agree"]))
PY
fi
expect_error "compare: unknown task" "unknown task" $EM compare --image "$T/sample.png" --task normals

# bad input: one line, non-zero, nothing written
head -c 300 "$T/sample.png" >"$T/trunc.png"
mkdir -p "$T/o"
expect_error "truncated PNG" "trunc.png" $EM run --image "$T/sample.png" --image "$T/trunc.png" --engine ref \
    --features "$T/o/f.bin" --out "$T/o/png"
check "truncated PNG leaves no output" empty_dir "$T/o"
printf '\xff\xd8\xff\xe0\x00\x10JFIF' >"$T/trunc.jpg"
expect_error "truncated JPEG" "trunc.jpg" $EM run --image "$T/trunc.jpg" --engine ref --features "$T/o/f.bin"
head -c 1000 /dev/zero >"$T/short.bin"
expect_error "raw image of the wrong size" "short.bin" $EM run --image "$T/short.bin" --engine ref --features "$T/o/f.bin"
expect_error "missing image" "nope.png" $EM run --image "$T/nope.png" --engine ref
expect_error "unknown task" "unknown task 'normals'" $EM run --image "$T/sample.png" --task normals
expect_error "unknown engine" "unknown engine 'gpu'" $EM run --image "$T/sample.png" --engine gpu
expect_error "missing model" "missing tensor" $EM run --model "$T/dir" --image "$T/sample.png" --features "$T/o/f.bin"
expect_error "bad thread count" "--threads" $EM run --image "$T/sample.png" --threads many
expect_error "unknown option" "unknown option" $EM run --image "$T/sample.png" --frobnicate
check "failed runs leave no output" empty_dir "$T/o"
exit 0
