#!/usr/bin/python3
"""Independent float64 numpy reference of M3ViT-tiny (docs/spec.md#1-the-model).

Written from the specification only, not from the C engine.  Computes the
backbone and the head of one task on an image and writes every intermediate
stage into a dump file that tests/check_ref_numpy.c compares the C reference
engine with.

Usage:
  m3vit_ref.py --model DIR|FILE.safetensors --image FILE --task NAME --out DUMP [--blocks-only]
  m3vit_ref.py [--model ...] --write-test-image FILE [--seed N | --uniform K]

The model: an Edge-MoE weight directory (one <name>.float32.bin per tensor;
the Edge-MoE config below, MoE in the odd blocks) or an edgemoe .safetensors
file, whose config (__metadata__ "edgemoe.config": sizes, tasks, and
moe_layers, the bit mask of the MoE blocks, absent = the odd blocks) is
used instead.

Dump format (little-endian), a sequence of records:
  uint32 name_len, name bytes (ASCII), uint32 ndim, uint32 shape[ndim],
  float32 data[prod(shape)] (row-major).
Records: "embed" [N][D]; "block0".."block<depth-1>" [N][D] (x after each block);
"routing" [n_moe][N][2] (expert ids as float, slot 0 = larger probability);
"gate_prob" [n_moe][N][2]; "gate_all" [n_moe][N][E] (every gate probability,
for diagnosing near ties); unless --blocks-only: "head.ln" [D][gh][gw],
"head.conv0".."head.conv3" [head_ch][h][w] (after conv + BN + ReLU),
"head.up0".."head.up2" (after each upsample), "head.cls" [C][H/2][W/2],
"logits" [C][H][W].
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

# ---- configuration (docs/spec.md#1-the-model), all in one place ----
# The Edge-MoE weight directory's (M3ViT-tiny); a .safetensors model's own
# config replaces it (set_config).
ODD_BLOCKS = 0xAAAAAAAA
CFG = dict(
    img_c=3, img_h=128, img_w=256, patch=16,
    dim=192, depth=12, n_heads=3, head_dim=64,
    mlp_hidden=768, n_experts=16, expert_hidden=384, top_k=2,
    tasks=("semseg", "depth"), task_channels=(7, 1),
    head_ch=256, ln_eps=1e-6, bn_eps=1e-5, moe_layers=ODD_BLOCKS,
)


def set_config(conf):
    """The config of an edgemoe .safetensors model (its JSON metadata)."""
    for k in ("img_c", "img_h", "img_w", "patch", "dim", "depth", "n_heads", "head_dim", "mlp_hidden",
              "n_experts", "expert_hidden", "top_k", "head_ch", "ln_eps", "bn_eps"):
        CFG[k] = conf[k]
    CFG["tasks"], CFG["task_channels"] = tuple(conf["task_name"]), tuple(conf["task_channels"])
    CFG["moe_layers"] = conf.get("moe_layers", ODD_BLOCKS)   # absent: the odd blocks
    derive_config()


def derive_config():
    CFG["grid_h"] = CFG["img_h"] // CFG["patch"]
    CFG["grid_w"] = CFG["img_w"] // CFG["patch"]
    CFG["n_tok"] = CFG["grid_h"] * CFG["grid_w"] + 1
    CFG["attn_scale"] = 1.0 / math.sqrt(CFG["head_dim"])


derive_config()


# Arithmetic type.  float64 for the reference; --dtype float32 exists only to
# estimate what a float32 engine can reach against it (not used by the tests).
DT = np.float64


def is_moe(layer):
    """Block layer has the MoE MLP: bit layer of the config's moe_layers."""
    return bool((CFG["moe_layers"] >> layer) & 1)


# ---- loading ----
class Weights:
    """A model: an Edge-MoE weight directory, or an edgemoe .safetensors file
    (float32 tensors; its config replaces CFG)."""
    def __init__(self, path):
        self.path, self.st = path, None
        if os.path.isdir(path):
            return
        with open(path, "rb") as f:
            blob = f.read()
        (hlen,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8:8 + hlen])
        meta = header.pop("__metadata__", {})
        if meta.get("format") != "edgemoe" or "edgemoe.config" not in meta:
            raise SystemExit("%s: not an edgemoe .safetensors model (no edgemoe.config metadata)" % path)
        set_config(json.loads(meta["edgemoe.config"]))
        self.st = {}
        for name, e in header.items():
            if e["dtype"] != "F32":
                raise SystemExit("%s: tensor %s is %s, expected F32" % (path, name, e["dtype"]))
            a, b = e["data_offsets"]
            self.st[name] = np.frombuffer(blob, "<f4", (b - a) // 4, 8 + hlen + a)

    def get(self, name, shape):
        if self.st is None:
            where = os.path.join(self.path, name + ".float32.bin")
            a = np.fromfile(where, dtype="<f4")
        elif name in self.st:
            where, a = "%s: %s" % (self.path, name), self.st[name]
        else:
            raise SystemExit("%s: no tensor %s" % (self.path, name))
        n = int(np.prod(shape))
        if a.size != n:
            raise SystemExit("%s: %d floats, expected %d for shape %s" % (where, a.size, n, shape))
        a = a.astype(DT).reshape(shape)
        if not np.all(np.isfinite(a)):
            raise SystemExit("%s: non-finite values" % where)
        return a


def load_image(path):
    c = CFG
    a = np.fromfile(path, dtype="<f4")
    n = c["img_c"] * c["img_h"] * c["img_w"]
    if a.size != n:
        raise SystemExit("%s: %d floats, expected %d (raw float32 [%d][%d][%d])"
                         % (path, a.size, n, c["img_c"], c["img_h"], c["img_w"]))
    return a.astype(DT).reshape(c["img_c"], c["img_h"], c["img_w"])


# ---- building blocks ----
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    """Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def layer_norm(x, w, b, eps):
    """LayerNorm over the last axis, biased variance."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def softmax(s, axis=-1):
    s = s - s.max(axis=axis, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=axis, keepdims=True)


def patch_embed(img, W, b, pos):
    c = CFG
    P, gh, gw, C = c["patch"], c["grid_h"], c["grid_w"], c["img_c"]
    # (c, py, y, px, x) -> (py, px, c, y, x): patch p = py*gw + px, features (c, y, x)
    patches = img.reshape(C, gh, P, gw, P).transpose(1, 3, 0, 2, 4).reshape(gh * gw, C * P * P)
    tok = patches @ W.reshape(W.shape[0], -1).T + b
    x = np.zeros((c["n_tok"], c["dim"]), dtype=DT)
    x[1:] = tok
    return x + pos


def attention(h, Wqkv, bqkv, Wp, bp):
    c = CFG
    D, H, hd = c["dim"], c["n_heads"], c["head_dim"]
    qkv = h @ Wqkv.T + bqkv
    q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
    out = np.empty_like(q)
    for i in range(H):
        sl = slice(i * hd, (i + 1) * hd)
        a = softmax(q[:, sl] @ k[:, sl].T * c["attn_scale"], axis=-1)
        out[:, sl] = a @ v[:, sl]
    return out @ Wp.T + bp


def top2(p):
    """Per row: the top-k indices by probability, ties to the lower index."""
    order = np.argsort(-p, axis=-1, kind="stable")
    return order[:, :CFG["top_k"]]


def moe(h, Wg, W1, b1, W2, b2):
    """Returns (output, routing [N][k], g [N][k], all probabilities [N][E], scores [N][E])."""
    score = h @ Wg.T
    p = softmax(score, axis=-1)
    idx = top2(p)
    g = np.take_along_axis(p, idx, axis=-1)
    out = np.zeros_like(h)
    for e in range(CFG["n_experts"]):
        toks, slot = np.nonzero(idx == e)
        if toks.size == 0:
            continue
        y = gelu(h[toks] @ W1[e].T + b1[e]) @ W2[e].T + b2[e]
        np.add.at(out, toks, y * g[toks, slot][:, None])
    return out, idx, g, p, score


def conv3x3(x, W, b):
    """x [Cin][H][W], W [Cout][Cin][3][3], zero padding 1: im2col + matmul."""
    cin, H, Wd = x.shape
    xp = np.zeros((cin, H + 2, Wd + 2), dtype=x.dtype)
    xp[:, 1:-1, 1:-1] = x
    cols = np.empty((cin, 3, 3, H, Wd), dtype=x.dtype)
    for dy in range(3):
        for dx in range(3):
            cols[:, dy, dx] = xp[:, dy:dy + H, dx:dx + Wd]
    out = W.reshape(W.shape[0], -1) @ cols.reshape(cin * 9, H * Wd)
    return (out + b[:, None]).reshape(W.shape[0], H, Wd)


def _up_axis(n):
    """PyTorch bilinear x2, align_corners=False, along one axis of size n:
    output d reads src = max((d + 0.5) / 2 - 0.5, 0); i0 = floor(src),
    i1 = min(i0 + 1, n - 1), weight of i1 = src - i0."""
    d = np.arange(2 * n, dtype=np.float64)
    src = np.maximum((d + 0.5) / 2.0 - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(DT)
    return i0, i1, lam


def upsample2(x):
    """x [C][H][W] -> [C][2H][2W]."""
    _, H, W = x.shape
    i0, i1, l = _up_axis(H)
    x = x[:, i0, :] * (1.0 - l)[None, :, None] + x[:, i1, :] * l[None, :, None]
    j0, j1, m = _up_axis(W)
    return x[:, :, j0] * (1.0 - m)[None, None, :] + x[:, :, j1] * m[None, None, :]


# ---- the model ----
def backbone(w, img, task, rec):
    c = CFG
    D, N = c["dim"], c["n_tok"]
    P, C = c["patch"], c["img_c"]
    x = patch_embed(img, w.get("patch_embed_weight", (D, C, P, P)),
                    w.get("patch_embed_bias", (D,)), w.get("pos_embed", (N, D)))
    rec("embed", x)
    routing, gprob, gall, scores = [], [], [], []
    for L in range(c["depth"]):
        p = "l%d_" % L
        h = layer_norm(x, w.get(p + "norm1_weight", (D,)), w.get(p + "norm1_bias", (D,)), c["ln_eps"])
        x = x + attention(h, w.get(p + "qkv_weight", (3 * D, D)), w.get(p + "qkv_bias", (3 * D,)),
                          w.get(p + "attn_proj_weight", (D, D)), w.get(p + "attn_proj_bias", (D,)))
        h = layer_norm(x, w.get(p + "norm2_weight", (D,)), w.get(p + "norm2_bias", (D,)), c["ln_eps"])
        if is_moe(L):
            E, He = c["n_experts"], c["expert_hidden"]
            y, idx, g, pr, sc = moe(h, w.get(p + "w_gate_T_task%d" % task, (E, D)),
                                w.get(p + "htoh4_weight", (E, He, D)), w.get(p + "htoh4_bias", (E, He)),
                                w.get(p + "h4toh_weight", (E, D, He)), w.get(p + "h4toh_bias", (E, D)))
            routing.append(idx)
            gprob.append(g)
            gall.append(pr)
            scores.append(sc)
        else:
            Hd = c["mlp_hidden"]
            y = gelu(h @ w.get(p + "fc1_weight", (Hd, D)).T + w.get(p + "fc1_bias", (Hd,)))
            y = y @ w.get(p + "fc2_weight", (D, Hd)).T + w.get(p + "fc2_bias", (D,))
        x = x + y
        rec("block%d" % L, x)
    rec("routing", np.array(routing, dtype=np.float64))
    rec("gate_prob", np.array(gprob))
    rec("gate_all", np.array(gall))
    return x, np.array(scores)


def head(w, x, task, rec):
    c = CFG
    D, hc = c["dim"], c["head_ch"]
    gh, gw = c["grid_h"], c["grid_w"]
    name = c["tasks"][task]
    C = c["task_channels"][task]
    p = "head_%s_" % name
    t = layer_norm(x[1:], w.get(p + "norm_weight", (D,)), w.get(p + "norm_bias", (D,)), c["ln_eps"])
    f = t.T.reshape(D, gh, gw)  # token p+1 -> (p // gw, p % gw)
    rec("head.ln", f)
    for i in range(4):
        cin = D if i == 0 else hc
        f = conv3x3(f, w.get(p + "conv%d_weight" % i, (hc, cin, 3, 3)), w.get(p + "conv%d_bias" % i, (hc,)))
        mean = w.get(p + "bn%d_running_mean" % i, (hc,))
        var = w.get(p + "bn%d_running_var" % i, (hc,))
        gamma = w.get(p + "bn%d_weight" % i, (hc,))
        beta = w.get(p + "bn%d_bias" % i, (hc,))
        f = (f - mean[:, None, None]) / np.sqrt(var + c["bn_eps"])[:, None, None] * gamma[:, None, None] \
            + beta[:, None, None]
        f = np.maximum(f, 0.0)
        rec("head.conv%d" % i, f)
        if i < 3:
            f = upsample2(f)
            rec("head.up%d" % i, f)
    Wc = w.get(p + "conv4_weight", (C, hc, 1, 1)).reshape(C, hc)
    bc = w.get(p + "conv4_bias", (C,))
    _, H, W = f.shape
    f = (Wc @ f.reshape(hc, H * W) + bc[:, None]).reshape(C, H, W)
    rec("head.cls", f)
    f = upsample2(f)
    rec("logits", f)
    return f


class Dump:
    def __init__(self):
        self.records = []

    def __call__(self, name, a):
        self.records.append((name, np.ascontiguousarray(a, dtype=np.float64)))

    def write(self, path):
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            for name, a in self.records:
                nb = name.encode("ascii")
                f.write(struct.pack("<I", len(nb)))
                f.write(nb)
                f.write(struct.pack("<I", a.ndim))
                f.write(struct.pack("<%dI" % a.ndim, *a.shape))
                f.write(a.astype("<f4").tobytes())
        os.replace(tmp, path)


def write_test_image(path, seed, uniform=None):
    """Deterministic extra test input, raw float32 [C][H][W] (the model's), values k/256:
    uniform K -> every value K/256; else a colour gradient plus seeded noise
    and a few flat rectangles."""
    c = CFG
    C, H, W = c["img_c"], c["img_h"], c["img_w"]
    if uniform is not None:
        np.full((C, H, W), uniform / 256.0).astype("<f4").tofile(path)
        return
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.arange(H) / H, np.arange(W) / W, indexing="ij")
    img = np.empty((C, H, W))
    img[0] = 0.6 * xx + 0.2 * yy
    img[1] = 0.3 + 0.5 * yy * (1 - xx)
    img[2] = 0.5 + 0.4 * np.sin(6.0 * xx + 3.0 * yy)
    img += rng.normal(0.0, 0.08, size=img.shape)
    for _ in range(6):
        y0, x0 = rng.integers(0, max(H - 32, 1)), rng.integers(0, max(W - 48, 1))
        img[:, y0:y0 + rng.integers(8, 32), x0:x0 + rng.integers(8, 48)] = rng.random(C)[:, None, None]
    k = np.clip(np.floor(img * 256.0), 0, 255)
    (k / 256.0).astype("<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--image")
    ap.add_argument("--task")
    ap.add_argument("--out")
    ap.add_argument("--blocks-only", action="store_true")
    ap.add_argument("--write-test-image", metavar="FILE")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--uniform", type=int, choices=range(256), metavar="K",
                    help="with --write-test-image: a flat image, every value K/256")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64", help=argparse.SUPPRESS)
    a = ap.parse_args()
    global DT
    DT = np.dtype(a.dtype).type
    w = Weights(a.model) if a.model else None     # sets CFG from a .safetensors model
    if a.write_test_image:
        write_test_image(a.write_test_image, a.seed, a.uniform)
        return 0
    if not (a.model and a.image and a.task and a.out):
        ap.error("--model, --image, --task and --out are required")
    if a.task not in CFG["tasks"]:
        ap.error("--task %s: the model's tasks are %s" % (a.task, ", ".join(CFG["tasks"])))
    task = CFG["tasks"].index(a.task)
    img = load_image(a.image)
    dump = Dump()
    t0 = time.time()
    x, scores = backbone(w, img, task, dump)
    t1 = time.time()
    if not a.blocks_only:
        head(w, x, task, dump)
    t2 = time.time()
    dump.write(a.out)
    # How close the routing decisions are to ties: the smallest gate-score gap
    # between neighbours among the top k+1 scores of a token (a float32 engine
    # can only flip a decision whose gap is within its rounding error).
    k = CFG["top_k"]
    s = -np.sort(-scores, axis=-1)[..., :k + 1]
    gap = s[..., :-1] - s[..., 1:]
    l, t, j = np.unravel_index(np.argmin(gap), gap.shape)
    print("m3vit_ref: task %s: backbone %.2f s, head %.2f s; min gate-score gap %.3g "
          "(moe layer %d, token %d, rank %d/%d); |block%d| max %.3g"
          % (a.task, t1 - t0, t2 - t1, gap.min(), l, t, j, j + 1, CFG["depth"] - 1, np.abs(x).max()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
