"""safetensors interop, checked with Python's standard library only (json, struct):

1. files written here, by this script's own reading of the format and of the
   Edge-MoE tensor naming (mixed F32 / F16 / BF16, shuffled header order,
   shuffled data placement with gaps, with and without edgemoe.config) load in
   edgemoe with every value equal to Python's own conversion (struct 'e' for
   F16);
2. files edgemoe writes parse here: header length multiple of 8, space padding,
   __metadata__ {"format", "edgemoe.config"} with the documented keys, F32,
   offsets back to back, data equal to the source (the shared Edge-MoE
   directory when present).
Needs $BUILD/tests/check_safetensors (tests/check_safetensors.c)."""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
CHECK = os.path.join(ROOT, BUILD, "tests", "check_safetensors")
SHARED = os.environ.get("EM_SHARED_WEIGHTS", os.path.join(ROOT, "..", "shared", "m3vit-edgemoe"))

CONFIG_KEYS = ["img_c", "img_h", "img_w", "patch", "grid_h", "grid_w", "n_tok", "dim", "depth", "n_heads",
               "head_dim", "mlp_hidden", "n_experts", "expert_hidden", "top_k", "n_tasks", "head_ch",
               "task_name", "task_channels", "ln_eps", "bn_eps"]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness as ph  # noqa: E402  (tests/pyharness.py: the PASS/FAIL lines)


def check(cond, msg):
    return ph.check(msg, bool(cond))


def model_tensors(c):
    """(name, shape) of every tensor, from the Edge-MoE README's table."""
    D, N, H, E, He, hc = c["dim"], c["n_tok"], c["mlp_hidden"], c["n_experts"], c["expert_hidden"], c["head_ch"]
    out = [("patch_embed_weight", [D, c["img_c"], c["patch"], c["patch"]]), ("patch_embed_bias", [D]),
           ("pos_embed", [N, D])]
    for L in range(c["depth"]):
        p = "l%d_" % L
        out += [(p + "norm1_weight", [D]), (p + "norm1_bias", [D]), (p + "norm2_weight", [D]),
                (p + "norm2_bias", [D]), (p + "qkv_weight", [3 * D, D]), (p + "qkv_bias", [3 * D]),
                (p + "attn_proj_weight", [D, D]), (p + "attn_proj_bias", [D])]
        if L % 2 == 0:
            out += [(p + "fc1_weight", [H, D]), (p + "fc1_bias", [H]), (p + "fc2_weight", [D, H]),
                    (p + "fc2_bias", [D])]
        else:
            out += [(p + "w_gate_T_task%d" % t, [E, D]) for t in range(c["n_tasks"])]
            out += [(p + "htoh4_weight", [E, He, D]), (p + "htoh4_bias", [E, He]),
                    (p + "h4toh_weight", [E, D, He]), (p + "h4toh_bias", [E, D])]
    for name, C in zip(c["task_name"], c["task_channels"]):
        p = "head_%s_" % name
        out += [(p + "norm_weight", [D]), (p + "norm_bias", [D])]
        for i in range(4):
            out += [(p + "conv%d_weight" % i, [hc, D if i == 0 else hc, 3, 3]), (p + "conv%d_bias" % i, [hc])]
            out += [(p + "bn%d_%s" % (i, f), [hc]) for f in ("weight", "bias", "running_mean", "running_var")]
        out += [(p + "conv4_weight", [C, hc, 1, 1]), (p + "conv4_bias", [C])]
    return out


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def make_values(rng, dtype, n):
    """(raw bytes in the file, expected float32 bytes after loading)."""
    if dtype == "F32":
        raw = struct.pack("<%df" % n, *[rng.uniform(-2, 2) for _ in range(n)])
        return raw, raw
    halves = []
    while len(halves) < n:
        h = rng.getrandbits(16)
        exp_all_ones = (h >> 10) & 31 == 31 if dtype == "F16" else (h >> 7) & 255 == 255
        if not exp_all_ones:
            halves.append(h)
    raw = struct.pack("<%dH" % n, *halves)
    if dtype == "F16":
        vals = struct.unpack("<%de" % n, raw)            # Python's own binary16 decoder
        return raw, struct.pack("<%df" % n, *vals)
    return raw, struct.pack("<%dI" % n, *[h << 16 for h in halves])


def write_file(path, entries, metadata, rng):
    """entries: list of (name, dtype, shape, raw).  Header order and data
    placement are shuffled independently; gaps between tensors."""
    order = list(range(len(entries)))
    rng.shuffle(order)
    blob, offs = b"", {}
    for i in order:
        blob += b"\0" * rng.choice([0, 0, 4, 12])
        offs[i] = (len(blob), len(blob) + len(entries[i][3]))
        blob += entries[i][3]
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    horder = list(range(len(entries)))
    rng.shuffle(horder)
    for i in horder:
        name, dt, shape, _ = entries[i]
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": list(offs[i])}
    hj = json.dumps(header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + blob)


def run(*args):
    p = subprocess.run([CHECK] + list(args), capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def read_back(tmp, path, tag):
    out = os.path.join(tmp, "dump_" + tag)
    os.mkdir(out)
    rc, err = run("dump", path, out)
    if rc != 0:
        return None, None, err
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    tensors = {}
    with open(os.path.join(out, "tensors.txt")) as f:
        for line in f:
            name, shp = line.split()
            with open(os.path.join(out, name + ".float32.bin"), "rb") as g:
                tensors[name] = ([int(x) for x in shp.split("x")], g.read())
    return cfg, tensors, ""


def test_python_written(tmp):
    cfg = dict(img_c=3, img_h=32, img_w=64, patch=16, grid_h=2, grid_w=4, n_tok=9, dim=64, depth=4, n_heads=1,
               head_dim=64, mlp_hidden=128, n_experts=4, expert_hidden=64, top_k=2, n_tasks=3, head_ch=16,
               task_name=["semseg", "depth", "edges"], task_channels=[7, 1, 1], ln_eps=1e-6, bn_eps=1e-5)
    rng = random.Random(2024)
    names = model_tensors(cfg)
    entries, expect, counts = [], {}, {"F32": 0, "F16": 0, "BF16": 0}
    for i, (name, shape) in enumerate(names):
        dt = "F16" if i % 3 == 1 else "BF16" if i % 5 == 2 else "F32"
        raw, exp = make_values(rng, dt, numel(shape))
        entries.append((name, dt, shape, raw))
        expect[name] = (shape, exp)
        counts[dt] += 1
    meta = {"format": "edgemoe", "edgemoe.config": json.dumps(cfg, separators=(",", ":"))}
    for tag, md in (("meta", meta), ("nometa", None)):
        path = os.path.join(tmp, "py_%s.safetensors" % tag)
        write_file(path, entries, md, rng)
        got_cfg, got, err = read_back(tmp, path, tag)
        check(got is not None, "[%s] Python-written file (%d F32, %d F16, %d BF16 tensors, shuffled, gaps) loads%s"
              % (tag, counts["F32"], counts["F16"], counts["BF16"], ": " + err if err else ""))
        if got is None:
            continue
        check(got_cfg == cfg, "[%s] config as written / inferred: %s" % (tag, json.dumps(got_cfg)))
        check(sorted(got) == sorted(expect), "[%s] same %d tensor names" % (tag, len(expect)))
        bad = [n for n in expect if n in got and (got[n][0] != expect[n][0] or got[n][1] != expect[n][1])]
        check(not bad, "[%s] every tensor's shape and float32 values equal Python's conversion (%d differ: %s)"
              % (tag, len(bad), ", ".join(bad[:3])))
    # non-finite and unsupported dtypes: the error names the tensor
    for what, dt, raw in (("F16 +inf", "F16", struct.pack("<e", float("inf"))),
                          ("F16 nan", "F16", struct.pack("<e", float("nan"))),
                          ("F64", "F64", struct.pack("<d", 1.0))):
        bad_entries = list(entries)
        k = [n for n, _ in names].index("l2_fc2_bias")
        name, _, shape, _ = entries[k]
        size = {"F16": 2, "F64": 8}[dt]
        body = raw + b"\0" * (numel(shape) * size - len(raw))
        bad_entries[k] = (name, dt, shape, body)
        path = os.path.join(tmp, "py_bad.safetensors")
        write_file(path, bad_entries, meta, rng)
        rc, err = run("dump", path, tmp)
        check(rc == 1 and "l2_fc2_bias" in err, "%s in l2_fc2_bias rejected by name: %s" % (what, err))


def parse(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    text = blob[8:8 + hlen].decode("utf-8")
    header = json.loads(text)
    return blob, hlen, text, header


def test_edgemoe_written(tmp):
    path = os.path.join(tmp, "synth.safetensors")
    rc, err = run("synth", path, "5")
    check(rc == 0, "edgemoe writes a tiny synthetic model %s" % err)
    if rc:
        return
    blob, hlen, text, header = parse(path)
    body = text.rstrip(" ")
    check(hlen % 8 == 0 and body.endswith("}") and len(text) - len(body) < 8,
          "header length %d is a multiple of 8, padded with %d spaces" % (hlen, len(text) - len(body)))
    meta = header.pop("__metadata__", None)
    check(isinstance(meta, dict) and meta.get("format") == "edgemoe" and isinstance(meta.get("edgemoe.config"), str),
          "__metadata__ has format=edgemoe and an edgemoe.config string")
    cfg = json.loads(meta["edgemoe.config"])
    check(list(cfg) == CONFIG_KEYS, "edgemoe.config keys are the documented ones, in order")
    check(cfg["dim"] == 32 and cfg["n_heads"] == 2 and cfg["task_name"] == ["semseg", "depth"]
          and cfg["ln_eps"] == 1e-6 and cfg["bn_eps"] == 1e-5, "edgemoe.config values: %s" % meta["edgemoe.config"])
    names = model_tensors(cfg)
    check(sorted(header) == sorted(n for n, _ in names) and
          all(header[n]["shape"] == s for n, s in names), "%d tensors with the README names and shapes" % len(names))
    off, ok = 0, True
    for name, info in header.items():      # json keeps the file's order
        b, e = info["data_offsets"]
        ok &= info["dtype"] == "F32" and b == off and e - b == numel(info["shape"]) * 4
        off = e
    check(ok and off == len(blob) - 8 - hlen, "all F32, back to back from offset 0 to the end of the file")

    if not os.path.exists(os.path.join(SHARED, "pos_embed.float32.bin")):
        print("SKIP: shared Edge-MoE weights not found at %s" % SHARED)
        return
    path = os.path.join(tmp, "m3vit.safetensors")
    rc, err = run("save", SHARED, path)
    check(rc == 0, "edgemoe converts the Edge-MoE directory %s" % err)
    if rc:
        return
    blob, hlen, text, header = parse(path)
    header.pop("__metadata__")
    files = sorted(f[:-len(".float32.bin")] for f in os.listdir(SHARED) if f.endswith(".float32.bin"))
    model_files = [f for f in files if f not in ("image", "l11_x_post_moe")]
    check(sorted(header) == model_files, "%d tensors = the directory's files but image and l11_x_post_moe"
          % len(header))
    bad = []
    for name, info in header.items():
        b, e = info["data_offsets"]
        with open(os.path.join(SHARED, name + ".float32.bin"), "rb") as f:
            if f.read() != blob[8 + hlen + b:8 + hlen + e]:
                bad.append(name)
    check(not bad, "every tensor's bytes equal its .float32.bin file (%d differ %s)" % (len(bad), bad[:3]))


def main():
    if not os.access(CHECK, os.X_OK):
        check(False, "%s is built" % CHECK)
        return 1
    tmp = tempfile.mkdtemp(prefix="em_st_py_")
    try:
        test_python_written(tmp)
        test_edgemoe_written(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if ph.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
