#!/usr/bin/env bash
# src/hw is the synthesizable golden model: checks the HLS-subset rules that a
# compiler can check.  Each file compiles as pedantic C99 with warnings as
# errors; the objects call nothing outside src/hw but memset/memcpy (no libm,
# no malloc/free, no stdio); the call graph has no cycle (no recursion) and
# no indirect call (no function pointers).
cd "$(dirname "$0")/.."
CC=${CC:-cc}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
ok=1
for f in src/hw/*.c; do
    b=$(basename "$f" .c)
    if ! (cd "$T" && $CC -std=c99 -pedantic -Wall -Wextra -Werror -Wno-unknown-pragmas -O0 \
            -fcallgraph-info -I"$OLDPWD/src/hw" -c "$OLDPWD/$f" -o "$b.o") 2>"$T/$b.err"; then
        echo "  $f:"; head -5 "$T/$b.err"; ok=0
    fi
done
n=$(ls src/hw/*.c | wc -l)
if [ $ok = 1 ]; then echo "PASS: hw_rules: $n files compile with -std=c99 -pedantic -Wall -Wextra -Werror"
else echo "FAIL: hw_rules: some src/hw files do not compile as pedantic C99"; exit 1; fi
/usr/bin/python3 - "$T" <<'PY'
import glob, os, re, subprocess, sys
d = sys.argv[1]
objs = sorted(glob.glob(os.path.join(d, "*.o")))
defined, undef = set(), set()
for o in objs:
    for line in subprocess.run(["nm", o], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U": undef.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDRBtdrb": defined.add(parts[2])
external = sorted(undef - defined - {"memset", "memcpy"})
print(("PASS" if not external else "FAIL") + ": hw_rules: no call outside src/hw but memset/memcpy (external: %s)" % (", ".join(external) or "none"))
edges, indirect = {}, []
for ci in glob.glob(os.path.join(d, "*.ci")):
    text = open(ci).read()
    for m in re.finditer(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', text):
        edges.setdefault(m.group(1), set()).add(m.group(2))
        if "indirect" in m.group(2): indirect.append(m.group(1))
# cycle search (recursion, direct or mutual)
state, cycle = {}, []
def visit(n, path):
    global cycle
    if cycle: return
    state[n] = 1
    for t in edges.get(n, ()):
        if state.get(t) == 1: cycle = path + [n, t]; return
        if t not in state: visit(t, path + [n])
    state[n] = 2
for n in list(edges):
    if n not in state: visit(n, [])
print(("PASS" if not cycle else "FAIL") + ": hw_rules: call graph of %d functions has no cycle (no recursion)%s" % (len(edges), (": " + " -> ".join(cycle)) if cycle else ""))
print(("PASS" if not indirect else "FAIL") + ": hw_rules: no indirect call (no function pointers)%s" % ((" in " + ", ".join(sorted(set(indirect)))) if indirect else ""))
tops = [n for n in edges if n == "hw_edgemoe_top"]
print(("PASS" if tops else "FAIL") + ": hw_rules: top function hw_edgemoe_top found in the call graph")
PY
