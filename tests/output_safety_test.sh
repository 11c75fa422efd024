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

check "no staging files left anywhere" no_stage_files
