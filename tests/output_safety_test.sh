#!/usr/bin/env bash
# Output safety: a run never destroys or changes a file it did not create.
# Outputs are staged and put in place only when the whole run has succeeded
# (tools/outputs.h); inputs are never overwritten; a symlink's target is
# replaced, never the link; devices and FIFOs are written in place, never
# replaced; failed runs leave nothing.
set -u
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_safe.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
same() { cmp -s "$1" "$2"; }
no_stage_files() { [ -z "$(find "$T" -name '.*.tmp' -print -quit)" ]; }

$EM sample-image "$T/in.png"
cp "$T/in.png" "$T/in.orig"

expect_error "output over the input image refused" "refusing to overwrite an input" \
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T/in.png"
check "the input image is unchanged" same "$T/in.png" "$T/in.orig"

expect_error "two outputs with one name refused" "two outputs of this run" \
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T/x.bin" --logits "$T/x.bin"
check "nothing written" test ! -e "$T/x.bin"

# a pre-existing output and a run that fails after staging it
echo "precious" >"$T/old.bin"
cp "$T/old.bin" "$T/old.orig"
expect_error "a later output in a missing directory fails the run" "cannot create" \
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T/old.bin" --logits "$T/nodir/l.bin"
check "the pre-existing file keeps its content after a failed run" same "$T/old.bin" "$T/old.orig"

# a symlink at the output path is followed: its target is replaced whole
# (atomically), the link stays a link; a dangling link is refused
echo "old target" >"$T/target"
ln -s "$T/target" "$T/link.bin"
$EM run --engine fast --image "$T/in.png" --task semseg --features "$T/link.bin" 2>/dev/null
check "the link is still a link" test -L "$T/link.bin"
check "its target holds the features" test "$(stat -c %s "$T/target")" = $((129 * 192 * 4))
ln -s "$T/nowhere" "$T/dangling.bin"
expect_error "a dangling symlink as output refused" "symbolic link to a missing file" \
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T/dangling.bin"
check "nothing created through the dangling link" test ! -e "$T/nowhere"

# directories created by a failed run are removed again
expect_error "failed run with --out" "two outputs of this run" \
    $EM run --engine fast --image "$T/in.png" --task semseg --out "$T/made/deep" --features "$T/y.bin" --logits "$T/y.bin"
check "directories the failed run created are gone" test ! -e "$T/made"

# convert onto its own input
$EM convert synthetic "$T/m.safetensors" 2>/dev/null
cp "$T/m.safetensors" "$T/m.orig"
expect_error "convert onto its input refused" "refusing to overwrite an input" $EM convert "$T/m.safetensors" "$T/m.safetensors"
check "the model file is unchanged" same "$T/m.safetensors" "$T/m.orig"

# ---- issue 15's cases (docs/safety.md) ----
F=$((129 * 192 * 4))  # bytes of one task's features

# 1. a character device or FIFO given as an output is written in place, never replaced
if mknod "$T/null" c 1 3 2>/dev/null; then
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T/null" 2>/dev/null
    check "run --features onto a device: exit 0, still a character device" test -c "$T/null"
    $EM sample-image "$T/null" && check "sample-image onto a device: still a character device" test -c "$T/null"
    $EM convert synthetic "$T/null" 2>/dev/null && check "convert onto a device: still a character device" test -c "$T/null"
else
    echo "SKIP: mknod not permitted here: device outputs not tested (FIFOs are)"
fi
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/fifo.out" &
reader=$!
$EM run --engine fast --image "$T/in.png" --task semseg --features "$T/fifo" 2>/dev/null; rc=$?
wait $reader
check "run --features onto a FIFO: exit 0, the reader got the features, still a FIFO" \
    test $rc -eq 0 -a -p "$T/fifo" -a "$(stat -c %s "$T/fifo.out")" = $F
$EM sample-image - >"$T/stdout.png" && $EM sample-image "$T/file.png"
check "sample-image - writes the PNG on standard output" cmp -s "$T/stdout.png" "$T/file.png"
expect_error "'-' refused where the command prints its report there" "prints its report" \
    $EM run --engine fast --image "$T/in.png" --task semseg --json --features -
expect_error "a directory as output refused" "is a directory" \
    $EM run --engine fast --image "$T/in.png" --task semseg --features "$T"

# 2. long paths: no fixed buffers cut them
D=$T/$(printf 'd%.0s' $(seq 200))/$(printf 'e%.0s' $(seq 200))/$(printf 'f%.0s' $(seq 200))/$(printf 'g%.0s' $(seq 200))/$(printf 'k%.0s' $(seq 200))
mkdir -p "$D"
LONG=$D/$(printf 'h%.0s' $(seq 200)).bin   # about 1230 characters, past the old 1100-byte buffer
echo "unrelated" >"${LONG:0:1099}"
cp "${LONG:0:1099}" "$T/unrelated.orig"
$EM run --engine fast --image "$T/in.png" --task semseg --features "$LONG" 2>/dev/null
check "output at a ${#LONG}-character path written whole" test "$(stat -c %s "$LONG")" = $F
check "the file named by the path's first 1099 characters is untouched" cmp -s "${LONG:0:1099}" "$T/unrelated.orig"
OUTD=$D/$(printf 'o%.0s' $(seq 100))
$EM run --engine fast --image "$T/in.png" --task semseg --out "$OUTD" 2>/dev/null
check "--out at a ${#OUTD}-character path is made whole" test -f "$OUTD/in_semseg.png"
MISSING=$D/$(printf 'm%.0s' $(seq 250))/x.png
expect_error "a message naming a ${#MISSING}-character path still ends with its cause" "No such file or directory)$" \
    $EM run --engine fast --image "$MISSING"

# 3. a run failing on a later PNG keeps an earlier output that existed before it
mkdir -p "$T/o3/in_panel.png"                  # the panel cannot be written: a directory is in the way
echo "old png" >"$T/o3/in_semseg.png"
cp "$T/o3/in_semseg.png" "$T/o3.orig"
expect_error "a later PNG of the run fails" "is a directory" $EM run --engine fast --image "$T/in.png" --task semseg --out "$T/o3"
check "the pre-existing out/<stem>_semseg.png is unchanged" cmp -s "$T/o3/in_semseg.png" "$T/o3.orig"

# 4. --out set to the image directory: outputs never replace inputs
mkdir "$T/imgs"
cp "$T/in.png" "$T/imgs/a.png"
cp "$T/in.png" "$T/imgs/a_semseg.png"
expect_error "outputs over inputs in the image directory refused" "refusing to overwrite an input" \
    $EM run --engine fast --image "$T/imgs" --task semseg --out "$T/imgs"
check "the input a_semseg.png is unchanged" cmp -s "$T/imgs/a_semseg.png" "$T/in.png"
check "nothing new in the image directory" test "$(ls "$T/imgs" | wc -l)" = 2

# 10. sim --task all: when the second SVG fails, the first is not left behind
mkdir "$T/s.depth.svg"
expect_error "sim's second SVG fails" "is a directory" $EM sim --image "$T/in.png" --task all --svg "$T/s.svg"
check "no s.semseg.svg left" test ! -e "$T/s.semseg.svg"

# 13. SIGTERM during a directory run: completed images kept whole, the current one removed
mkdir "$T/many"
for i in 1 2 3 4 5 6; do cp "$T/in.png" "$T/many/i$i.png"; done
$EM run --engine ref --image "$T/many" --task semseg --out "$T/many_out" 2>"$T/term.err" &
pid=$!
for _ in $(seq 600); do   # until the second image's outputs are being written
    [ -n "$(find "$T/many_out" -name '.i2_*' -print -quit 2>/dev/null)" ] && break
    sleep 0.1
done
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM: exit 143 and one line saying what was kept" \
    test $rc -eq 143 -a "$(grep -c 'interrupted' "$T/term.err")" = 1
complete=0; partial=0
for i in 1 2 3 4 5 6; do
    n=$(ls "$T/many_out" 2>/dev/null | grep -c "^i${i}_")
    [ "$n" -eq 3 ] && complete=$((complete + 1))
    [ "$n" -ne 0 ] && [ "$n" -ne 3 ] && partial=$((partial + 1))
done
check "SIGTERM: $complete images kept whole (at least the first), none partly" test $complete -ge 1 -a $partial -eq 0
check "SIGTERM: no staging files left" test -z "$(find "$T/many_out" -name '.*' -print -quit)"

# ... and during scene generation: the scenes being written are finished, none is partial
$EM scenes --out "$T/sc" --count 100000 --split val 2>/dev/null &
pid=$!
for _ in $(seq 300); do [ "$(ls "$T/sc/val/preview" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
kill -TERM $pid
wait $pid; rc=$?
counts=$(for k in image label_7 depth preview; do ls "$T/sc/val/$k" | wc -l; done | sort -u)
check "scenes SIGTERM: exit 143, every kind of file for the same $counts scenes" \
    test $rc -eq 143 -a "$(echo "$counts" | wc -l)" = 1 -a "$counts" -ge 3
check "scenes SIGTERM: no staging files left" test -z "$(find "$T/sc" -name '.*' -print -quit)"

check "no staging files left anywhere" no_stage_files
