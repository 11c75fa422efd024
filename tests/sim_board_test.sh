#!/usr/bin/env bash
# `edgemoe sim --board`, `--trace`, `--cpu` and the per-board sweep (docs/sim.md):
# the default is the ZCU102 as built, the ideal profile is faster for the
# reasons the report names, profiles by name, by path and from
# $EDGEMOE_BOARDS, bad profiles give one error line, the trace is valid
# Chrome trace JSON whose spans nest and add up to the latency, the sweep on
# the KV260 only keeps points that fit it, the CPU comparison is labelled.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM=$BUILD/edgemoe
T=$(mktemp -d /tmp/em_simb.XXXXXX)
trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
SYN="--model synthetic"   # the synthetic model, whatever the default becomes
$EM sample-image "$T/s.png"

$EM sim $SYN --image "$T/s.png" --json >"$T/def.json" 2>"$T/err"
check "default board exits 0" [ $? -eq 0 ]
$EM sim $SYN --image "$T/s.png" --json --board zcu102 >"$T/z.json" 2>>"$T/err"
$EM sim $SYN --image "$T/s.png" --json --board zcu102-ideal-256 >"$T/zi.json" 2>>"$T/err"
$EM sim $SYN --image "$T/s.png" --json --board boards/kv260.json >"$T/kv.json" 2>>"$T/err"
mkdir -p "$T/boards" && cp boards/zcu104.json "$T/boards/mine.json"
EDGEMOE_BOARDS="$T/boards" $EM sim $SYN --image "$T/s.png" --json --board mine >"$T/mine.json" 2>>"$T/err"
check "profiles by name, by path and from \$EDGEMOE_BOARDS exit 0" [ ! -s "$T/err" ]
/usr/bin/python3 - "$T" <<'PY'
import json, sys
T = sys.argv[1]
d, z, zi, kv, mine = (json.load(open("%s/%s.json" % (T, n))) for n in ("def", "z", "zi", "kv", "mine"))
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
check(d["board"] == "zcu102" and d["latency_ms"] == z["latency_ms"], "the default is zcu102 (%.3f ms)" % d["latency_ms"])
m = z["config"]["masters"]
check([m[k]["port"] for k in ("inout1", "inout2", "inout3", "inout4", "weights")] == ["HPC1_FPD", "HP0_FPD", "HP1_FPD", "HP2_FPD", "HPC0_FPD"]
      and all(m[k]["bits"] == 128 for k in m), "zcu102: the five masters on their 128-bit PS ports as built")
check(z["latency_ms"] > 1.3 * zi["latency_ms"], "as built %.2f ms > ideal %.2f ms" % (z["latency_ms"], zi["latency_ms"]))
check(z["bound_ms"]["port"] > 0.5 * z["latency_ms"] and z["port_bound_phases"] > zi["port_bound_phases"],
      "as built: port-bound %.2f ms in %d phases (ideal %d)" % (z["bound_ms"]["port"], z["port_bound_phases"], zi["port_bound_phases"]))
check(z["ops"]["qkv"]["bound"] == "port" and m["inout1"]["port_bound_ms"] > 0, "qkv is port-bound on inout1 -> HPC1_FPD")
check(abs(z["compute_cycles"] - zi["compute_cycles"]) < 1e-6 * zi["compute_cycles"], "same compute on both profiles")
check(not kv["fits"] and kv["dsp"] > kv["dsp_budget"], "the original does not fit the KV260 (%d > %d DSP)" % (kv["dsp"], kv["dsp_budget"]))
check(mine["board"] == "zcu104" and mine["uram_budget"] == 96, "a profile found through $EDGEMOE_BOARDS")
e = z["energy"]
check(abs(sum(e["parts_j"].values()) - e["joules_per_image"]) < 1e-9 and "estimate" in e["note"],
      "energy parts add up (%.1f mJ/image) and are labelled an estimate" % (1e3 * e["joules_per_image"]))
PY

$EM sim $SYN --image "$T/s.png" --board zcu102 >"$T/txt" 2>"$T/err"
check "text report names the port-bound phases and the ports" \
    bash -c "grep -q '^port-bound phases: ' '$T/txt' && grep -q 'port HPC1_FPD (inout1)' '$T/txt' && grep -q 'HP0_FPD    128 bit' '$T/txt'"
check "text report: energy labelled ESTIMATE" grep -q '^energy per image (ESTIMATE' "$T/txt"

# trace: valid JSON, nested spans adding up to the latency of the same run
$EM sim $SYN --image "$T/s.png" --json --trace "$T/t.json" >"$T/tj.json" 2>"$T/err"
check "sim --trace exits 0" [ $? -eq 0 ]
/usr/bin/python3 - "$T/t.json" "$T/tj.json" <<'PY'
import json, sys
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
t = json.load(open(sys.argv[1])); j = json.load(open(sys.argv[2]))
ev = t["traceEvents"]
X = [e for e in ev if e["ph"] == "X"]
img = [e for e in X if e["cat"] == "image"]
lay = [e for e in X if e["cat"] == "layer"]
top = [e for e in X if e["name"] == "embed"] + lay
ops = [e for e in X if e not in img and e not in top]
check(len(img) == 1 and len(lay) == 12 and len(ops) >= 120, "one image span, 12 layers, %d op spans" % len(ops))
end = lambda e: e["ts"] + e["dur"]
ok = all(any(l["ts"] - 1e-9 <= o["ts"] and end(o) <= end(l) + 1e-6 for l in lay) for o in ops)
check(ok, "every op span lies inside a layer span")
check(abs(sum(e["dur"] for e in top) / 1e3 - j["latency_ms"]) < 1e-4 and abs(img[0]["dur"] / 1e3 - j["latency_ms"]) < 1e-5,
      "embed + layers = image span = reported latency (%.4f ms)" % j["latency_ms"])
check(all(e["args"]["bound"] in ("compute", "port", "ddr", "latency") for e in ops), "every op span marks its bound")
C = [e for e in ev if e["ph"] == "C"]
check(len({e["name"] for e in C}) == 5 and all("read" in e["args"] and "write" in e["args"] for e in C),
      "bandwidth counters for the five masters (%d events)" % len(C))
PY
$EM sim $SYN --image "$T/s.png" --task all --trace "$T/tt.json" >/dev/null 2>"$T/err"
check "--task all --trace writes one trace per task" bash -c "[ -s '$T/tt.semseg.json' ] && [ -s '$T/tt.depth.json' ] && [ ! -e '$T/tt.json' ]"

# sweep on the KV260: what fits it
$EM sim $SYN --image "$T/s.png" --board kv260 --sweep --json >"$T/sw.json" 2>"$T/err"
check "sweep on kv260 exits 0" [ $? -eq 0 ]
/usr/bin/python3 - "$T/sw.json" <<'PY'
import json, sys
def check(ok, what): print(("PASS: " if ok else "FAIL: ") + what)
j = json.load(open(sys.argv[1])); p = j["points"]; b = j["budget"]
fit = lambda q: q["dsp"] <= b["dsp"] and q["bram18k"] <= b["bram18k"] and q["uram"] <= b["uram"]
check(j["board"] == "kv260" and all(q["fits"] == fit(q) for q in p), "kv260 sweep: fits flags match the KV260 budget")
check(all(q["fits"] for q in p if q["pareto"]) and any(q["pareto"] for q in p), "Pareto points all fit")
o = [q for q in p if q["original"]]
best = p[j["best"]]
check(len(o) == 1 and not o[0]["fits"], "the original does not fit the KV260")
check(best["fits"] and all(best["latency_ms"] <= q["latency_ms"] for q in p if q["fits"]),
      "fastest that fits the KV260: P=%d %s %s %.0f MHz, %.2f ms" % (best["attn_p"], best["tile"],
      "input on chip" if best["input_on_chip"] else "input re-read", best["clock_mhz"], best["latency_ms"]))
check(any(q["input_on_chip"] and q["fits"] for q in p), "the sweep includes the on-chip input dataflow")
PY

# CPU comparison: measured time, estimated energy, labelled
$EM sim $SYN --image "$T/s.png" --json --cpu --threads 1 --cpu-w-per-thread 5 >"$T/cpu.json" 2>"$T/err"
check "sim --cpu exits 0" [ $? -eq 0 ]
/usr/bin/python3 - "$T/cpu.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); c = j["cpu"]
ok = c["backbone_ms"] > 0 and abs(c["joules_per_image"] - c["backbone_ms"] * 1 * 5 / 1e3) < 1e-9 and "estimate" in c["note"] \
     and abs(c["fpga_over_cpu_images_per_joule"] - c["joules_per_image"] / j["energy"]["joules_per_image"]) < 1e-9
print(("PASS: " if ok else "FAIL: ") + "CPU energy = measured ms x threads x W per thread, labelled an estimate (%.1f ms)" % c["backbone_ms"])
PY

# bad profiles: one line, non-zero exit, no output
echo '{"board": "x",' >"$T/bad1.json"
expect_error "board: bad JSON" "not valid JSON" $EM sim $SYN --image "$T/s.png" --board "$T/bad1.json"
sed 's/"dsp_budget": 2520,//' boards/zcu102.json >"$T/bad2.json"
expect_error "board: missing key" 'missing key "dsp_budget"' $EM sim $SYN --image "$T/s.png" --board "$T/bad2.json"
sed 's/"dram_efficiency": 0.75/"dram_efficiency": 7.5/' boards/zcu102.json >"$T/bad3.json"
expect_error "board: nonsense value" "dram_efficiency 7.5" $EM sim $SYN --image "$T/s.png" --board "$T/bad3.json"
sed 's/"weights": "HPC0_FPD"/"weights": "HPC9_FPD"/' boards/zcu102.json >"$T/bad4.json"
expect_error "board: master on an undefined port" "HPC9_FPD" $EM sim $SYN --image "$T/s.png" --board "$T/bad4.json"
expect_error "board: unknown name" "no profile 'zcu999.json'" $EM sim $SYN --image "$T/s.png" --board zcu999
expect_error "board: missing file" "nope.json" $EM sim $SYN --image "$T/s.png" --board "$T/nope.json"
expect_error "trace into a missing folder" "cannot create" $EM sim $SYN --image "$T/s.png" --trace "$T/no/dir/t.json"
expect_error "sweep with trace" "does not combine" $EM sim $SYN --image "$T/s.png" --sweep --trace "$T/x.json"
check "no partial trace left behind" bash -c "! ls '$T'/no '$T'/x.json* 2>/dev/null | grep -q ."

# the trained routing, when the shared weights are here
W=${EM_SHARED_WEIGHTS:-../shared/m3vit-edgemoe}
if [ -f "$W/image.float32.bin" ]; then
    $EM sim --model "$W" --image "$W/image.float32.bin" --json >"$T/wz.json" 2>"$T/err" &&
    $EM sim --model "$W" --image "$W/image.float32.bin" --json --board zcu102-ideal-256 >"$T/wi.json" 2>>"$T/err"
    /usr/bin/python3 - "$T/wz.json" "$T/wi.json" <<'PY'
import json, sys
z, i = (json.load(open(p)) for p in sys.argv[1:3])
ok = z["latency_ms"] > 1.3 * i["latency_ms"] and z["bound_ms"]["port"] > 0.5 * z["latency_ms"]
print(("PASS: " if ok else "FAIL: ") + "shared weights, semseg: as built %.2f ms (port-bound %.2f ms) vs ideal %.2f ms"
      % (z["latency_ms"], z["bound_ms"]["port"], i["latency_ms"]))
PY
else
    echo "SKIP: shared weights not found at $W: the trained-routing comparison needs them"
fi
