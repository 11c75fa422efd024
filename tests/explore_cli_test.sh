#!/usr/bin/env bash
# Number-format sets on the command line (docs/formats.md):
# - edgemoe explore on two generated val scenes: JSON fields present; the
#   original set's row equals `eval --engine fixed` on the same data, the
#   float numbers equal `eval --engine fast`, deltas are the differences;
#   a set that is too narrow (fm16, fm<16,6>) wraps, the original does not;
#   the modelled DSPs halve from fm<32,..> to fm<24,..> (27 x 18 slices);
#   the table prints one row per set; the SVG is well-formed XML with a
#   point per set;
# - --formats errors: an unknown preset, a bad JSON file (unknown key, width
#   out of range) and a float engine each give one error line, a non-zero
#   exit and no file; the hw engine refuses a set it is not compiled for;
#   run --engine fixed --formats FILE.json works.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
EM="$BUILD/edgemoe"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/em_explore_test.XXXXXX)
[ -n "${EM_KEEP_TMP:-}" ] || trap 'rm -rf "$T"' EXIT
. tests/cli_lib.sh
if [ ! -x "$EM" ]; then fail "$EM not built"; exit 1; fi

"$EM" scenes --out "$T/d" --split val --count 2 >/dev/null 2>&1 || { fail "scenes for the test data"; exit 1; }
"$EM" explore --data "$T/d" --formats original fm16 fm24 --json --svg "$T/p.svg" >"$T/x.json" 2>"$T/x.err"
check "explore --json runs (rc 0)" test $? -eq 0
"$EM" eval --data "$T/d" --engine fixed --json >"$T/fixed.json" 2>/dev/null
"$EM" eval --data "$T/d" --engine fast --json >"$T/fast.json" 2>/dev/null
$PY - "$T" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
T = sys.argv[1]
x = json.load(open(T + "/x.json")); fx = json.load(open(T + "/fixed.json")); fa = json.load(open(T + "/fast.json"))
def ck(name, ok):
    print(("PASS: " if ok else "FAIL: ") + name)
sets = {s["name"]: s for s in x["sets"]}
ck("explore JSON: samples 2, sets original, fm16, fm24 in order", x["samples"] == 2 and [s["name"] for s in x["sets"]] == ["original", "fm16", "fm24"])
need = ["formats", "widths", "semseg", "depth", "datapath", "hw", "pareto"]
ck("explore JSON: every set has %s" % ", ".join(need), all(all(k in s for k in need) for s in x["sets"]))
o = sets["original"]
ck("original row = eval --engine fixed: mIoU %.6f vs %.6f, rel err %.6f vs %.6f" % (o["semseg"]["miou"], fx["semseg"]["miou"], o["depth"]["rel_err"], fx["depth"]["rel_err"]),
   abs(o["semseg"]["miou"] - fx["semseg"]["miou"]) < 1e-12 and abs(o["depth"]["rel_err"] - fx["depth"]["rel_err"]) < 1e-12)
ck("original row's wraps = eval's datapath wraps (%d), stores equal" % fx["datapath"]["wraps"],
   o["datapath"]["wraps"] == fx["datapath"]["wraps"] and o["datapath"]["stores"] == fx["datapath"]["stores"])
ck("float numbers = eval --engine fast", abs(x["float"]["miou"] - fa["semseg"]["miou"]) < 1e-12 and abs(x["float"]["rel_err"] - fa["depth"]["rel_err"]) < 1e-12)
ck("deltas are set - float", all(abs(s["semseg"]["delta_miou"] - (s["semseg"]["miou"] - x["float"]["miou"])) < 1e-12 and
                                 abs(s["depth"]["delta_rel_err"] - (s["depth"]["rel_err"] - x["float"]["rel_err"])) < 1e-12 for s in x["sets"]))
ck("per-op wraps sum to the total", all(sum(v["wraps"] for v in s["datapath"]["ops"].values()) == s["datapath"]["wraps"] for s in x["sets"]))
ck("original: 0 wraps on the shipped model; fm16 (fm<16,6>): %d wraps" % sets["fm16"]["datapath"]["wraps"],
   o["datapath"]["wraps"] == 0 and sets["fm16"]["datapath"]["wraps"] > 0)
ck("modelled DSPs: original %g, fm24 %g (fm x weight and fm x fm products fit fewer 27x18 slices)" % (o["hw"]["dsp"], sets["fm24"]["hw"]["dsp"]),
   sets["fm24"]["hw"]["dsp"] < o["hw"]["dsp"] and sets["fm16"]["hw"]["dsp"] <= sets["fm24"]["hw"]["dsp"])
ck("modelled latency and DRAM bytes drop with narrower fm", sets["fm24"]["hw"]["latency_ms"]["semseg"] < o["hw"]["latency_ms"]["semseg"] and
   sets["fm24"]["hw"]["dram_mb"]["semseg"] < o["hw"]["dram_mb"]["semseg"])
try:
    svg = ET.parse(T + "/p.svg").getroot()
    circles = [e for e in svg.iter() if e.tag.endswith("circle")]
    texts = "".join(e.text or "" for e in svg.iter() if e.tag.endswith("text"))
    ck("SVG well-formed, a point per set (%d), labelled" % len(circles), len(circles) == 3 and all(n in texts for n in sets))
except ET.ParseError as e:
    ck("SVG well-formed: %s" % e, False)
PYEOF
"$EM" explore --data "$T/d" --formats original fm24 --limit 1 >"$T/table.txt" 2>/dev/null
check "explore table: a row per set with its formats" grep -q "^fm24 .*fm<24,8>" "$T/table.txt"

# errors: one line, non-zero exit, nothing written
printf '{"fm": {"w": 24, "i": 8}, "wgt": {"w": 8}}' >"$T/bad_key.json"
printf '{"fm": {"w": 40, "i": 8}}' >"$T/bad_w.json"
expect_error "explore: unknown preset" "unknown format preset\|not a preset" "$EM" explore --data "$T/d" --formats nosuch --svg "$T/e1.svg"
expect_error "explore: unknown key in a formats file, named with the file" "bad_key.json: unknown key 'wgt'" "$EM" explore --data "$T/d" --formats "$T/bad_key.json" --svg "$T/e2.svg"
expect_error "explore: width out of range" "bad_w.json.*fm width 40 out of range" "$EM" explore --data "$T/d" --formats "$T/bad_w.json" --svg "$T/e3.svg"
check "no SVG written on errors" test ! -e "$T/e1.svg" -a ! -e "$T/e2.svg" -a ! -e "$T/e3.svg"
"$EM" sample-image "$T/s.png" >/dev/null 2>&1
expect_error "run: --formats with a float engine" "fixed-point engines" "$EM" run --image "$T/s.png" --engine fast --formats fm24 --out "$T/o1"
check "run: nothing written" test ! -e "$T/o1"
expect_error "run: hw engine compiled for another set" "compiled for fm<32,10>" "$EM" run --image "$T/s.png" --engine hw --formats fm24 --task semseg
printf '{"name": "mine", "fm": {"w": 24, "i": 8}, "wt": {"w": 8, "i": 2}}' >"$T/mine.json"
"$EM" run --image "$T/s.png" --engine fixed --formats "$T/mine.json" --task semseg --json >"$T/run.json" 2>/dev/null
check "run --engine fixed --formats FILE.json" test -s "$T/run.json"
