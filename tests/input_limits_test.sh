#!/usr/bin/env bash
# Inputs that must not hang edgemoe, cost it gigabytes, or make it print
# something misleading (docs/safety.md): FIFOs given as inputs, safetensors
# files that claim far more than they hold, weights that overflow float32,
# file names with control characters or bytes that are not UTF-8.
set -u
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_limits.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
PY=/usr/bin/python3
$EM sample-image "$T/in.png"
RUN="$EM run --engine fast --task semseg"

# 5. a FIFO (nobody writing) as an input is refused at once, never waited on
mkfifo "$T/fifo.png" "$T/fifo.safetensors" "$T/fifo.json"
mkdir "$T/dir"
cp "$T/in.png" "$T/dir/a.png"
mkfifo "$T/dir/b.png"
expect_error "FIFO as --image" "is a FIFO, not a regular file" timeout 20 $RUN --image "$T/fifo.png"
expect_error "FIFO inside an image directory" "b.png: the image is a FIFO" timeout 20 $RUN --image "$T/dir"
expect_error "FIFO as --model" "is a FIFO, not a regular file" timeout 20 $RUN --model "$T/fifo.safetensors" --image "$T/in.png"
expect_error "FIFO as sim --config" "is a FIFO, not a regular file" timeout 20 $EM sim --image "$T/in.png" --config "$T/fifo.json"
expect_error "FIFO as --formats" "format set is a FIFO" timeout 20 $EM run --engine fixed --formats "$T/fifo.json" --image "$T/in.png"
mkdir -p "$T/data/val/image" "$T/data/val/label_7" "$T/data/val/depth"
mkfifo "$T/data/val/image/0.npy"
expect_error "FIFO inside a dataset" "is a FIFO, not a regular file" timeout 20 $EM eval --data "$T/data" --limit 1
SHARED=../shared/m3vit-edgemoe
if [ -d "$SHARED" ] && ls "$SHARED"/*.float32.bin >/dev/null 2>&1; then
    mkdir "$T/mdir"
    ln -s "$(cd "$SHARED" && pwd)"/*.float32.bin "$T/mdir/"
    rm "$T/mdir/l4_fc1_weight.float32.bin"
    mkfifo "$T/mdir/l4_fc1_weight.float32.bin"
    expect_error "FIFO as one tensor file of a model directory" "l4_fc1_weight.float32.bin: the tensor is a FIFO" \
        timeout 20 $RUN --model "$T/mdir" --image "$T/in.png"
else
    echo "SKIP: $SHARED (Edge-MoE layout) missing: FIFO in a model directory not tested"
fi

# 6. a tiny safetensors file claiming a huge model: refused before memory is
# taken (run under a 1 GB address-space cap: the old loader took 9 GB)
$PY - "$T" <<'EOF'
import json, struct, sys
def st(name, hdr):
    h = json.dumps(hdr).encode()
    open(sys.argv[1] + "/" + name, "wb").write(struct.pack("<Q", len(h)) + h)
pe = {"dtype": "F32", "shape": [0, 6144], "data_offsets": [0, 0]}
st("pos0.safetensors", {"pos_embed": pe})
h = json.dumps({"__metadata__": {"edgemoe.config": json.dumps({"dim": 2048, "n_heads": 8, "head_dim": 256,
    "mlp_hidden": 8192})}, "pos_embed": {"dtype": "F16", "shape": [129, 2048], "data_offsets": [0, 129 * 2048 * 2]}}).encode()
open(sys.argv[1] + "/meta.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + bytes(129 * 2048 * 2))
st("intmax.safetensors", {"__metadata__": {"edgemoe.config": json.dumps({"dim": 2147483647, "n_heads": 1,
   "head_dim": 2147483647})}, "pos_embed": pe})
st("nul.safetensors", {"pos_embed": {"dtype": "F32\u0000x", "shape": [0], "data_offsets": [0, 0]}})
EOF
# 1 GB: an address-space cap, or under AddressSanitizer (which reserves
# terabytes of shadow) its allocator's limit, returning NULL past it
if grep -q __asan_init "$EM" 2>/dev/null; then
    capped() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_limit_mb=1000:allocator_may_return_null=1" "$@"; }
else
    capped() { (ulimit -v 1000000; "$@"); }
fi
expect_error "80-byte file, pos_embed [0, 6144]: over the weight limit" "more than the limit" \
    capped $RUN --model "$T/pos0.safetensors" --image "$T/in.png"
expect_error "config of 600 M weights, a file holding one tensor: refused before the arena (2.4 GB)" "missing tensor" \
    capped $RUN --model "$T/meta.safetensors" --image "$T/in.png"
expect_error "dimensions near INT_MAX: a limit named, with the path" "intmax.safetensors: inconsistent config: dim 2147483647" \
    capped $RUN --model "$T/intmax.safetensors" --image "$T/in.png"
expect_error "dtype \"F32\\u0000x\" refused" "escaped NUL" $RUN --model "$T/nul.safetensors" --image "$T/in.png"

# 11. weights that overflow float32: an error naming the first stage, no output
$EM convert synthetic "$T/syn.safetensors" 2>/dev/null
$PY - "$T" <<'EOF'
import json, struct, sys
import numpy as np
d = sys.argv[1]
b = open(d + "/syn.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
for keys, out in ((["l2_norm1_weight"], "huge_norm"), (["head_semseg_bn3_weight", "head_semseg_conv4_weight"], "huge_head")):
    data = bytearray(b[8 + n:])
    for key in keys:
        s, e = h[key]["data_offsets"]
        data[s:e] = (np.frombuffer(bytes(data[s:e]), "<f4").astype(np.float64) * 1e30).astype("<f4").tobytes()
    open("%s/%s.safetensors" % (d, out), "wb").write(b[:8 + n] + bytes(data))
EOF
for e in fast ref; do
    expect_error "$e engine, LayerNorm weight x 1e30: the stage named" "first overflows at stage 'block2'" \
        $EM run --engine $e --model "$T/huge_norm.safetensors" --image "$T/in.png" --task semseg --features "$T/f_$e.bin"
    check "$e engine: no features file written" test ! -e "$T/f_$e.bin"
    expect_error "$e engine, the head's last BatchNorm and class weights x 1e30: the head named" "stage 'head" \
        $EM run --engine $e --model "$T/huge_head.safetensors" --image "$T/in.png" --task semseg --out "$T/o_$e"
    check "$e engine: no --out directory left" test ! -e "$T/o_$e"
done

# 12. file names: one line whatever they hold, and JSON stays UTF-8
NL=$(printf 'a\nedgemoe: all fine')
expect_error "a newline in a file name stays on the one error line" 'a\\nedgemoe: all fine' $RUN --image "$NL"
$RUN --image "$(printf 'x\033[31my')" 2>"$T/esc.err"
check "control characters are escaped, not sent to the terminal" \
    test "$(grep -c $'\033' "$T/esc.err")" = 0 -a "$(grep -c 'x\\x1b\[31my' "$T/esc.err")" = 1
BAD=$T/$(printf 'n\377.png')
cp "$T/in.png" "$BAD"
$RUN --image "$BAD" --json >"$T/bad.json"
check "--json with a file name that is not UTF-8 is valid UTF-8 JSON" \
    $PY -c "import json,sys; json.loads(open(sys.argv[1], 'rb').read().decode('utf-8'))" "$T/bad.json"
