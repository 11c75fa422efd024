#!/usr/bin/env bash
# edgemoe eval end to end on tiny datasets made here with numpy:
# - labels = argmax of the model's own logits (from `edgemoe run --logits`)
#   give mIoU 1 and pixel accuracy 1 (ignore pixels included); depth = the
#   model's own positive outputs gives rel_err 0; depth = |output| gives the
#   numbers numpy computes from the outputs;
# - the same data as PNG (image RGB, labels 8-bit, depth 16-bit mm) gives the
#   same metrics as the .npy files; samples in numeric order; --limit;
# - --compare (fast vs fixed, fast vs ref) reports both engines, agreement and
#   routing; --json / --per-image parse; the table prints;
# - malformed inputs refused with one line naming the file, nothing written.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM="$BUILD/edgemoe"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/em_eval_test.XXXXXX)
[ -n "${EM_KEEP_TMP:-}" ] || trap 'rm -rf "$T"' EXIT   # EM_KEEP_TMP=1 keeps it for debugging
. tests/cli_lib.sh

if [ ! -x "$EM" ]; then fail "$EM not built"; exit 1; fi

# ---- 1. images (npy, v/255) and the model's own outputs on them ----
mkdir -p "$T/bins"
$PY - "$T" <<'EOF'
import os, sys
import numpy as np
T = sys.argv[1]
rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:128, 0:256]
for i in (1, 2, 10):  # numeric order 1, 2, 10 (not 1, 10, 2)
    f = rng.uniform(0.01, 0.08, 3)
    ph = rng.uniform(0, 6.3, 3)
    img = np.stack([127.5 + 120 * np.sin(f[c] * (xx + 2 * yy) + ph[c]) for c in range(3)], -1)
    img += rng.normal(0, 12, img.shape)
    v = np.clip(np.round(img), 0, 255).astype(np.uint8)           # H x W x 3, 8-bit
    np.save(os.path.join(T, "v%d.npy" % i), v)
    # the model input eval must build from x = v/255: v/256, CHW
    (v.transpose(2, 0, 1).astype(np.float32) / 256).tofile(os.path.join(T, "bins", "%d.bin" % i))
EOF
"$EM" run --image "$T/bins" --task all --logits "$T/L.bin" >/dev/null 2>"$T/run.err"
check "edgemoe run wrote the logits of 3 images" test -f "$T/L.10.semseg.bin" -a -f "$T/L.10.depth.bin"

# ---- 2. datasets: npy (A), the same with depth rounded to mm (M), PNG images/labels/depth
#      holding M's values (B), depth = |output| (C); bad files later ----
$PY - "$T" <<'EOF'
import os, struct, sys, zlib
import numpy as np
T = sys.argv[1]
H, W, C = 128, 256, 7

def png(path, a):
    """Minimal PNG writer: 8-bit RGB (h, w, 3) uint8, 8-bit gray uint8, 16-bit gray uint16."""
    a = np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        depth, ctype, raw = 16, 0, a.astype(">u2")
    else:
        depth, ctype, raw = 8, (2 if a.ndim == 3 else 0), a
    h, w = a.shape[:2]
    rows = raw.reshape(h, -1).view(np.uint8)
    data = b"".join(b"\0" + rows[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))

rng = np.random.default_rng(8)
expect = {"A": {}, "C": {}}
labs, deps, absd = [], [], []
for d in "ABCM":
    for sub in ("image", "label_7", "depth"):
        os.makedirs(os.path.join(T, d, "val", sub), exist_ok=True)
for i in (1, 2, 10):
    v = np.load(os.path.join(T, "v%d.npy" % i))
    logits = np.fromfile(os.path.join(T, "L.%d.semseg.bin" % i), np.float32).reshape(C, H, W)
    dep = np.fromfile(os.path.join(T, "L.%d.depth.bin" % i), np.float32).reshape(H, W)
    label = logits.argmax(0).astype(np.float32)
    label[rng.random((H, W)) < 0.05] = -1                         # ignore pixels
    own = np.where(dep > 0, dep, 0).astype(np.float32)             # the model's own depth where valid
    own_mm = (np.round(own.astype(np.float64) * 1000) / 1000).astype(np.float32)  # what a mm PNG holds
    x = (v.astype(np.float32) / 255).astype(np.float32)
    for d, depth in (("A", own), ("M", own_mm), ("C", np.abs(dep))):
        np.save(os.path.join(T, d, "val", "image", "%d.npy" % i), x)
        np.save(os.path.join(T, d, "val", "label_7", "%d.npy" % i), label)
        np.save(os.path.join(T, d, "val", "depth", "%d.npy" % i), depth[..., None].astype(np.float32))
    png(os.path.join(T, "B", "val", "image", "%d.png" % i), v)
    png(os.path.join(T, "B", "val", "label_7", "%d.png" % i), np.where(label < 0, 255, label).astype(np.uint8))
    png(os.path.join(T, "B", "val", "depth", "%d.png" % i), np.round(own.astype(np.float64) * 1000).astype(np.uint16))
    labs.append((label, logits.argmax(0)))
    deps.append((dep, own))
    absd.append(dep)
# numpy's numbers for dataset C (gt = |p|): error 2|p| where p < 0, 0 where p > 0
p = np.concatenate([a.ravel() for a in absd]).astype(np.float64)
g = np.abs(p)
m = g > 0
e = np.abs(p[m] - g[m])
ratio_ok = (p[m] > 0) & (np.maximum(p[m] / g[m], g[m] / np.where(p[m] > 0, p[m], 1)) < 1.25)
with open(os.path.join(T, "expect_C.txt"), "w") as f:
    f.write("%.17g %.17g %.17g %.17g %d\n" % (e.mean(), (e / g[m]).mean(), np.sqrt((e * e).mean()), ratio_ok.mean(), m.sum()))
with open(os.path.join(T, "valid_A.txt"), "w") as f:
    f.write("%d %d\n" % (sum(int((l >= 0).sum()) for l, _ in labs), sum(int((o > 0).sum()) for _, o in deps)))
EOF

# ---- 3. the model's own predictions score perfectly ----
"$EM" eval --data "$T/A" --json >"$T/A.json" 2>"$T/A.err"
check "eval on A exits 0" test $? -eq 0
read -r NSEG NDEP <"$T/valid_A.txt"
jq() { $PY -c "import json,sys; j=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(eval(sys.argv[2]))" "$@"; }
check "own argmax labels: mIoU 1, pixel acc 1 ($(jq "$T/A.json" 'j["semseg"]["miou"], j["semseg"]["pixel_acc"]'))" \
    test "$(jq "$T/A.json" 'j["semseg"]["miou"] == 1.0 and j["semseg"]["pixel_acc"] == 1.0')" = True
check "ignore pixels not counted: $NSEG valid pixels" test "$(jq "$T/A.json" 'j["semseg"]["pixels"]')" = "$NSEG"
check "own depth: rel_err 0, delta1 1 on $NDEP pixels ($(jq "$T/A.json" 'j["depth"]'))" \
    test "$(jq "$T/A.json" 'j["depth"]["rel_err"] < 1e-6 and j["depth"]["abs_err"] < 1e-7 and j["depth"]["delta1"] == 1.0 and j["depth"]["depth_pixels"] == '"$NDEP"' and '"$NDEP"' > 0')" = True
check "A: 3 samples, engine fast, images/s > 0" test "$(jq "$T/A.json" 'j["samples"] == 3 and j["engine"] == "fast" and j["images_per_s"] > 0')" = True

# ---- 4. PNG dataset gives the same numbers ----
"$EM" eval --data "$T/B" --json >"$T/B.json" 2>"$T/B.err"
"$EM" eval --data "$T/M" --json >"$T/M.json" 2>"$T/M.err"
check "PNG image/labels/depth give the same metrics as the npy files ($(jq "$T/B.json" 'j["depth"]["rel_err"]'))" \
    $PY -c "import json,sys; a,m,b=[json.loads(open(f).read()) for f in sys.argv[1:]]; sys.exit(0 if a['semseg']==b['semseg']==m['semseg'] and m['depth']==b['depth'] and b['depth']['depth_pixels'] > 0 else 1)" "$T/A.json" "$T/M.json" "$T/B.json"

# ---- 5. depth = |output|: numpy's numbers ----
"$EM" eval --data "$T/C" --task depth --json >"$T/C.json" 2>/dev/null
read -r EABS EREL ERMSE ED1 EN <"$T/expect_C.txt"
check "depth = |output|: abs/rel/rmse/delta1 equal numpy's ($EABS $EREL $ERMSE $ED1)" \
    test "$(jq "$T/C.json" 'abs(j["depth"]["abs_err"]-'"$EABS"') < 1e-9 and abs(j["depth"]["rel_err"]-'"$EREL"') < 1e-9 and abs(j["depth"]["rmse"]-'"$ERMSE"') < 1e-9 and abs(j["depth"]["delta1"]-'"$ED1"') < 1e-12 and j["depth"]["depth_pixels"] == '"$EN"' and "semseg" not in j')" = True

# ---- 6. per-image, order, limit, table ----
"$EM" eval --data "$T/A" --json --per-image --task semseg >"$T/pi.json" 2>/dev/null
check "--per-image: 3 image objects in numeric order (1, 2, 10), each mIoU 1, then the set" \
    $PY -c "
import json,sys
L=[json.loads(l) for l in open(sys.argv[1])]
ok=len(L)==4 and [o['sample'] for o in L[:3]]==['1','2','10'] and [o['index'] for o in L[:3]]==[0,1,2]
ok=ok and all(o['semseg']['miou']==1.0 for o in L[:3]) and 'samples' in L[3] and 'depth' not in L[3]
sys.exit(0 if ok else 1)" "$T/pi.json"
"$EM" eval --data "$T/A" --limit 2 --json >"$T/lim.json" 2>/dev/null
check "--limit 2 evaluates 2 samples" test "$(jq "$T/lim.json" 'j["samples"]')" = 2
"$EM" eval --data "$T/A" --limit 1 >"$T/table.txt" 2>"$T/table.err"
check "table: per-class IoU, mIoU 1.0000, pixel acc, depth rows, images/s" \
    bash -c "grep -q '^  vehicle ' '$T/table.txt' && grep -Eq '^  mIoU +1\.0000' '$T/table.txt' && grep -q 'pixel acc' '$T/table.txt' && grep -q 'rel err' '$T/table.txt' && grep -q 'images/s' '$T/table.txt' && grep -q 'images/s' '$T/table.err'"
check "no progress bar when stderr is not a terminal" bash -c "! grep -q '\[#' '$T/table.err'"

# ---- 7. --compare ----
"$EM" eval --data "$T/A" --limit 1 --compare fixed --json >"$T/cmpfx.json" 2>/dev/null
check "--compare fixed: both engines, diff, agreement, routing ($(jq "$T/cmpfx.json" 'j["compare"]["routing"]["semseg"]["agreement"], j["compare"]["semseg_pred_agreement"]'))" \
    test "$(jq "$T/cmpfx.json" 'j["compare"]["engine"] == "fixed" and "miou" in j["compare"]["semseg"] and "abs_err" in j["compare"]["depth"] and abs(j["compare"]["diff"]["miou"] - (j["compare"]["semseg"]["miou"] - j["semseg"]["miou"])) < 1e-12 and j["compare"]["routing"]["semseg"]["total"] == 6*129*2 and j["compare"]["routing"]["depth"]["set_total"] == 6*129 and 0.9 < j["compare"]["routing"]["semseg"]["agreement"] <= 1 and 0.9 < j["compare"]["routing"]["depth"]["set_agreement"] <= 1 and j["compare"]["semseg_pred_agreement"] > 0.9')" = True
# expert usage and the datapath's wrap counters over the set
"$EM" eval --data "$T/A" --limit 1 --engine fixed --json >"$T/usefx.json" 2>/dev/null
"$EM" run --engine fixed --task semseg --image "$T/bins/1.bin" --routing "$T/r1.bin" >/dev/null 2>&1
check "experts: per task and MoE layer, token slots = the routing's bincount, used and max share follow" \
    $PY -c "
import json, sys, numpy as np
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
r = np.fromfile(sys.argv[2], '<i4').reshape(6, 129, 2)
L = j['experts']['semseg']
ok = [l['layer'] for l in L] == [1, 3, 5, 7, 9, 11] and len(j['experts']['depth']) == 6
for k, l in enumerate(L):
    t = np.array(l['tokens'])
    ok &= np.array_equal(t, np.bincount(r[k].ravel(), minlength=16)) and l['used'] == (t > 0).sum()
    ok &= abs(l['max_share'] - t.max() / t.sum()) < 1e-12
sys.exit(0 if ok else 1)" "$T/usefx.json" "$T/r1.bin"
check "datapath counters (fixed): stores > 0, wraps = the sum over ops, weight wraps reported" \
    test "$(jq "$T/usefx.json" 'j["datapath"]["stores"] > 0 and j["datapath"]["wraps"] == sum(o["wraps"] for o in j["datapath"]["ops"].values()) and j["datapath"]["stores"] == sum(o["stores"] for o in j["datapath"]["ops"].values()) and "weight_quant_wraps" in j["datapath"]')" = True
check "no datapath counters for the float engine" test "$(jq "$T/A.json" '"datapath" not in j and "experts" in j')" = True
"$EM" eval --data "$T/A" --limit 1 --task semseg --engine ref --compare fast --json >"$T/cmpref.json" 2>/dev/null
check "--compare: ref vs fast agree (logit MAE $(jq "$T/cmpref.json" 'j["compare"]["semseg_logit_mae"]'), routing $(jq "$T/cmpref.json" 'j["compare"]["routing"]["semseg"]["agreement"]'))" \
    test "$(jq "$T/cmpref.json" 'j["engine"] == "ref" and j["compare"]["engine"] == "fast" and j["compare"]["semseg_logit_mae"] < 1e-3 and j["compare"]["routing"]["semseg"]["agreement"] >= 0.99 and j["compare"]["semseg_pred_agreement"] > 0.999 and abs(j["compare"]["diff"]["miou"]) < 0.01 and j["semseg"]["miou"] == 1.0')" = True
"$EM" eval --data "$T/A" --limit 1 --task depth --compare fast >"$T/cmptab.txt" 2>/dev/null
check "--compare fast vs fast: identical, table shows routing 100.00%" grep -q 'routing depth: 100.00%' "$T/cmptab.txt"

# ---- 8. malformed inputs: one line naming the file, non-zero exit, nothing written ----
mkbad() { rm -rf "$T/X"; cp -r "$T/A" "$T/X"; }
# the malformed .npy files, written by one python run: $T/bad/NAME is
# dataset A with one file replaced
$PY - "$T" <<'EOF'
import os, shutil, sys
import numpy as np
T = sys.argv[1]
z = np.zeros((128, 256, 3), "<f4")
bad = {"f8": ("image/2.npy", z.astype("<f8")), "be": ("image/2.npy", z.astype(">f4")),
       "u1": ("image/2.npy", z.astype("|u1")), "fortran": ("image/2.npy", np.asfortranarray(z)),
       "chw": ("image/2.npy", np.zeros((3, 128, 256), "<f4")), "nan": ("image/2.npy", np.full(z.shape, np.nan, "<f4")),
       "rank3": ("label_7/10.npy", np.zeros((128, 256, 1), "<f4")), "lab7": ("label_7/10.npy", np.full((128, 256), 7, "<f4")),
       "lab05": ("label_7/10.npy", np.full((128, 256), 0.5, "<f4")), "labm2": ("label_7/10.npy", np.full((128, 256), -2, "<f4")),
       "dneg": ("depth/1.npy", np.full((128, 256, 1), -1, "<f4")), "dinf": ("depth/1.npy", np.full((128, 256, 1), np.inf, "<f4")),
       "drank2": ("depth/1.npy", np.zeros((128, 256), "<f4"))}
for name, (rel, a) in bad.items():
    shutil.copytree(os.path.join(T, "A"), os.path.join(T, "bad", name))
    np.save(os.path.join(T, "bad", name, "val", rel), a)
EOF
# badnpy NAME CHECK PATTERN: eval on $T/bad/NAME refused with one line matching PATTERN
badnpy() { expect_error "$2" "bad/$1/val/$3" "$EM" eval --data "$T/bad/$1"; }
badnpy f8 "image float64 refused" "image/2.npy.*'<f8'"
badnpy be "image big-endian refused" "image/2.npy.*'>f4'"
badnpy u1 "image uint8 refused" "image/2.npy.*'|u1'"
badnpy fortran "image Fortran order refused" "image/2.npy.*Fortran"
badnpy chw "image CHW shape refused" "image/2.npy.*shape (3, 128, 256)"
badnpy nan "image NaN refused" "image/2.npy.*NaN"
mkbad; head -c 1000 "$T/A/val/image/2.npy" >"$T/X/val/image/2.npy"
expect_error "truncated image refused" "X/val/image/2.npy.*truncated" "$EM" eval --data "$T/X"
mkbad; printf 'not an npy file at all' >"$T/X/val/label_7/10.npy"
expect_error "label bad magic refused" "X/val/label_7/10.npy.*magic" "$EM" eval --data "$T/X"
badnpy rank3 "label rank 3 refused" "label_7/10.npy.*rank"
badnpy lab7 "label 7 (out of range) refused" "label_7/10.npy.*label 7 "
badnpy lab05 "label 0.5 refused" "label_7/10.npy.*label 0.5"
badnpy labm2 "label -2 refused" "label_7/10.npy.*label -2"
badnpy dneg "negative depth refused" "depth/1.npy.*depth -1"
badnpy dinf "infinite depth refused" "depth/1.npy.*depth inf"
badnpy drank2 "depth rank 2 refused" "depth/1.npy.*rank"
mkbad; rm "$T/X/val/depth/10.npy"
expect_error "missing depth file refused" "X/val/depth/10.npy.*missing" "$EM" eval --data "$T/X"
"$EM" eval --data "$T/X" --task semseg --json >/dev/null 2>&1
check "missing depth is fine for --task semseg" test $? -eq 0
mkbad; cp "$T/B/val/image/1.png" "$T/X/val/label_7/1.png"; rm "$T/X/val/label_7/1.npy"
expect_error "RGB label PNG refused" "X/val/label_7/1.png.*8-bit RGB, expected 8-bit gray" "$EM" eval --data "$T/X"
mkbad; cp "$T/B/val/label_7/1.png" "$T/X/val/depth/1.png"; rm "$T/X/val/depth/1.npy"
expect_error "8-bit depth PNG refused" "X/val/depth/1.png.*8-bit gray, expected 16-bit gray" "$EM" eval --data "$T/X"
mkbad; head -c 200 "$T/B/val/label_7/2.png" >"$T/X/val/label_7/2.png"; rm "$T/X/val/label_7/2.npy"
expect_error "truncated label PNG refused" "X/val/label_7/2.png.*truncated" "$EM" eval --data "$T/X"
mkbad; rm "$T"/X/val/image/*
expect_error "no images refused" "X/val/image.*no <i>.npy" "$EM" eval --data "$T/X"
expect_error "missing split refused" "X/train.*no such split" "$EM" eval --data "$T/X" --split train
expect_error "missing data dir refused" "nope.*no such dataset" "$EM" eval --data "$T/nope"
expect_error "no --data refused" "no --data" "$EM" eval
expect_error "--limit 0 refused" "limit" "$EM" eval --data "$T/A" --limit 0
expect_error "unknown engine refused" "unknown engine 'gpu'" "$EM" eval --data "$T/A" --engine gpu
expect_error "unknown compare engine refused" "compare.*unknown engine 'x'" "$EM" eval --data "$T/A" --compare x
expect_error "unknown task refused" "unknown task 'edges'" "$EM" eval --data "$T/A" --task edges
expect_error "--per-image without --json refused" "per-image needs --json" "$EM" eval --data "$T/A" --per-image
expect_error "unknown option refused" "unknown option '--out'" "$EM" eval --data "$T/A" --out "$T/o"
check "eval wrote no files (dataset A unchanged, no output dir)" \
    bash -c "[ \$(find '$T/A' -type f | wc -l) -eq 9 ] && [ ! -e '$T/o' ]"
