#!/usr/bin/env bash
# The `edgemoe sim` contract: text report, one JSON object with the required
# keys, the SVG chart, options that change the model the expected way, the
# sweep, and bad input (one error line, non-zero exit).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_sim.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
SYN="--model synthetic"   # the synthetic model, whatever the default becomes
$EM sample-image "$T/s.png"

$EM sim $SYN --image "$T/s.png" >"$T/txt" 2>"$T/err"
check "sim on the synthetic model exits 0" [ $? -eq 0 ]
check "text report: latency, DRAM, MoE savings, resources" \
    bash -c "grep -q '^latency .* ms' '$T/txt' && grep -q '^DRAM per image' '$T/txt' && grep -q 'every expert on every token' '$T/txt' && grep -q '^total .*DSP' '$T/txt'"

$EM sim $SYN --image "$T/s.png" --task depth --json --svg "$T/c.svg" >"$T/json" 2>"$T/err"
check "sim --json --svg exits 0" [ $? -eq 0 ]
check "one JSON line" [ "$(wc -l <"$T/json")" -eq 1 ]
check "SVG chart written" bash -c "grep -q '<svg' '$T/c.svg' && grep -q '</svg>' '$T/c.svg'"
$EM sim $SYN --image "$T/s.png" --task depth --json --attn-p 8 --tile 16x32 --clock-mhz 250 --axi-bits 512 --dram-gbps 10 >"$T/json2" 2>>"$T/err"
echo '{"loops": {"linear_step": {"ii": 6}}}' >"$T/cfg.json"
$EM sim $SYN --image "$T/s.png" --task depth --json --config "$T/cfg.json" >"$T/json3" 2>>"$T/err"
/usr/bin/python3 - "$T/json" "$T/json2" "$T/json3" <<'PY'
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
for k in ("latency_ms", "fps", "dram_bytes", "dsp", "bram18k", "layers"):
    check(k in a, "JSON key %s" % k)
check(len(a["layers"]) == 12 and all("ops" in l and "ms" in l for l in a["layers"]), "12 layers, each with per-op ms")
check(abs(sum(l["cycles"] for l in a["layers"]) + a["embed"]["cycles"] - a["cycles"]) < 1e-6 * a["cycles"], "layers add up")
check(a["task"] == "depth" and a["config"]["attn_p"] == 4 and a["config"]["tile"] == "16x16" and a["config"]["clock_mhz"] == 300,
      "defaults: P 4, tile 16x16, 300 MHz")
check(b["config"]["attn_p"] == 8 and b["config"]["tile"] == "16x32" and b["config"]["clock_mhz"] == 250
      and b["config"]["axi_bits"] == 512 and b["config"]["dram_gbps"] == 10, "options reach the model")
check(b["dsp"] > a["dsp"], "P 8 and a 16x32 tile use more DSPs (%g > %g)" % (b["dsp"], a["dsp"]))
check(c["ops"]["qkv"]["cycles"] > a["ops"]["qkv"]["cycles"], "config file: linear step II 6 slows qkv (below that the 128-bit port sets its pace)")
check(c["ops"]["qk"]["cycles"] == a["ops"]["qk"]["cycles"], "config file: attention unchanged")
PY

$EM sim $SYN --image "$T/s.png" --sweep >"$T/sweep" 2>"$T/err"
check "sweep exits 0" [ $? -eq 0 ]
check "sweep: 180 points, the original marked, a Pareto list and the fastest that fits" \
    bash -c "[ \$(grep -cE '^ +[0-9]+ +[0-9]+x[0-9]+ +[0-9]+ ' '$T/sweep') -eq 180 ] && grep -q '<- original' '$T/sweep' && grep -q '^Pareto set' '$T/sweep' && grep -q '^fastest that fits' '$T/sweep'"

$EM sim $SYN --image "$T/s.png" --sweep --json >"$T/sweep.json" 2>"$T/err"
/usr/bin/python3 - "$T/sweep.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["points"]
ok = len(p) == 180 and sum(q["original"] for q in p) == 1 and all(q["fits"] for q in p if q["pareto"])
print(("PASS: " if ok else "FAIL: ") + "sweep --json: 180 points, one original, Pareto points fit")
PY
expect_error "no image" "no --image" $EM sim $SYN
expect_error "bad tile" "--tile" $EM sim $SYN --image "$T/s.png" --tile 16by16
expect_error "bad P" "--attn-p" $EM sim $SYN --image "$T/s.png" --attn-p 0
expect_error "bad AXI width" "--axi-bits" $EM sim $SYN --image "$T/s.png" --axi-bits 100
expect_error "unknown option" "unknown option" $EM sim $SYN --image "$T/s.png" --fast
expect_error "fast engine refused" "fixed or ref" $EM sim $SYN --image "$T/s.png" --engine fast
echo '{"clocks": 3}' >"$T/bad.json"
expect_error "config: unknown key" "unknown key" $EM sim $SYN --image "$T/s.png" --config "$T/bad.json"
echo '{"loops": {"softmax": {"ii": 0}}}' >"$T/bad2.json"
expect_error "config: II 0" "II must be" $EM sim $SYN --image "$T/s.png" --config "$T/bad2.json"
expect_error "missing image" "nope.png" $EM sim $SYN --image "$T/nope.png"
