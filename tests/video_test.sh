#!/usr/bin/env bash
# `edgemoe video` and `edgemoe scenes --sequence`: frame counts and sizes,
# output bytes deterministic apart from the HUD, the per-frame log, bad input
# refused with one line and nothing written, a truncated last frame, a broken
# pipe, --realtime drops, and round trips through Debian's ffmpeg.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_video.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
PY=/usr/bin/python3

# y4m.py FILE: prints "W H F C frames" of a y4m stream, checking every frame's size
cat >"$T/y4m.py" <<'PY'
import sys
def parse(path):
    d = open(path, "rb").read()
    nl = d.index(b"\n")
    tags = {t[:1].decode(): t[1:].decode() for t in d[:nl].split(b" ")[1:] if t}
    w, h = int(tags["W"]), int(tags["H"])
    c = tags.get("C", "420jpeg")
    fb = w * h * 3 if c.startswith("444") else w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
    frames, p = [], nl + 1
    while p < len(d):
        e = d.index(b"\n", p)
        assert d[p:p + 5] == b"FRAME", "frame %d: no FRAME header" % len(frames)
        frames.append(d[e + 1:e + 1 + fb])
        assert len(frames[-1]) == fb, "frame %d truncated" % (len(frames) - 1)
        p = e + 1 + fb
    return w, h, tags.get("F"), c, frames
if __name__ == "__main__":
    w, h, f, c, fr = parse(sys.argv[1])
    print(w, h, f, c, len(fr))
PY
info() { $PY "$T/y4m.py" "$1" 2>/dev/null; }

# ---- the source: a drive down a generated street ----
$EM scenes --sequence 8 --size 128x64 --fps 10 --out "$T/drive.y4m" 2>"$T/err"
check "scenes --sequence 8: exit 0, nothing on stderr" [ $? -eq 0 -a ! -s "$T/err" ]
check "sequence: 8 frames of 128x64 at 10 fps, 4:2:0" [ "$(info "$T/drive.y4m")" = "128 64 10:1 420jpeg 8" ]
$EM scenes --sequence 8 --size 128x64 --fps 10 --out "$T/drive2.y4m" 2>/dev/null
$EM scenes --sequence 5 --size 128x64 --fps 10 --out - 2>/dev/null >"$T/drive5.y4m"
check "sequence: the same bytes twice" cmp -s "$T/drive.y4m" "$T/drive2.y4m"
$PY - "$T/y4m.py" "$T/drive.y4m" "$T/drive5.y4m" <<'PY'
import sys, importlib.util
spec = importlib.util.spec_from_file_location("y4m", sys.argv[1]); y = importlib.util.module_from_spec(spec); spec.loader.exec_module(y)
a, b = y.parse(sys.argv[2])[4], y.parse(sys.argv[3])[4]
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
check(a[:5] == b, "sequence: 5 frames to stdout are the first 5 of 8")
import numpy as np
Y = [np.frombuffer(f[:128 * 64], np.uint8).astype(int) for f in a]
d = [np.abs(Y[i + 1] - Y[i]).mean() for i in range(7)]
check(all(x > 0.5 for x in d), "sequence: every frame differs from the last (camera moving), mean |dY| %s" % ["%.1f" % x for x in d])
check(all(x < 40 for x in d), "sequence: smooth, no frame is a different picture (mean |dY| < 40)")
PY
$EM scenes --sequence 3 --fps 10 --labels --out "$T/lab.y4m" 2>"$T/err"
check "--labels: 3 frames in the dataset layout next to the video" \
    bash -c "[ \$(ls '$T/lab.labels/val/image' '$T/lab.labels/val/label_7' '$T/lab.labels/val/depth' | grep -c '^[0-2]\.npy$') -eq 9 ]"
$EM eval --data "$T/lab.labels" --task semseg >"$T/eval" 2>&1
check "--labels: edgemoe eval reads the drive's labels" grep -q -i "miou" "$T/eval"
expect_error "--sequence 0" "sequence" $EM scenes --sequence 0 --out "$T/x.y4m"
expect_error "--sequence without --out" "out" $EM scenes --sequence 3
expect_error "--sequence --size 129x64 (odd)" "size" $EM scenes --sequence 3 --size 129x64 --out "$T/x.y4m"
expect_error "--sequence --fps 0" "fps" $EM scenes --sequence 3 --fps 0 --out "$T/x.y4m"
expect_error "--sequence --labels to stdout" "labels" $EM scenes --sequence 3 --labels --out -
check "refused sequences wrote nothing" [ ! -e "$T/x.y4m" ]

# ---- video: sizes, determinism, log ----
$EM video --in "$T/drive.y4m" --out "$T/o1.y4m" --hud off --log "$T/log.jsonl" 2>"$T/err"
check "video: exit 0, one summary line on stderr" [ $? -eq 0 -a "$(wc -l <"$T/err")" -eq 1 ]
read -r W H F C N <<<"$(info "$T/o1.y4m")"
check "video: 8 frames out, 768 x $H (row layout), input's 10 fps, C420jpeg" [ "$W $F $C $N" = "768 10:1 420jpeg 8" -a $((H % 2)) -eq 0 ]
$EM video --in "$T/drive.y4m" --out "$T/o2.y4m" --hud off --threads 1 2>/dev/null
check "video --hud off: the same bytes on 1 thread and on all cores" cmp -s "$T/o1.y4m" "$T/o2.y4m"
cat "$T/drive.y4m" | $EM video --hud off 2>/dev/null >"$T/o3.y4m"
check "video: stdin to stdout gives the same bytes" cmp -s "$T/o1.y4m" "$T/o3.y4m"
$EM video --in "$T/drive.y4m" --out "$T/o4.y4m" 2>/dev/null
$PY - "$T/y4m.py" "$T/o1.y4m" "$T/o4.y4m" <<'PY'
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("y4m", sys.argv[1]); y = importlib.util.module_from_spec(spec); spec.loader.exec_module(y)
w, h, _, _, a = y.parse(sys.argv[2]); _, _, _, _, b = y.parse(sys.argv[3])
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
# the HUD box: x < 256, y >= 128 (row layout, 256 x 128 panels); chroma halves
def masked(f):
    Y = np.frombuffer(f[:w * h], np.uint8).reshape(h, w).copy(); Y[128:, :256] = 0
    C = np.frombuffer(f[w * h:], np.uint8).reshape(2, h // 2, w // 2).copy(); C[:, 64:, :128] = 0
    return Y.tobytes() + C.tobytes()
check(len(a) == len(b) and all(masked(p) == masked(q) for p, q in zip(a, b)),
      "video: with the HUD on, every pixel outside the HUD box equals the --hud off run")
check(any(p != q for p, q in zip(a, b)), "video: the HUD draws something")
PY
$PY - "$T/log.jsonl" <<'PY'
import sys, json
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
L = [json.loads(l) for l in open(sys.argv[1])]
check([l["frame"] for l in L] == list(range(8)) and not any(l["dropped"] for l in L), "log: one line per frame, 0..7, none dropped")
ok = True
for l in L:
    ok &= set(l["tasks"]) == {"semseg", "depth"} and l["infer_ms"] > 0 and l["latency_ms"] >= l["infer_ms"] * 0.5
    for t in l["tasks"].values():
        ok &= [m["layer"] for m in t["moe"]] == [1, 3, 5, 7, 9, 11] and t["total_ms"] > 0
        for m in t["moe"]:
            ok &= sum(m["tokens"]) == 129 * 2 and m["experts_used"] == sum(1 for k in m["tokens"] if k) and len(m["tokens"]) == 16
check(ok, "log: timings per task, and per MoE layer 16 expert token counts summing to 129 tokens x top-2")
PY
$EM video --in "$T/drive.y4m" --out "$T/g.y4m" --layout grid --task semseg --log "$T/gl.jsonl" 2>/dev/null
check "--layout grid --task semseg: 512 x 256, 8 frames, only semseg in the log" \
    bash -c "[ \"\$($PY '$T/y4m.py' '$T/g.y4m')\" = '512 256 10:1 420jpeg 8' ] && ! grep -q depth '$T/gl.jsonl'"

# ---- bad input: one line, non-zero exit, nothing written ----
printf 'YUV4MPEG2 W64 H32 F25:1 It C420jpeg\nFRAME\n' >"$T/inter.y4m"
printf 'YUV4MPEG2 W64 H32 F25:1 Ip C422\nFRAME\n' >"$T/c422.y4m"
printf 'YUV4MPEG2 W0 H32\n' >"$T/w0.y4m"
printf 'hello world\n' >"$T/text.y4m"
: >"$T/empty.y4m"
{ head -c 100 "$T/drive.y4m"; } >"$T/trunc0.y4m"   # header and part of frame 0
sed '1s/W128 H64/W126 H64/' "$T/drive.y4m" >"$T/wrongsize.y4m"
for c in "inter:progressive" "c422:colour space" "w0:width" "text:not a YUV4MPEG2" "empty:empty" "trunc0:frame 0: truncated" \
         "wrongsize:frame 1: expected a FRAME header"; do
    f=${c%%:*}; pat=${c#*:}
    expect_error "video refuses $f.y4m ($pat)" "$pat" $EM video --in "$T/$f.y4m" --out "$T/bad.y4m" --log "$T/bad.jsonl"
    check "video $f.y4m: no output file, no log" [ ! -e "$T/bad.y4m" -a ! -e "$T/bad.jsonl" ]
    $EM video --in "$T/$f.y4m" >"$T/bad_stdout" 2>/dev/null
    if [ $f = wrongsize ]; then  # found at frame 1: frame 0 was already streamed
        check "video $f.y4m to stdout: only frame 0, the one before the error" [ "$(info "$T/bad_stdout" | cut -d' ' -f5)" = 1 ]
    else
        check "video $f.y4m to stdout: nothing written" [ ! -s "$T/bad_stdout" ]
    fi
done
expect_error "video --task bogus" "task" $EM video --in "$T/drive.y4m" --out "$T/bad.y4m" --task bogus
expect_error "video --layout diagonal" "layout" $EM video --in "$T/drive.y4m" --out "$T/bad.y4m" --layout diagonal
expect_error "video --engine warp" "engine" $EM video --in "$T/drive.y4m" --out "$T/bad.y4m" --engine warp
expect_error "video --in missing" "cannot open" $EM video --in "$T/nope.y4m" --out "$T/bad.y4m"
expect_error "video --out over its input" "input" $EM video --in "$T/drive.y4m" --out "$T/drive.y4m"
check "drive.y4m untouched" cmp -s "$T/drive.y4m" "$T/drive2.y4m"

# ---- end of stream: a truncated last frame ----
head -c -100 "$T/drive.y4m" >"$T/trunc.y4m"
$EM video --in "$T/trunc.y4m" --hud off >"$T/t.y4m" 2>"$T/err"; rc=$?
check "truncated frame 7: exit $rc, one line naming the frame: $(cat "$T/err")" \
    bash -c "[ $rc -ne 0 ] && [ \$(wc -l <'$T/err') -eq 1 ] && grep -q 'frame 7: truncated' '$T/err'"
check "truncated frame 7: the 7 frames before it were written to the pipe, equal to the full run's" \
    bash -c "[ \"\$($PY '$T/y4m.py' '$T/t.y4m')\" = '768 $H 10:1 420jpeg 7' ] && cmp -s '$T/t.y4m' <(head -c \$(stat -c %s '$T/t.y4m') '$T/o1.y4m')"
$EM video --in "$T/trunc.y4m" --out "$T/t2.y4m" --log "$T/t2.jsonl" 2>/dev/null
check "truncated frame with --out FILE: no file, no log" [ ! -e "$T/t2.y4m" -a ! -e "$T/t2.jsonl" ]
printf 'YUV4MPEG2 W64 H32 F25:1\n' >"$T/noframes.y4m"
$EM video --in "$T/noframes.y4m" --out "$T/nf.y4m" 2>/dev/null
check "a header without frames: an empty video out (header only)" bash -c "[ \"\$($PY '$T/y4m.py' '$T/nf.y4m')\" = '768 $H 25:1 420jpeg 0' ]"

# ---- a broken pipe ----
( $EM video --in "$T/drive.y4m" --log "$T/bp.jsonl" 2>"$T/bp_err"; echo $? >"$T/bp_rc" ) | head -c 400000 >/dev/null
check "broken pipe: exit 0, one line: $(cat "$T/bp_err")" [ "$(cat "$T/bp_rc")" = 0 -a "$(wc -l <"$T/bp_err")" -eq 1 ]
check "broken pipe: the line says so, no crash report" bash -c "grep -q 'broken pipe' '$T/bp_err' && ! grep -q -i 'sanitizer\|runtime error' '$T/bp_err'"
check "broken pipe: the log holds the 2 whole frames written ($(wc -l <"$T/bp.jsonl") lines)" [ "$(wc -l <"$T/bp.jsonl")" = 2 ]

# ---- SIGTERM (or Ctrl-C) during a run: stops cleanly, keeps what it wrote ----
sed '1s/F10:1/F2:1/' "$T/drive.y4m" >"$T/slow.y4m"   # --realtime: 4 s for 8 frames
( $EM video --in "$T/slow.y4m" --realtime --hud off --log "$T/int.jsonl" 2>"$T/int_err" & echo $! >"$T/int_pid"; wait $!; echo $? >"$T/int_rc" ) |
    { head -c 100 >"$T/int_out"; kill -TERM "$(cat "$T/int_pid")"; cat >>"$T/int_out"; }
n_int=$(info "$T/int_out" | cut -d' ' -f5)
check "SIGTERM after the first frame: exit 0, one line: $(cat "$T/int_err")" \
    bash -c "[ \"\$(cat '$T/int_rc')\" = 0 ] && [ \$(wc -l <'$T/int_err') -eq 1 ] && grep -q interrupted '$T/int_err'"
check "SIGTERM: a valid stream of the $n_int frames done (1..7), the log has them all" \
    bash -c "[ -n '$n_int' ] && [ '$n_int' -ge 1 ] && [ '$n_int' -lt 8 ] && [ \$(wc -l <'$T/int.jsonl') -eq '$n_int' ]"

# ---- --realtime: a 1000 fps input cannot be kept up with ----
sed '1s/F10:1/F1000:1/' "$T/drive.y4m" >"$T/fast.y4m"
$EM video --in "$T/fast.y4m" --out "$T/rt.y4m" --realtime --log "$T/rt.jsonl" 2>"$T/rt_err"
$PY - "$T/rt.jsonl" "$T/rt_err" <<'PY'
import sys, json
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
L = [json.loads(l) for l in open(sys.argv[1])]
d = sum(l["dropped"] for l in L)
err = open(sys.argv[2]).read()
check(len(L) == 8 and not L[0]["dropped"] and d > 0, "--realtime at 1000 fps: %d of 8 frames dropped, frame 0 kept" % d)
check(("(%d dropped)" % d) in err, "--realtime: the summary reports the drops: " + err.strip())
PY
check "--realtime: dropped frames repeat the last output, the stream keeps 8 frames" [ "$(info "$T/rt.y4m" | cut -d' ' -f5)" = 8 ]

# ---- round trips through Debian's ffmpeg ----
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "SKIP: ffmpeg not installed (tools/install-deps.sh --test installs it); no round-trip checks"
    exit 0
fi
FF="ffmpeg -nostdin -loglevel error -y"
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 "$@"; }
$FF -f lavfi -i testsrc=size=320x240:rate=15 -frames:v 6 -pix_fmt yuv420p -f yuv4mpegpipe "$T/ff420.y4m"
$FF -f lavfi -i testsrc=size=200x150:rate=15 -frames:v 4 -pix_fmt yuv444p -strict -1 -f yuv4mpegpipe "$T/ff444.y4m"
$FF -i "$T/ff420.y4m" -f yuv4mpegpipe - | $EM video --hud off 2>/dev/null | $FF -f yuv4mpegpipe -i - -f yuv4mpegpipe "$T/rt420.y4m"
check "ffmpeg 4:2:0 320x240 -> edgemoe video -> ffmpeg: 6 frames of 768x$H ($(probe "$T/rt420.y4m"))" [ "$(probe "$T/rt420.y4m")" = "768,$H,6" ]
$FF -f lavfi -i testsrc=size=320x240:rate=15 -frames:v 5 -pix_fmt yuv420p -c:v libx264 "$T/in.mp4"
$FF -i "$T/in.mp4" -f yuv4mpegpipe - | $EM video 2>/dev/null | $FF -f yuv4mpegpipe -i - "$T/out1.mp4"
check "the README one-liner: in.mp4 | edgemoe video | out.mp4 keeps the 5 frames ($(probe "$T/out1.mp4"))" [ "$(probe "$T/out1.mp4")" = "768,$H,5" ]
$EM video --in "$T/ff444.y4m" --hud off --out "$T/rt444.y4m" 2>/dev/null
check "ffmpeg 4:4:4 200x150 in: 4 frames out ($(probe "$T/rt444.y4m"))" [ "$(probe "$T/rt444.y4m")" = "768,$H,4" ]
$EM video --in "$T/drive.y4m" 2>/dev/null | $FF -f yuv4mpegpipe -i - -c:v libx264 -pix_fmt yuv420p "$T/out.mp4"
check "edgemoe video | ffmpeg -f yuv4mpegpipe -i - out.mp4: 8 frames of 768x$H ($(probe "$T/out.mp4"))" [ "$(probe "$T/out.mp4")" = "768,$H,8" ]
$FF -i "$T/out.mp4" -f yuv4mpegpipe "$T/back.y4m"
check "out.mp4 decodes back to a y4m that edgemoe video reads" bash -c "$EM video --in '$T/back.y4m' --out '$T/back2.y4m' 2>/dev/null && [ \"\$($PY '$T/y4m.py' '$T/back2.y4m' | cut -d' ' -f5)\" = 8 ]"
for fmt in "yuv422p:colour space" "gray:colour space" "yuv420p10le:colour space"; do
    pf=${fmt%%:*}
    $FF -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 2 -pix_fmt "$pf" -strict -1 -f yuv4mpegpipe "$T/ff_$pf.y4m"
    expect_error "ffmpeg $pf refused" "${fmt#*:}" $EM video --in "$T/ff_$pf.y4m" --out "$T/bad.y4m"
    check "ffmpeg $pf: nothing written" [ ! -e "$T/bad.y4m" ]
done
$FF -f lavfi -i testsrc=size=64x48:rate=5 -frames:v 2 -vf "setfield=tff,fieldorder=tff" -flags +ildct+ilme -pix_fmt yuv420p -f yuv4mpegpipe "$T/ff_it.y4m"
if head -1 "$T/ff_it.y4m" | grep -q " It"; then
    expect_error "ffmpeg interlaced (It) refused" "progressive" $EM video --in "$T/ff_it.y4m" --out "$T/bad.y4m"
fi
