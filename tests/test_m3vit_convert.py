#!/usr/bin/python3
"""tools/m3vit_convert.py: PyTorch M3ViT checkpoints -> edgemoe.

The project's own PyTorch M3ViT (bench/m3vit_torch.py) with random weights
saves checkpoints the way training does (one file; per-rank expert shards);
each is converted, edgemoe runs the result (--engine ref and fast), and its features,
logits and routing must match PyTorch's (1e-4 relative to the largest
magnitude; routing identical).  The torch-free .pth reader must return
exactly torch's tensors.  Malformed checkpoints must be refused with a clear
message, exit status 1 and no output file.  Non-default configs (D = 384 with
6 heads, 8 experts, top-1 / top-4; D = 96 with 3 heads, 3 tasks, 64x64 image)
exercise the loaders and the ref engine on other shapes.

Needs python3-numpy; python3-torch for everything but the torch-free part
(prints SKIP lines when torch is missing); $BUILD/edgemoe for the runs.
"""
import collections
import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import m3vit_convert as mc  # noqa: E402

try:
    import torch
    import m3vit_torch as mt
    torch.set_num_threads(1)
    HAVE_TORCH = True
except ImportError as e:
    HAVE_TORCH = False
    TORCH_ERR = str(e)

BUILD = os.environ.get("BUILD", "build")
EDGEMOE = os.path.join(ROOT, BUILD, "edgemoe")
CONVERT = os.path.join(ROOT, "tools", "m3vit_convert.py")
# float engines that must run any consistent config (docs/fast.md); the
# fixed engine is built for one config and refuses others by design
ENGINES = ("ref", "fast")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness as ph  # noqa: E402  (tests/pyharness.py: the PASS/FAIL lines)


def check(cond, msg):
    return ph.check(msg, bool(cond))


def convert(args):
    """Runs the converter in-process; returns (exit status, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = mc.main(list(args) + ["-q"])
    return rc, err.getvalue()


def refused(label, args, out, *needles):
    rc, err = convert(list(args) + [out])
    leftovers = [n for n in os.listdir(os.path.dirname(out)) if n.startswith("." + os.path.basename(out))]
    ok = rc == 1 and all(n.lower() in err.lower() for n in needles) and not os.path.exists(out) and not leftovers
    check(ok, "%s refused (rc=%d, no output: %s): %s" % (label, rc, not os.path.exists(out) and not leftovers,
                                                         err.strip()[:300]))
    return err


def same_arrays(a, b):
    """Bitwise equality of two numpy arrays, dtype and shape included."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.tobytes() == b.tobytes()


def test_image(path, c, h, w, seed):
    """A structured test image: gradients, blobs and noise, values k/256."""
    r = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((c, h, w))
    for ch in range(c):
        cx, cy = r.uniform(0, w), r.uniform(0, h)
        img[ch] = (0.5 + 0.3 * np.sin(x / r.uniform(5, 30) + ch) * np.cos(y / r.uniform(5, 30))
                   + 0.4 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.05 * w * h))
                   + 0.15 * r.randn(h, w))
    img = np.clip(np.floor(img * 256), 0, 255) / 256.0
    img.astype("<f4").tofile(path)
    return img.astype(np.float32)


# ------------------------------------------------------------------ pure reader
def test_pure_reader_matches_torch(tmp):
    big = torch.randn(10, 6)
    t = torch.randn(7, 5)
    sd = collections.OrderedDict()
    sd["f32"] = torch.randn(5, 7)
    sd["transposed"] = t.t()                       # non-contiguous strides
    sd["slice"] = big[2:5]                         # storage offset
    sd["col"] = big[:, 3]                          # offset + stride
    sd["shared"] = big                             # same storage as slice/col
    sd["f16"] = torch.randn(4, 3).half()
    sd["bf16"] = torch.randn(3, 4).bfloat16()
    sd["bf16_t"] = torch.randn(4, 6).bfloat16().t()
    sd["f64"] = torch.randn(3).double()
    sd["i64_scalar"] = torch.tensor(12345, dtype=torch.int64)   # num_batches_tracked
    sd["i32"] = torch.arange(6, dtype=torch.int32).view(2, 3)
    sd["u8"] = torch.arange(5, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2))
    sd["special"] = torch.tensor([float("inf"), -0.0, 1e-40, -3.5])
    path = os.path.join(tmp, "tensors.pth")
    torch.save(sd, path)
    pure = mc.read_pth_pure(path)
    ref = torch.load(path, map_location="cpu")
    check(list(pure.keys()) == list(ref.keys()), "pure reader: keys and their order as torch's (%d)" % len(ref))
    bad = []
    for k, v in ref.items():
        v = v.detach()
        want = (v.float() if v.dtype == torch.bfloat16 else v).numpy()
        if not same_arrays(pure[k], want):
            bad.append("%s (%s %s vs %s %s)" % (k, pure[k].dtype, pure[k].shape, want.dtype, want.shape))
    check(not bad, "pure reader: every tensor bitwise equal to torch's, dtypes and shapes too %s"
          % (bad or "(f32, f16, bf16->f32, f64, i64, i32, u8, bool, strided, offset, empty, Parameter)"))


def compare_state_dicts(label, a, b):
    bad = [k for k in b if k not in a or not same_arrays(a[k], b[k])]
    check(list(a) == list(b) and not bad,
          "%s: pure reader and torch give the same %d tensors bitwise%s" % (label, len(b), (" (differ: %s)" % bad[:5]) if bad else ""))


# ------------------------------------------------------------------ checkpoints
def state_dict_np(model):
    return collections.OrderedDict((k, v.detach().numpy()) for k, v in model.state_dict().items())


def save_single(model, path):
    """As a training script saves: wrapped, DataParallel prefix, extras."""
    sd = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    torch.save({"epoch": 7, "state_dict": sd,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1, 2]}]},
                "best_result": 0.42}, path)


def save_ranks(model, folder, k):
    """fastmoe expert parallelism: 0.pth has everything with its experts, the
    others only their experts."""
    os.makedirs(folder, exist_ok=True)
    E = model.cfg.n_experts
    per = E // k
    ranks = [collections.OrderedDict() for _ in range(k)]
    for key, v in model.state_dict().items():
        if ".mlp.experts." in key:
            for r in range(k):
                ranks[r][key] = v[r * per:(r + 1) * per].clone()
        else:
            ranks[0][key] = v
    for r in range(k):
        torch.save(ranks[r], os.path.join(folder, "%d.pth" % r))


def run_edgemoe(model_path, image_path, tasks, tmp, tag, engine="ref"):
    """One `edgemoe run` for every task in tasks; returns ({task: (features,
    logits, routing)}, None) or (None, stderr)."""
    d = os.path.join(tmp, "%s_%s" % (tag, engine))
    os.makedirs(d, exist_ok=True)
    f, l, r = (os.path.join(d, x + ".bin") for x in ("features", "logits", "routing"))
    p = subprocess.run([EDGEMOE, "run", "--model", model_path, "--image", image_path,
                        "--task", tasks[0] if len(tasks) == 1 else "all",
                        "--engine", engine, "--features", f, "--logits", l, "--routing", r],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    if len(tasks) == 1:   # one image, one task: the names as given
        names = {tasks[0]: (f, l, r)}
    else:                 # else <name>.<image stem>.<task>.bin
        stem = os.path.basename(image_path).split(".")[0]
        names = {t: tuple(os.path.join(d, "%s.%s.%s.bin" % (x, stem, t)) for x in ("features", "logits", "routing"))
                 for t in tasks}
    return {t: (np.fromfile(a, "<f4"), np.fromfile(b, "<f4"), np.fromfile(c, "<i4")) for t, (a, b, c) in names.items()}, None


def rel_err(got, want):
    m = float(np.abs(want).max())
    return float(np.abs(got - want).max()) / (m if m > 0 else 1.0)


def compare_with_torch(label, model, st_path, image, image_path, tmp, engines=("ref",), tasks=None):
    """edgemoe on each engine (one run for all tasks) against one PyTorch
    forward pass per task."""
    if not os.path.exists(EDGEMOE):
        check(False, "%s: %s not found (build it first: make BUILD=%s)" % (label, EDGEMOE, BUILD))
        return
    tasks = list(tasks or model.cfg.task_name)
    want = {}
    k = model.cfg.top_k
    for task in tasks:
        feats, logits, routing = model(torch.from_numpy(image), task)
        # margin between the k-th and the (k+1)-th expert, in gate-logit units
        gaps = [float((blk.mlp.last_prob[:, k - 1].log() - blk.mlp.last_prob[:, k].log()).min())
                for blk in model.backbone.blocks if hasattr(blk.mlp, "last_prob") and k < model.cfg.n_experts]
        want[task] = (feats, logits, torch.stack(routing).numpy().astype(np.int32), gaps)
    for engine in engines:
        elabel = "%s, %s engine" % (label, engine) if len(engines) > 1 else label
        outs, err = run_edgemoe(st_path, image_path, tasks, tmp, elabel.replace(" ", "_").replace(",", ""), engine)
        for task in tasks:
            feats, logits, want_r, gaps = want[task]
            if outs is None:
                check(False, "%s, task %s: edgemoe run --engine %s failed: %s" % (elabel, task, engine, err))
                if "not available" in err:
                    break     # one line, not one per task
                continue
            gf, gl, gr = outs[task]
            okf = gf.size == feats.numel()
            okl = gl.size == logits.numel()
            okr = gr.size == want_r.size
            ef = rel_err(gf.reshape(feats.shape), feats.numpy()) if okf else float("inf")
            el = rel_err(gl.reshape(logits.shape), logits.numpy()) if okl else float("inf")
            check(okf and ef <= 1e-4, "%s, task %s: features [%s] match PyTorch, rel err %.2e (<= 1e-4)"
                  % (elabel, task, "x".join(map(str, feats.shape)), ef))
            check(okl and el <= 1e-4, "%s, task %s: logits [%s] match PyTorch, rel err %.2e (<= 1e-4)"
                  % (elabel, task, "x".join(map(str, logits.shape)), el))
            nbad = int((gr.reshape(want_r.shape) != want_r).sum()) if okr else -1
            used = [int((np.bincount(x.ravel(), minlength=model.cfg.n_experts) > 0).sum()) for x in want_r]
            check(nbad == 0, "%s, task %s: routing [%s] identical to PyTorch (%s; experts used per layer %s; "
                  "smallest top-k logit margin %.2g)" % (elabel, task, "x".join(map(str, want_r.shape)),
                                                   "sizes differ" if not okr else "%d differ" % nbad, used,
                                                   min(gaps) if gaps else float("nan")))


def test_default_config(tmp):
    cfg = mt.M3ViTConfig()
    model = mt.M3ViT(cfg).init_random(seed=11).eval()
    single = os.path.join(tmp, "ckpt.pth")
    ranks2 = os.path.join(tmp, "ranks2")
    ranks4 = os.path.join(tmp, "ranks4")
    save_single(model, single)
    save_ranks(model, ranks2, 2)
    save_ranks(model, ranks4, 4)
    out = {}
    for name, src, extra in (("single", single, []), ("single_pure", single, ["--no-torch"]),
                             ("ranks2", ranks2, []), ("ranks2_pure", ranks2, ["--no-torch"]),
                             ("ranks4_pure", ranks4, ["--no-torch"])):
        out[name] = os.path.join(tmp, name + ".safetensors")
        rc, err = convert([src, out[name]] + extra)
        check(rc == 0 and os.path.exists(out[name]), "convert %s%s: rc=%d %s" % (name, " (torch-free reader)" if extra else "", rc, err.strip()))
    blobs = {n: open(p, "rb").read() for n, p in out.items() if os.path.exists(p)}
    check(len(blobs) == len(out) and len(set(blobs.values())) == 1,
          "single file, 2 and 4 rank files, torch and torch-free readers: byte-identical outputs (%d files)" % len(blobs))
    compare_state_dicts("single checkpoint", mc.read_checkpoint(single, use_torch=False),
                        mc.read_checkpoint(single, use_torch=True))
    compare_state_dicts("rank directory", mc.read_input(ranks2, use_torch=False), mc.read_input(ranks2, use_torch=True))

    # layout and metadata
    tensors, meta = mt.read_safetensors(out["single"])
    sd = state_dict_np(model)
    conf = json.loads(meta.get("edgemoe.config", "{}"))
    want = dict(img_c=3, img_h=128, img_w=256, patch=16, grid_h=8, grid_w=16, n_tok=129, dim=192, depth=12,
                n_heads=3, head_dim=64, mlp_hidden=768, n_experts=16, expert_hidden=384, top_k=2, n_tasks=2,
                head_ch=256, task_name=["semseg", "depth"], task_channels=[7, 1])
    check(meta.get("format") == "edgemoe" and all(conf.get(k) == v for k, v in want.items())
          and abs(conf.get("ln_eps", 0) - 1e-6) < 1e-12 and abs(conf.get("bn_eps", 0) - 1e-5) < 1e-12,
          "metadata: format edgemoe and the inferred config %s" % meta.get("edgemoe.config"))
    pos = sd["backbone.pos_embed"][0].copy()
    pos[0] += sd["backbone.cls_token"][0, 0]
    check(same_arrays(tensors["pos_embed"], pos), "pos_embed [129][192] carries cls_token in row 0")
    check(same_arrays(tensors["l5_w_gate_T_task1"], np.ascontiguousarray(sd["backbone.blocks.5.mlp.gate.1.w_gate"].T)),
          "l5_w_gate_T_task1 [16][192] is w_gate of task 1 transposed")
    check(same_arrays(tensors["l3_htoh4_weight"], sd["backbone.blocks.3.mlp.experts.htoh4.weight"])
          and tensors["l3_h4toh_weight"].shape == (16, 192, 384),
          "expert tensors keep [E][out][in]")
    check(len(tensors) == 215 and "head_depth_bn3_running_var" in tensors and "l4_fc2_bias" in tensors,
          "all 215 edgemoe tensors present (%d)" % len(tensors))

    img_path = os.path.join(tmp, "scene.float32.bin")
    image = test_image(img_path, 3, 128, 256, seed=3)
    # the rank-file conversions are byte-identical to this one (checked above)
    compare_with_torch("default config", model, out["single"], image, img_path, tmp, ENGINES)
    return model, single, ranks2


def test_shared_weights(tmp):
    """load_edgemoe_dir (the benchmark's PyTorch side) on the Edge-MoE weight
    directory gives edgemoe's numbers."""
    d = os.environ.get("EM_SHARED_WEIGHTS", os.path.join(ROOT, "..", "shared", "m3vit-edgemoe"))
    if not os.path.isdir(d):
        print("SKIP: %s not found: load_edgemoe_dir not checked on the shared weights" % d)
        return
    model = mt.load_edgemoe_dir(d)
    img = os.path.join(d, "image.float32.bin")
    image = np.fromfile(img, "<f4").reshape(3, 128, 256)
    compare_with_torch("Edge-MoE weight directory via load_edgemoe_dir", model, d, image, img, tmp, ("ref",),
                       tasks=["semseg"])    # one task is enough: the gates of both load alike


def test_other_configs(tmp):
    configs = [
        ("D384 6 heads 8 experts top-1", dict(dim=384, depth=4, n_heads=6, mlp_hidden=1536, n_experts=8,
                                              expert_hidden=512, top_k=1, head_ch=64), [], 21),
        ("D384 6 heads 8 experts top-4", dict(dim=384, depth=4, n_heads=6, mlp_hidden=1536, n_experts=8,
                                              expert_hidden=512, top_k=4, head_ch=64), [], 22),
        ("D96 3 heads 3 tasks 64x64", dict(dim=96, depth=6, n_heads=3, mlp_hidden=384, n_experts=8,
                                           expert_hidden=192, top_k=2, head_ch=32, img_h=64, img_w=64,
                                           task_name=("seg", "depth", "normals"), task_channels=(5, 1, 3)),
         ["--heads", "3"], 23),
        # MoE where em_config.moe_layers says, not the odd blocks: 0, 2 and 3
        ("D64 MoE in blocks 0, 2, 3", dict(dim=64, depth=4, n_heads=1, mlp_hidden=128, n_experts=4,
                                          expert_hidden=32, top_k=2, head_ch=16, moe_layers=0b1101), [], 24),
    ]
    for label, kw, extra, seed in configs:
        cfg = mt.M3ViTConfig(**kw)
        model = mt.M3ViT(cfg).init_random(seed=seed).eval()
        d = os.path.join(tmp, "cfg%d" % seed)
        os.makedirs(d)
        save_ranks(model, os.path.join(d, "ranks"), 2)
        st = os.path.join(d, "model.safetensors")
        rc, err = convert([os.path.join(d, "ranks"), st, "--top-k", str(cfg.top_k), "--no-torch"] + extra)
        if not check(rc == 0, "%s: converted (rc=%d) %s" % (label, rc, err.strip())):
            continue
        conf = json.loads(mt.read_safetensors(st)[1]["edgemoe.config"])
        odd = cfg.moe_layers & ((1 << cfg.depth) - 1) == 0xAAAAAAAA & ((1 << cfg.depth) - 1)
        check(all(conf[k] == getattr(cfg, k) for k in ("dim", "depth", "n_heads", "n_experts", "expert_hidden",
                                                        "top_k", "img_h", "img_w", "head_ch", "mlp_hidden"))
              and conf.get("moe_layers") == (None if odd else cfg.moe_layers)
              and conf["task_name"] == list(cfg.task_name) and conf["task_channels"] == list(cfg.task_channels),
              "%s: config in the metadata %s" % (label, mt.read_safetensors(st)[1]["edgemoe.config"]))
        img_path = os.path.join(d, "img.float32.bin")
        image = test_image(img_path, 3, cfg.img_h, cfg.img_w, seed=seed)
        compare_with_torch(label, model, st, image, img_path, d, ENGINES)


# ------------------------------------------------------------------ malformed input
def small_model():
    cfg = mt.M3ViTConfig(dim=64, depth=4, n_heads=1, mlp_hidden=128, n_experts=4, expert_hidden=32, head_ch=16)
    return mt.M3ViT(cfg).init_random(seed=5).eval()


def test_malformed(tmp, single):
    out = os.path.join(tmp, "bad_out", "o.safetensors")
    os.makedirs(os.path.dirname(out))
    blob = open(single, "rb").read()

    trunc = os.path.join(tmp, "truncated.pth")
    open(trunc, "wb").write(blob[:len(blob) * 6 // 10])
    for extra in ([], ["--no-torch"]):
        refused("truncated zip%s" % (" (torch-free)" if extra else ""), [trunc] + extra, out, "truncated")

    corrupt = os.path.join(tmp, "corrupt.pth")
    b = bytearray(blob)
    b[len(b) // 2] ^= 0x40
    open(corrupt, "wb").write(bytes(b))
    for extra in ([], ["--no-torch"]):
        refused("flipped byte in a tensor record%s" % (" (torch-free)" if extra else ""), [corrupt] + extra, out, "corrupt")

    notckpt = os.path.join(tmp, "notes.pth")
    open(notckpt, "w").write("hello\n")
    refused("a text file", [notckpt, "--no-torch"], out, "not a pytorch checkpoint")

    model = small_model()
    base = model.state_dict()

    def variant(name, edit):
        sd = collections.OrderedDict((k, v.clone()) for k, v in base.items())
        edit(sd)
        p = os.path.join(tmp, name + ".pth")
        torch.save(sd, p)
        return p

    p = variant("goodsmall", lambda sd: None)
    rc, err = convert([p, out, "--no-torch"])
    check(rc == 0, "small valid model (D=64, 1 head) converts: rc=%d %s" % (rc, err.strip()))
    good = open(out, "rb").read() if rc == 0 else b""
    if rc == 0:
        os.unlink(out)

    # accepted variants: same output as the plain checkpoint
    def gate_keys(sd):
        return [k for k in sd if k.endswith(".w_gate")]

    def noise(sd):
        for k in gate_keys(sd):
            sd[k.replace(".w_gate", ".w_noise")] = torch.randn(sd[k].shape)
    def by_name(sd):
        for k in gate_keys(sd):
            sd[k.replace(".gate.0.", ".gate.semseg.").replace(".gate.1.", ".gate.depth.")] = sd.pop(k)
    for name, edit, what in (("noise", noise, "training-only w_noise gate tensors ignored"),
                             ("byname", by_name, "gates keyed by task name (gate.semseg, gate.depth)")):
        p = variant(name, edit)
        rc, err = convert([p, out])
        same = rc == 0 and open(out, "rb").read() == good
        check(same, "%s: converts to the same file (rc=%d) %s" % (what, rc, err.strip()))
        if os.path.exists(out):
            os.unlink(out)

    def shared(sd):
        for k in gate_keys(sd):
            g = sd.pop(k)
            if ".gate.0." in k:
                sd[k.replace(".gate.0.", ".gate.")] = g
    p = variant("shared", shared)
    rc, err = convert([p, out, "--no-torch"])
    ok = rc == 0
    if ok:
        t, _ = mt.read_safetensors(out)
        g = base["backbone.blocks.3.mlp.gate.0.w_gate"].numpy().T
        ok = same_arrays(t["l3_w_gate_T_task0"], g) and same_arrays(t["l3_w_gate_T_task1"], g)
        os.unlink(out)
    check(ok, "one shared gate (mlp.gate.w_gate, multi_gate=False) serves every task (rc=%d) %s" % (rc, err.strip()))

    half = os.path.join(tmp, "half.pth")
    torch.save(collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in base.items()), half)
    rc, err = convert([half, out, "--no-torch"])
    ok = rc == 0
    if ok:
        t, _ = mt.read_safetensors(out)
        ok = (same_arrays(t["l1_htoh4_weight"], base["backbone.blocks.1.mlp.experts.htoh4.weight"].half().float().numpy())
              and same_arrays(t["head_depth_bn2_running_var"], base["decoders.depth.syncbn_fc_2.running_var"].half().float().numpy()))
        os.unlink(out)
    check(ok, "float16 checkpoint: tensors widened to F32 exactly (rc=%d) %s" % (rc, err.strip()))

    p = variant("wrongshape", lambda sd: sd.__setitem__("backbone.blocks.2.attn.qkv.weight", torch.zeros(192, 63)))
    refused("wrong qkv shape", [p], out, "wrong shapes", "backbone.blocks.2.attn.qkv.weight [192, 63]", "expected [192, 64]")

    def missing_unknown(sd):
        del sd["decoders.depth.conv_2.bias"]
        del sd["backbone.blocks.1.norm2.weight"]
        sd["backbone.blocks.1.mlp.extra_scale"] = torch.ones(3)
    p = variant("missing", missing_unknown)
    refused("missing and unknown keys", [p, "--no-torch"], out, "missing keys (2)", "decoders.depth.conv_2.bias",
            "backbone.blocks.1.norm2.weight", "unknown keys (1)", "backbone.blocks.1.mlp.extra_scale")

    def no_mlp(sd):
        for k in [k for k in sd if k.startswith("backbone.blocks.2.mlp.")]:
            del sd[k]
    p = variant("no_mlp", no_mlp)
    refused("a block without MLP", [p], out, "blocks [2] have neither a dense MLP")

    p = variant("nan", lambda sd: sd["backbone.blocks.3.mlp.experts.h4toh.weight"].__setitem__((2, 5, 7), float("nan")))
    refused("NaN weight", [p], out, "NaN", "backbone.blocks.3.mlp.experts.h4toh.weight")

    # shards
    ranks = os.path.join(tmp, "badranks")
    save_ranks(model, ranks, 2)
    r1 = torch.load(os.path.join(ranks, "1.pth"))
    good_r1 = collections.OrderedDict(r1)
    del r1["backbone.blocks.3.mlp.experts.htoh4.weight"]
    torch.save(r1, os.path.join(ranks, "1.pth"))
    refused("rank file missing an expert tensor", [ranks, "--no-torch"], out, "missing experts",
            "backbone.blocks.3.mlp.experts.htoh4.weight")
    r1 = collections.OrderedDict(good_r1)
    r1["backbone.blocks.1.mlp.experts.h4toh.bias"] = r1["backbone.blocks.1.mlp.experts.h4toh.bias"][:1].clone()
    torch.save(r1, os.path.join(ranks, "1.pth"))
    refused("rank file with one expert too few", [ranks], out, "wrong shapes",
            "backbone.blocks.1.mlp.experts.h4toh.bias [3, 64] (expected [4, 64])")
    r1 = collections.OrderedDict(good_r1)
    r1["backbone.blocks.0.norm1.weight"] = base["backbone.blocks.0.norm1.weight"]
    torch.save(r1, os.path.join(ranks, "1.pth"))
    refused("rank file with non-expert tensors", [ranks], out, "only expert tensors", "backbone.blocks.0.norm1.weight")
    torch.save(good_r1, os.path.join(ranks, "2.pth"))
    os.unlink(os.path.join(ranks, "1.pth"))
    refused("rank files with a gap", [ranks], out, "1.pth missing")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def test_malicious_pickle(tmp):
    """A .pth whose pickle calls os.system: refused, never run."""
    marker = os.path.join(tmp, "PWNED")
    p = os.path.join(tmp, "evil.pth")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"backbone.cls_token": _Evil(marker)}, protocol=2))
        z.writestr("evil/version", "3\n")
    out = os.path.join(tmp, "evil_out.safetensors")
    refused("pickle calling os.system (torch-free)", [p, "--no-torch"], out, "refusing", "system")
    if HAVE_TORCH:
        refused("pickle calling os.system (torch weights_only)", [p], out, "failed", "refusing")
    check(not os.path.exists(marker), "the malicious pickle's code never ran")


def test_cli(tmp, single):
    """The command itself: exit status 0 and a summary; 1 and one line on error."""
    out = os.path.join(tmp, "cli.safetensors")
    p = subprocess.run([sys.executable, CONVERT, single, out, "--no-torch"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    check(p.returncode == 0 and "D=192 depth=12 heads=3" in p.stdout and os.path.exists(out),
          "CLI converts (rc=%d): %s" % (p.returncode, p.stdout.strip()[:200]))
    p = subprocess.run([sys.executable, CONVERT, os.path.join(tmp, "nope.pth"), out + "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    check(p.returncode == 1 and p.stderr.count("\n") == 1 and "no such file" in p.stderr
          and not os.path.exists(out + "2"), "CLI: missing input -> exit 1, one line: %s" % p.stderr.strip())


def test_pure_only(tmp):
    """Without torch: the torch-free reader on a hand-made archive."""
    # a minimal archive as torch 1.13 writes it: OrderedDict of one float tensor
    data = np.arange(12, dtype="<f4")
    pk = (b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
          b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05"
          b"X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x0ctq\x08QK\x02K\x02K\x03\x86q\tK\x01K\x02\x86q\n"
          b"\x89ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0es.")
    p = os.path.join(tmp, "hand.pth")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hand/data.pkl", pk)
        z.writestr("hand/data/0", data.tobytes())
    got = mc.read_pth_pure(p)
    want = np.lib.stride_tricks.as_strided(data[2:], shape=(2, 3), strides=(4, 8))
    check(list(got) == ["w"] and same_arrays(got["w"], np.array(want)),
          "torch-free reader: hand-made archive, offset 2, size (2,3), stride (1,2) -> %s" % got["w"].tolist())
    p = os.path.join(tmp, "big.pth")
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("big/data.pkl", pk)
        z.writestr("big/byteorder", "big")
        z.writestr("big/data/0", data.astype(">f4").tobytes())
    got = mc.read_pth_pure(p)
    check(same_arrays(got["w"], np.array(want)), "torch-free reader: big-endian archive (byteorder record) -> %s"
          % got["w"].tolist())


def main():
    tmp = tempfile.mkdtemp(prefix="m3vit_convert_test.")
    try:
        test_pure_only(tmp)
        if not HAVE_TORCH:
            print("SKIP: torch not importable (%s): PyTorch checkpoints, torch comparison and edgemoe runs "
                  "not tested; install python3-torch" % TORCH_ERR)
            return 1 if ph.failures() else 0
        test_pure_reader_matches_torch(tmp)
        model, single, ranks2 = test_default_config(tmp)
        test_shared_weights(tmp)
        test_cli(tmp, single)
        test_malformed(tmp, single)
        test_malicious_pickle(tmp)
        test_other_configs(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if ph.failures() else 0


if __name__ == "__main__":
    sys.exit(main())
