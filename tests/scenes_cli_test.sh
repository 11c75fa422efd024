#!/usr/bin/env bash
# The `edgemoe scenes` contract: the dataset layout and file shapes, the same
# bytes for any thread count and for --start, val differs from train, and bad
# arguments refused with one line, a non-zero exit and nothing written.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_scenes.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh

$EM scenes --out "$T/a" --count 5 --size 64x32 --seed 3 --threads 2 >"$T/out" 2>"$T/err"
check "scenes exits 0" [ $? -eq 0 ]
check "no output on stdout, no progress line off a terminal" [ ! -s "$T/out" -a ! -s "$T/err" ]
for k in image label_7 depth; do
    check "$k: 5 .npy files" [ "$(ls "$T/a/train/$k" | grep -c '^[0-4]\.npy$')" -eq 5 ]
done
check "preview: 5 PNGs" [ "$(ls "$T/a/train/preview" | grep -c '^[0-4]\.png$')" -eq 5 ]
check "nothing else written (no temporary files)" [ "$(find "$T/a" -type f | wc -l)" -eq 20 ]
/usr/bin/python3 - "$T/a/train" <<'PY'
import sys, struct, zlib
import numpy as np
d = sys.argv[1]
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
img = np.load(d + "/image/0.npy"); lab = np.load(d + "/label_7/0.npy"); dep = np.load(d + "/depth/0.npy")
check(img.dtype == np.float32 and img.shape == (32, 64, 3), "image: float32 H x W x 3 (%s %s)" % (img.dtype, img.shape))
check(lab.dtype == np.float32 and lab.shape == (32, 64), "label_7: float32 H x W (%s %s)" % (lab.dtype, lab.shape))
check(dep.dtype == np.float32 and dep.shape == (32, 64, 1), "depth: float32 H x W x 1 (%s %s)" % (dep.dtype, dep.shape))
v = img * 255
check(img.min() >= 0 and img.max() <= 1 and np.abs(v - np.round(v)).max() < 1e-4, "image values are v/255 for 8-bit v")
check(set(np.unique(lab)).issubset(set(range(-1, 7))), "labels are class ids 0..6 or -1")
check(np.all((dep[..., 0] == 0) == ((lab == 4) | (lab == -1))) and dep.max() <= 250, "depth 0 exactly on sky and ignore pixels, <= 250 m")
png = open(d + "/preview/0.png", "rb").read()
w, h = struct.unpack(">II", png[16:24])
check(png[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (192, 32), "preview: PNG of 3W x H (%d x %d)" % (w, h))
PY

# the same bytes on 1 thread, and scenes 3..4 alone with --start
$EM scenes --out "$T/b" --count 5 --size 64x32 --seed 3 --threads 1 2>"$T/err"
check "1 thread gives the bytes of 2 threads" diff -r "$T/a" "$T/b"
$EM scenes --out "$T/c" --count 2 --start 3 --size 64x32 --seed 3 2>"$T/err"
check "--start 3 --count 2 writes 3 and 4, equal to the full run's" \
    bash -c "[ \$(ls '$T/c/train/image' | wc -l) -eq 2 ] && cmp -s '$T/c/train/image/3.npy' '$T/a/train/image/3.npy' && cmp -s '$T/c/train/depth/4.npy' '$T/a/train/depth/4.npy'"
$EM scenes --out "$T/c" --count 2 --split val --size 64x32 --seed 3 2>"$T/err"
check "--split val writes DIR/val, different from train" \
    bash -c "[ -f '$T/c/val/label_7/0.npy' ] && ! cmp -s '$T/c/val/image/0.npy' '$T/a/train/image/0.npy'"
$EM scenes --out "$T/d" --count 1 2>"$T/err"
check "defaults: 256x128" bash -c "/usr/bin/python3 -c \"import numpy as np; assert np.load('$T/d/train/image/0.npy').shape == (128, 256, 3)\""

# bad arguments: one line, non-zero exit, nothing written
expect_error "--out missing" "out" $EM scenes --count 2
expect_error "--count 0" "count" $EM scenes --out "$T/e" --count 0
expect_error "--count -1" "count" $EM scenes --out "$T/e" --count -1
expect_error "--count abc" "count" $EM scenes --out "$T/e" --count abc
expect_error "--split test" "split" $EM scenes --out "$T/e" --split test
expect_error "--seed 1.5" "seed" $EM scenes --out "$T/e" --seed 1.5
expect_error "--size 256" "size" $EM scenes --out "$T/e" --size 256
expect_error "--size 8x8" "size" $EM scenes --out "$T/e" --size 8x8
expect_error "--size 256x128x3" "size" $EM scenes --out "$T/e" --size 256x128x3
expect_error "--start x" "start" $EM scenes --out "$T/e" --start x
expect_error "--threads 5000" "threads" $EM scenes --out "$T/e" --threads 5000
expect_error "unknown option" "unknown option" $EM scenes --out "$T/e" --colour red
expect_error "option without value" "needs a value" $EM scenes --out "$T/e" --count
check "nothing written for bad arguments" [ ! -e "$T/e" ]
touch "$T/file"
expect_error "--out is a file" "not a directory" $EM scenes --out "$T/file" --count 1
# a failure in the middle (an output name taken by a directory): the files and
# directories this run made are removed, earlier files are kept
mkdir -p "$T/f/train/image/2.npy"
expect_error "unwritable output" "2.npy" $EM scenes --out "$T/f" --count 4 --size 32x16 --threads 1
check "failed run: no files left, its directories removed" \
    bash -c "[ \$(find '$T/f' -type f | wc -l) -eq 0 ] && [ ! -e '$T/f/train/depth' ] && [ -d '$T/f/train/image/2.npy' ]"
$EM scenes --out "$T/g" --count 1 --size 32x16 2>/dev/null
cp "$T/g/train/image/0.npy" "$T/keep.npy"
mkdir -p "$T/g/train/image/1.npy"
$EM scenes --out "$T/g" --count 2 --size 32x16 --threads 1 2>/dev/null
check "failed run keeps the files an earlier run wrote" cmp -s "$T/g/train/image/0.npy" "$T/keep.npy"
# another dataset in the way (e.g. the real Cityscapes data): never overwritten
mkdir -p "$T/h/val/label_7" && echo "someone's labels" >"$T/h/val/label_7/1.npy"
expect_error "an existing dataset file is refused" "1.npy exists" $EM scenes --out "$T/h" --split val --count 3 --size 32x16
check "the existing file is untouched and nothing was written" \
    bash -c "[ \"\$(cat '$T/h/val/label_7/1.npy')\" = \"someone's labels\" ] && [ \$(find '$T/h' -type f | wc -l) -eq 1 ]"
$EM scenes --out "$T/i" --count 2 --size 32x16 2>/dev/null
cp "$T/i/train/depth/1.npy" "$T/d1.npy"
$EM scenes --out "$T/i" --count 2 --size 32x16 --overwrite 2>/dev/null
check "--overwrite regenerates the same bytes" cmp -s "$T/i/train/depth/1.npy" "$T/d1.npy"
