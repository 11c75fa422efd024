#!/usr/bin/python3
"""PyTorch M3ViT (multi-task MoE ViT) written from docs/spec.md#1-the-model.

Used by the benchmark (bench/bench_fast.sh, docs/fast.md) as the PyTorch baseline
and by tests/test_m3vit_convert.py as the source of real-looking checkpoints.
Module structure and parameter names are those of the M3ViT MultiTaskModel,
so model.state_dict() is what an M3ViT training run saves:

  backbone.patch_embed.proj.{weight,bias}          conv PxP stride P
  backbone.cls_token [1,1,D]   backbone.pos_embed [1,N,D]
  backbone.blocks.L.norm1/norm2.{weight,bias}
  backbone.blocks.L.attn.qkv/proj.{weight,bias}
  even L (dense): backbone.blocks.L.mlp.fc1/fc2.{weight,bias}
  odd L (MoE):    backbone.blocks.L.mlp.experts.htoh4/h4toh.{weight [E,out,in], bias [E,out]}
                  backbone.blocks.L.mlp.gate.T.w_gate [D,E]   (T = task index)
  decoders.<task>.norm.{weight,bias}, decoders.<task>.conv_0..conv_4.{weight,bias},
  decoders.<task>.syncbn_fc_0..3.{weight,bias,running_mean,running_var,num_batches_tracked}

Public names:
  M3ViTConfig(**dims)           every dimension; field names as edgemoe's em_config
  M3ViTConfig.from_json(dict)   from the "edgemoe.config" metadata JSON object
  M3ViT(cfg)                    the model (call .eval(); eval mode only)
  model.forward(image, task) -> (features [N][D], logits [C][H][W], routing)
        (forward, backbone_forward and head_forward run under torch.inference_mode)
        image [3][H][W] or [1][3][H][W] float32; task: name or index;
        routing: list, one int64 tensor [N][top_k] per MoE layer, slot 0 = largest g
  model.backbone_forward(image, task) -> (features, routing)   (for timing)
  model.head_forward(features, task) -> logits                 (for timing)
  model.init_random(seed)       realistic random weights (test models)
  load_edgemoe_dir(path, cfg=None) -> M3ViT
        the Edge-MoE weight directory (../shared/m3vit-edgemoe layout: one
        <tensor>.float32.bin per tensor; w_gate_T_task{T} [E][D] is transposed
        into w_gate [D,E]; pos_embed has the class token folded into row 0, so
        cls_token is set to zero)
  load_edgemoe_safetensors(path) -> M3ViT
        an edgemoe .safetensors file (config from its "edgemoe.config" metadata)
  load_edgemoe(path) -> M3ViT   directory or .safetensors, by what path is
  edgemoe_tensors_to_state_dict(tensors, cfg) -> state dict (numpy name->array
        in edgemoe naming, e.g. from read_safetensors, to torch names)
  read_safetensors(path) -> (dict name -> float32 numpy array, metadata dict)

Class token: the checkpoint keeps cls_token [1,1,D] apart from pos_embed [1,N,D];
x = cat(cls_token, patches) + pos_embed is the same as edgemoe's layout where
token 0 = 0 and pos_embed row 0 already holds cls_token.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class M3ViTConfig:
    FIELDS = dict(img_c=3, img_h=128, img_w=256, patch=16, dim=192, depth=12,
                  n_heads=3, mlp_hidden=768, n_experts=16, expert_hidden=384,
                  top_k=2, task_name=("semseg", "depth"), task_channels=(7, 1),
                  head_ch=256, ln_eps=1e-6, bn_eps=1e-5, moe_layers=0xAAAAAAAA)

    def __init__(self, **kw):
        for k, v in self.FIELDS.items():
            setattr(self, k, kw.pop(k, v))
        if kw:
            raise TypeError("unknown config fields: %s" % ", ".join(sorted(kw)))
        self.task_name = tuple(self.task_name)
        self.task_channels = tuple(int(c) for c in self.task_channels)
        if len(self.task_name) != len(self.task_channels):
            raise ValueError("task_name and task_channels differ in length")
        if self.dim % self.n_heads:
            raise ValueError("dim %d is not a multiple of n_heads %d" % (self.dim, self.n_heads))
        if self.img_h % self.patch or self.img_w % self.patch:
            raise ValueError("image %dx%d is not a multiple of patch %d" % (self.img_h, self.img_w, self.patch))
        if not 0 <= self.moe_layers < 1 << 32:
            raise ValueError("moe_layers 0x%x is not a 32-bit mask" % self.moe_layers)
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError("top_k %d out of range 1..%d" % (self.top_k, self.n_experts))

    @property
    def grid_h(self):
        return self.img_h // self.patch

    @property
    def grid_w(self):
        return self.img_w // self.patch

    @property
    def n_tok(self):
        return self.grid_h * self.grid_w + 1

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def n_tasks(self):
        return len(self.task_name)

    def is_moe(self, layer):
        """Block layer is MoE: bit layer of moe_layers (em_is_moe)."""
        return self.moe_layers >> layer & 1 == 1

    def to_json(self):
        d = {k: getattr(self, k) for k in self.FIELDS}
        d["task_name"] = list(self.task_name)
        d["task_channels"] = list(self.task_channels)
        d.update(grid_h=self.grid_h, grid_w=self.grid_w, n_tok=self.n_tok,
                 head_dim=self.head_dim, n_tasks=self.n_tasks)
        # as edgemoe writes it: the bits below depth, only when not the odd blocks
        mask = self.moe_layers & ((1 << self.depth) - 1)
        if mask == 0xAAAAAAAA & ((1 << self.depth) - 1):
            del d["moe_layers"]
        else:
            d["moe_layers"] = mask
        return d

    @classmethod
    def from_json(cls, d):
        kw = {k: d[k] for k in cls.FIELDS if k in d}
        if "n_heads" not in kw and "head_dim" in d and "dim" in d:
            kw["n_heads"] = d["dim"] // d["head_dim"]
        return cls(**kw)


# ---------------------------------------------------------------- modules
class PatchEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Conv2d(cfg.img_c, cfg.dim, cfg.patch, stride=cfg.patch)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.scale = cfg.head_dim ** -0.5
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def forward(self, h):
        n, d = h.shape
        qkv = self.qkv(h).view(n, 3, self.n_heads, d // self.n_heads).permute(1, 2, 0, 3)
        q, k, v = qkv[0], qkv[1], qkv[2]                  # [heads][N][hd]
        a = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * self.scale, dim=-1)
        o = torch.matmul(a, v).transpose(0, 1).reshape(n, d)
        return self.proj(o)


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_hidden)
        self.fc2 = nn.Linear(cfg.mlp_hidden, cfg.dim)

    def forward(self, h, task):
        return self.fc2(F.gelu(self.fc1(h))), None


class ExpertLinear(nn.Module):
    """fastmoe's FMoELinear layout: weight [E][out][in], bias [E][out]."""
    def __init__(self, n_experts, d_in, d_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_experts, d_out, d_in))
        self.bias = nn.Parameter(torch.zeros(n_experts, d_out))


class Experts(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.htoh4 = ExpertLinear(cfg.n_experts, cfg.dim, cfg.expert_hidden)
        self.h4toh = ExpertLinear(cfg.n_experts, cfg.expert_hidden, cfg.dim)


class Gate(nn.Module):
    """M3ViT's (V-MoE style) gate: softmax over all experts of h @ w_gate."""
    def __init__(self, cfg):
        super().__init__()
        self.w_gate = nn.Parameter(torch.zeros(cfg.dim, cfg.n_experts))


class MoEMlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.top_k = cfg.top_k
        self.n_experts = cfg.n_experts
        self.experts = Experts(cfg)
        self.gate = nn.ModuleList([Gate(cfg) for _ in range(cfg.n_tasks)])

    def forward(self, h, task):
        n = h.shape[0]
        k = self.top_k
        prob = torch.softmax(torch.matmul(h, self.gate[task].w_gate), dim=-1)    # [N][E]
        # descending, stable: equal probabilities keep the lower expert first
        val, idx = torch.sort(prob, dim=1, descending=True, stable=True)
        self.last_prob = val      # sorted gate probabilities (diagnostics: top-k margins)
        top_g, top_e = val[:, :k], idx[:, :k]                                     # [N][k]
        # patch reordering: the (token, slot) pairs grouped by expert
        flat_e = top_e.reshape(-1)
        order = torch.argsort(flat_e, stable=True)
        tok = torch.div(order, k, rounding_mode="floor")
        g = top_g.reshape(-1)[order].unsqueeze(1)
        counts = torch.bincount(flat_e, minlength=self.n_experts).tolist()
        w1, b1 = self.experts.htoh4.weight, self.experts.htoh4.bias
        w2, b2 = self.experts.h4toh.weight, self.experts.h4toh.bias
        out = torch.zeros_like(h)
        start = 0
        for e, c in enumerate(counts):
            if c == 0:
                continue
            t = tok[start:start + c]
            y = F.linear(F.gelu(F.linear(h.index_select(0, t), w1[e], b1[e])), w2[e], b2[e])
            out.index_add_(0, t, y * g[start:start + c])
            start += c
        return out, top_e


class Block(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        self.mlp = MoEMlp(cfg) if cfg.is_moe(layer) else Mlp(cfg)

    def forward(self, x, task):
        x = x + self.attn(self.norm1(x))
        y, routing = self.mlp(self.norm2(x), task)
        return x + y, routing


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.n_tok, cfg.dim))
        self.blocks = nn.ModuleList([Block(cfg, l) for l in range(cfg.depth)])

    def forward(self, image, task):
        p = self.patch_embed.proj(image)                       # [1][D][gh][gw]
        x = torch.cat([self.cls_token[0], p.flatten(2)[0].t()], 0) + self.pos_embed[0]
        routing = []
        for blk in self.blocks:
            x, r = blk(x, task)
            if r is not None:
                routing.append(r)
        return x, routing


class Head(nn.Module):
    """M3ViT "PUP" decoder: LN, 4 x (conv3x3 + BN + ReLU, bilinear x2 after the
    first three), conv1x1, final bilinear x2."""
    def __init__(self, cfg, channels):
        super().__init__()
        self.grid = (cfg.grid_h, cfg.grid_w)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.ln_eps)
        for i in range(4):
            cin = cfg.dim if i == 0 else cfg.head_ch
            setattr(self, "conv_%d" % i, nn.Conv2d(cin, cfg.head_ch, 3, padding=1))
            setattr(self, "syncbn_fc_%d" % i, nn.BatchNorm2d(cfg.head_ch, eps=cfg.bn_eps))
        self.conv_4 = nn.Conv2d(cfg.head_ch, channels, 1)

    def forward(self, features):
        t = self.norm(features[1:])
        y = t.t().reshape(1, t.shape[1], self.grid[0], self.grid[1])
        for i in range(4):
            y = getattr(self, "conv_%d" % i)(y)
            y = F.relu(getattr(self, "syncbn_fc_%d" % i)(y))
            if i < 3:
                y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = self.conv_4(y)
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        return y[0]


class M3ViT(nn.Module):
    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = cfg or M3ViTConfig()
        self.backbone = Backbone(self.cfg)
        self.decoders = nn.ModuleDict({name: Head(self.cfg, ch) for name, ch in
                                       zip(self.cfg.task_name, self.cfg.task_channels)})

    def task_index(self, task):
        if isinstance(task, str):
            if task not in self.cfg.task_name:
                raise ValueError("unknown task %r (tasks: %s)" % (task, ", ".join(self.cfg.task_name)))
            return self.cfg.task_name.index(task)
        if not 0 <= task < self.cfg.n_tasks:
            raise ValueError("task index %d out of range" % task)
        return int(task)

    @staticmethod
    def _image(image):
        image = torch.as_tensor(image, dtype=torch.float32)
        return image if image.dim() == 4 else image.unsqueeze(0)

    @torch.inference_mode()
    def backbone_forward(self, image, task):
        return self.backbone(self._image(image), self.task_index(task))

    @torch.inference_mode()
    def head_forward(self, features, task):
        return self.decoders[self.cfg.task_name[self.task_index(task)]](features)

    @torch.inference_mode()
    def forward(self, image, task):
        feats, routing = self.backbone_forward(image, task)
        return feats, self.head_forward(feats, task), routing

    @torch.no_grad()
    def init_random(self, seed=0, gate_scale=4.0):
        """Random weights with realistic magnitudes.  gate_scale widens the
        gate logits so that top-k choices have clear margins (test models)."""
        g = torch.Generator().manual_seed(seed)
        cfg = self.cfg

        def rnd(p, std, mean=0.0):
            p.copy_(torch.randn(p.shape, generator=g) * std + mean)

        for name, p in self.named_parameters():
            fan_in = p.shape[-1] if p.dim() >= 2 else cfg.dim
            if p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
            if name.endswith("w_gate"):
                rnd(p, gate_scale / cfg.dim ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                rnd(p, 0.1, 1.0)
            elif "syncbn" in name and name.endswith("weight"):
                rnd(p, 0.1, 1.0)
            elif name.endswith("bias"):
                rnd(p, 0.02)
            elif name.endswith("cls_token") or name.endswith("pos_embed"):
                rnd(p, 1.0)   # varied tokens: routing spreads over most experts
            else:
                rnd(p, fan_in ** -0.5)
        for name, b in self.named_buffers():
            if name.endswith("running_mean"):
                rnd(b, 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(1000)
        return self


# ---------------------------------------------------------------- loading
def edgemoe_tensors_to_state_dict(tensors, cfg):
    """tensors: edgemoe name -> numpy array (any shape with the right size).
    Returns a torch state dict for M3ViT(cfg) (cls_token zero, pos_embed as
    given: the class token is already folded into row 0)."""
    sd = {}

    def put(key, name, shape):
        if name not in tensors:
            raise KeyError("missing tensor %s" % name)
        a = np.asarray(tensors[name], dtype=np.float32)
        if a.size != int(np.prod(shape)):
            raise ValueError("%s: %d values, expected shape %s" % (name, a.size, list(shape)))
        sd[key] = torch.from_numpy(np.ascontiguousarray(a).reshape(shape).copy())

    D, E, He, H, hc = cfg.dim, cfg.n_experts, cfg.expert_hidden, cfg.mlp_hidden, cfg.head_ch
    put("backbone.patch_embed.proj.weight", "patch_embed_weight", (D, cfg.img_c, cfg.patch, cfg.patch))
    put("backbone.patch_embed.proj.bias", "patch_embed_bias", (D,))
    sd["backbone.cls_token"] = torch.zeros(1, 1, D)
    put("backbone.pos_embed", "pos_embed", (1, cfg.n_tok, D))
    for l in range(cfg.depth):
        b, s = "backbone.blocks.%d." % l, "l%d_" % l
        for n in ("norm1", "norm2"):
            put(b + n + ".weight", s + n + "_weight", (D,))
            put(b + n + ".bias", s + n + "_bias", (D,))
        put(b + "attn.qkv.weight", s + "qkv_weight", (3 * D, D))
        put(b + "attn.qkv.bias", s + "qkv_bias", (3 * D,))
        put(b + "attn.proj.weight", s + "attn_proj_weight", (D, D))
        put(b + "attn.proj.bias", s + "attn_proj_bias", (D,))
        if cfg.is_moe(l):
            put(b + "mlp.experts.htoh4.weight", s + "htoh4_weight", (E, He, D))
            put(b + "mlp.experts.htoh4.bias", s + "htoh4_bias", (E, He))
            put(b + "mlp.experts.h4toh.weight", s + "h4toh_weight", (E, D, He))
            put(b + "mlp.experts.h4toh.bias", s + "h4toh_bias", (E, D))
            for t in range(cfg.n_tasks):
                put(b + "mlp.gate.%d.w_gate" % t, s + "w_gate_T_task%d" % t, (E, D))
                sd[b + "mlp.gate.%d.w_gate" % t] = sd[b + "mlp.gate.%d.w_gate" % t].t().contiguous()
        else:
            put(b + "mlp.fc1.weight", s + "fc1_weight", (H, D))
            put(b + "mlp.fc1.bias", s + "fc1_bias", (H,))
            put(b + "mlp.fc2.weight", s + "fc2_weight", (D, H))
            put(b + "mlp.fc2.bias", s + "fc2_bias", (D,))
    for task, C in zip(cfg.task_name, cfg.task_channels):
        b, s = "decoders.%s." % task, "head_%s_" % task
        put(b + "norm.weight", s + "norm_weight", (D,))
        put(b + "norm.bias", s + "norm_bias", (D,))
        for i in range(4):
            put(b + "conv_%d.weight" % i, s + "conv%d_weight" % i, (hc, D if i == 0 else hc, 3, 3))
            put(b + "conv_%d.bias" % i, s + "conv%d_bias" % i, (hc,))
            for f in ("weight", "bias", "running_mean", "running_var"):
                put(b + "syncbn_fc_%d.%s" % (i, f), s + "bn%d_%s" % (i, f), (hc,))
            sd[b + "syncbn_fc_%d.num_batches_tracked" % i] = torch.tensor(0, dtype=torch.int64)
        put(b + "conv_4.weight", s + "conv4_weight", (C, hc, 1, 1))
        put(b + "conv_4.bias", s + "conv4_bias", (C,))
    return sd


class _DirTensors:
    """Lazy name -> array view of an Edge-MoE weight directory."""
    def __init__(self, path):
        self.path = path

    def __contains__(self, name):
        return os.path.exists(os.path.join(self.path, name + ".float32.bin"))

    def __getitem__(self, name):
        return np.fromfile(os.path.join(self.path, name + ".float32.bin"), dtype="<f4")


def _build(sd, cfg):
    model = M3ViT(cfg)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def load_edgemoe_dir(path, cfg=None):
    """The Edge-MoE weight directory (e.g. ../shared/m3vit-edgemoe) -> M3ViT."""
    cfg = cfg or M3ViTConfig()
    return _build(edgemoe_tensors_to_state_dict(_DirTensors(path), cfg), cfg)


def read_safetensors(path):
    """Minimal safetensors reader: F32/F16/BF16 -> float32 numpy arrays."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = blob[base + b:base + e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError("%s: tensor %s has dtype %s" % (path, name, dt))
        out[name] = a.reshape(info["shape"])
    return out, meta


def load_edgemoe_safetensors(path):
    tensors, meta = read_safetensors(path)
    if "edgemoe.config" not in meta:
        raise ValueError("%s: no edgemoe.config metadata" % path)
    cfg = M3ViTConfig.from_json(json.loads(meta["edgemoe.config"]))
    return _build(edgemoe_tensors_to_state_dict(tensors, cfg), cfg)


def load_edgemoe(path):
    if os.path.isdir(path):
        return load_edgemoe_dir(path)
    return load_edgemoe_safetensors(path)


def load_image_bin(path, cfg=None):
    """Raw [3][H][W] little-endian float32 image -> torch tensor."""
    cfg = cfg or M3ViTConfig()
    a = np.fromfile(path, dtype="<f4")
    return torch.from_numpy(a.reshape(cfg.img_c, cfg.img_h, cfg.img_w).copy())


if __name__ == "__main__":
    import argparse
    import time
    ap = argparse.ArgumentParser(description="run the PyTorch M3ViT on edgemoe weights")
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "m3vit-edgemoe"))
    ap.add_argument("--image", help="raw float32 [3][H][W]; default: the model dir's image")
    ap.add_argument("--task", default="semseg")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--features")
    ap.add_argument("--logits")
    ap.add_argument("--routing")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    m = load_edgemoe(a.model)
    img = load_image_bin(a.image or os.path.join(a.model, "image.float32.bin"), m.cfg)
    t0 = time.perf_counter()
    feats, logits, routing = m(img, a.task)
    print("%.1f ms" % ((time.perf_counter() - t0) * 1e3))
    if a.features:
        feats.numpy().astype("<f4").tofile(a.features)
    if a.logits:
        logits.numpy().astype("<f4").tofile(a.logits)
    if a.routing:
        torch.stack(routing).numpy().astype("<i4").tofile(a.routing)
