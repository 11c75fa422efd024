#!/usr/bin/env bash
# bench/bench_video.sh [FRAMES] [THREADS]: throughput of `edgemoe video` on a
# generated drive (edgemoe scenes --sequence, 256x128 at 25 fps) with the
# fast engine, for semseg alone, depth alone and both: frames per second of
# the whole pipeline (read, infer, compose, write) and per-frame engine time
# and latency (frame read -> frame written) percentiles from the --log.
# Model: EM_MODEL (default: edgemoe's default model).  Prints numbers only;
# the machine's load is printed too, since a shared VM drifts.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
N=${1:-100}
TH=${2:-0}
T=$(mktemp -d /tmp/em_bench_video.XXXXXX)
trap 'rm -rf "$T"' EXIT
MODEL_ARG=()
[ -n "${EM_MODEL:-}" ] && MODEL_ARG=(--model "$EM_MODEL")
$EM scenes --sequence "$N" --fps 25 --out "$T/drive.y4m"
echo "edgemoe video: $N frames of a generated drive (256x128, 25 fps), engine fast, threads ${TH/#0/all ($(nproc))}," \
     "model ${EM_MODEL:-default}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %8s %14s %14s %14s %14s %14s\n' task fps "engine p50 ms" "engine p99 ms" "latency p50" "latency p99" "CPU ms/frame"
for task in semseg depth all; do
    t0=$(date +%s.%N)
    TIMEFORMAT='%U %S'
    { time $EM video "${MODEL_ARG[@]}" --in "$T/drive.y4m" --task $task --engine fast --threads "$TH" --hud off \
        --log "$T/$task.jsonl" 2>"$T/$task.err" >"$T/out.y4m"; } 2>"$T/$task.time"
    t1=$(date +%s.%N)
    /usr/bin/python3 - "$T/$task.jsonl" "$t0" "$t1" "$task" "$(cat "$T/$task.time")" <<'PY'
import sys, json, math
L = [json.loads(l) for l in open(sys.argv[1])]
wall = float(sys.argv[3]) - float(sys.argv[2])
def pct(v, p):
    v = sorted(v); return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
inf = [l["infer_ms"] for l in L if not l["dropped"]]
lat = [l["latency_ms"] for l in L if not l["dropped"]]
cpu = sum(float(x) for x in sys.argv[5].split()) * 1000 / len(L)
print("%-7s %8.2f %14.1f %14.1f %14.1f %14.1f %14.1f" % (sys.argv[4], len(L) / wall, pct(inf, 50), pct(inf, 99), pct(lat, 50), pct(lat, 99), cpu))
PY
done
echo "fps: frames out / wall time of the command (model load and the first frame included);" \
     "CPU ms/frame: user + system time of the whole command (all threads) per frame"
