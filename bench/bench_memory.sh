#!/usr/bin/env bash
# Resident memory under load: N images (default 10000) through one
# `edgemoe run` session in directory mode, RSS (VmRSS of /proc/PID/status)
# sampled every second; prints the curve's start, quartiles and end, and the
# growth from the first sample after the session started to the end.
#   bench/bench_memory.sh [N] [-- extra edgemoe run options]
# Defaults: --engine fast --threads 2 --task all, no outputs (the disk is not
# the limit).  The images: 100 distinct generated scenes (edgemoe scenes
# previews, 256 x 128 PNG) repeated through symlinks up to N files.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
N=${1:-10000}; shift || true
[ "${1:-}" = "--" ] && shift
EM=$BUILD/edgemoe
[ -x "$EM" ] || { echo "bench_memory: $EM not found (make BUILD=$BUILD)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$EM" scenes --out "$tmp/scenes" --count 100 --split val --seed 7 >/dev/null 2>&1
mkdir "$tmp/images"
srcs=("$tmp"/scenes/val/preview/*.png)
[ ${#srcs[@]} -eq 100 ] || { echo "bench_memory: expected 100 scene previews, got ${#srcs[@]}" >&2; exit 1; }
# one process for the N links (a fork per link takes minutes on a busy machine)
python3 -c 'import os, sys
srcs, d, n = sys.argv[3:], sys.argv[1], int(sys.argv[2])
for i in range(n): os.symlink(srcs[i % len(srcs)], os.path.join(d, "%06d.png" % i))' "$tmp/images" "$N" "${srcs[@]}"

opts=(--engine fast --threads 2 --task all)
[ $# -gt 0 ] && opts=("$@")
"$EM" run --image "$tmp/images" "${opts[@]}" 2>"$tmp/stderr" &
pid=$!
samples=()
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && samples+=("$rss")
    sleep 1
done
wait "$pid"; rc=$?
secs=$(( $(date +%s) - t0 ))
n=${#samples[@]}
[ $rc -eq 0 ] && [ "$n" -gt 0 ] || { echo "bench_memory: edgemoe run failed (rc=$rc):" >&2; cat "$tmp/stderr" >&2; exit 1; }
echo "bench_memory: $N images (100 distinct scenes), edgemoe run ${opts[*]}, $secs s, $n samples"
tail -1 "$tmp/stderr"
for q in 0 1 2 3 4; do
    k=$(( (n - 1) * q / 4 ))
    printf '  t=%5d s (%3d%%): VmRSS %8d kB\n' "$k" $((q * 25)) "${samples[k]}"
done
# the run first decodes every image once (validation), then starts the
# session: the steady state is the second half of the curve
mid=${samples[$(( (n - 1) / 2 ))]}; end=${samples[$((n - 1))]}
max=0; for v in "${samples[@]}"; do [ "$v" -gt $max ] && max=$v; done
echo "  peak ${max} kB; middle -> end: $(( end - mid )) kB"
