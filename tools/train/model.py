"""M3ViT for training, batched: the Edge-MoE configuration exactly as
edgemoe's engines run it (docs/spec.md section 1).

Parameter names are those of the M3ViT MultiTaskModel, so the state dict
converts with tools/m3vit_convert.py (convert_state_dict) into edgemoe's
tensor names.  What the engines compute and this module must match:
  - patch embed: conv PxP stride P; token 0 = cls_token; + pos_embed;
  - 12 blocks x = x + attn(LN1(x)); x = x + MLP(LN2(x)), LN eps 1e-6;
    attention scale head_dim^-0.5; exact erf GELU;
  - odd blocks MoE: g = softmax(h W_gate[task]) over all experts, the top-k
    probabilities used as they are (no renormalisation), experts htoh4 ->
    GELU -> h4toh, applied to every token including token 0;
  - PUP head: drop token 0, LN, reshape to D x grid, 4 x (conv3x3 + BN +
    ReLU, bilinear x2 after the first three), conv1x1, bilinear x2.
The blocks before the first gate (embed, block 0, block 1's attention) run
once for all tasks, as in the engines.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = dict(img_c=3, img_h=128, img_w=256, patch=16, dim=192, depth=12, n_heads=3,
                      mlp_hidden=768, n_experts=16, expert_hidden=384, top_k=2,
                      task_name=["semseg", "depth"], task_channels=[7, 1], head_ch=256,
                      ln_eps=1e-6, bn_eps=1e-5)

# The accelerator's number formats (docs/spec.md section 2): <W,I> holds
# [-2^(I-1), 2^(I-1) - 2^-(W-I)].  Training keeps every parameter inside the
# format it is stored in on the accelerator, so nothing wraps there.
def fixed_range(w, i):
    return -2.0 ** (i - 1), 2.0 ** (i - 1) - 2.0 ** -(w - i)


def param_format(name):
    """(W, I) of the accelerator format a parameter is stored in, or None for
    parameters that stay on the host (the heads) or are folded (cls_token)."""
    if name.startswith("decoders.") or name.endswith("cls_token"):
        return None
    if name == "backbone.pos_embed":
        return (32, 10)
    if name == "backbone.patch_embed.proj.weight":
        return (16, 0)
    if name.endswith("weight") and ("norm1" in name or "norm2" in name):
        return (16, 5)
    if name.endswith("w_gate") or name.endswith("weight"):
        return (16, 2)
    if ".attn." in name and name.endswith("bias"):
        return (16, 7)
    if name.endswith("bias"):
        return (16, 5)
    raise ValueError("no accelerator format for parameter %s" % name)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads = c["n_heads"]
        self.scale = (c["dim"] // c["n_heads"]) ** -0.5
        self.qkv = nn.Linear(c["dim"], 3 * c["dim"])
        self.proj = nn.Linear(c["dim"], c["dim"])

    def forward(self, h):
        b, n, d = h.shape
        qkv = self.qkv(h).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                       # [B][heads][N][hd]
        a = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        return self.proj(torch.matmul(a, v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["dim"], c["mlp_hidden"])
        self.fc2 = nn.Linear(c["mlp_hidden"], c["dim"])

    def forward(self, h, task, stats):
        return self.fc2(F.gelu(self.fc1(h)))


class ExpertLinear(nn.Module):
    """fastmoe's layout: weight [E][out][in], bias [E][out]."""
    def __init__(self, n_experts, d_in, d_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_experts, d_out, d_in))
        self.bias = nn.Parameter(torch.zeros(n_experts, d_out))
        nn.init.trunc_normal_(self.weight, std=0.02)


class Experts(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.htoh4 = ExpertLinear(c["n_experts"], c["dim"], c["expert_hidden"])
        self.h4toh = ExpertLinear(c["n_experts"], c["expert_hidden"], c["dim"])


class Gate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w_gate = nn.Parameter(torch.empty(c["dim"], c["n_experts"]))
        nn.init.trunc_normal_(self.w_gate, std=0.02)


class MoEMlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.top_k = c["top_k"]
        self.n_experts = c["n_experts"]
        self.experts = Experts(c)
        self.gate = nn.ModuleList([Gate(c) for _ in c["task_name"]])

    def forward(self, h, task, stats):
        b, n, d = h.shape
        x = h.reshape(b * n, d)
        logits = x @ self.gate[task].w_gate                       # [M][E]
        prob = torch.softmax(logits, dim=-1)
        top_g, top_e = prob.topk(self.top_k, dim=-1)              # [M][k], no renormalisation
        flat_e = top_e.reshape(-1)
        counts = torch.bincount(flat_e, minlength=self.n_experts)
        if stats is not None:
            # Switch-style balance: E * sum_e (share of slots to e) * (mean prob of e)
            share = counts.to(prob.dtype) / flat_e.numel()
            stats["balance"].append(self.n_experts * (share * prob.mean(0)).sum())
            stats["zloss"].append(torch.logsumexp(logits, dim=-1).pow(2).mean())
            stats["counts"].append(counts.detach())
        # the accelerator's patch reordering: tokens grouped by expert
        order = torch.argsort(flat_e, stable=True)
        tok = torch.div(order, self.top_k, rounding_mode="floor")
        g = top_g.reshape(-1)[order].unsqueeze(1)
        xin = x.index_select(0, tok)
        w1, b1 = self.experts.htoh4.weight, self.experts.htoh4.bias
        w2, b2 = self.experts.h4toh.weight, self.experts.h4toh.bias
        ys, start = [], 0
        for e, cnt in enumerate(counts.tolist()):
            if cnt:
                seg = xin[start:start + cnt]
                ys.append(F.linear(F.gelu(F.linear(seg, w1[e], b1[e])), w2[e], b2[e]))
                start += cnt
        y = (torch.cat(ys, 0) * g).to(x.dtype)
        return torch.zeros_like(x).index_add(0, tok, y).view(b, n, d)


class Block(nn.Module):
    def __init__(self, c, layer):
        super().__init__()
        self.norm1 = nn.LayerNorm(c["dim"], eps=c["ln_eps"])
        self.attn = Attention(c)
        self.norm2 = nn.LayerNorm(c["dim"], eps=c["ln_eps"])
        self.mlp = MoEMlp(c) if is_moe(c, layer) else Mlp(c)

    def forward(self, x, task, stats):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x), task, stats)


class PatchEmbed(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Conv2d(c["img_c"], c["dim"], c["patch"], stride=c["patch"])


MOE_ODD = 0xAAAAAAAA   # em_config's default moe_layers: the odd blocks are MoE


def is_moe(c, layer):
    """Block layer is MoE: bit layer of c["moe_layers"] (em_is_moe)."""
    return c.get("moe_layers", MOE_ODD) >> layer & 1 == 1


class Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        n_tok = (c["img_h"] // c["patch"]) * (c["img_w"] // c["patch"]) + 1
        self.patch_embed = PatchEmbed(c)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c["dim"]))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tok, c["dim"]))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.cfg = c
        self.blocks = nn.ModuleList([Block(c, l) for l in range(c["depth"])])

    def forward(self, image, tasks, stats=None):
        """image [B][3][H][W] -> {task: features [B][N][D]}; stats, when
        given, collects per-MoE-layer balance terms and expert counts and the
        largest |x| of the residual stream."""
        p = self.patch_embed.proj(image).flatten(2).transpose(1, 2)      # [B][N-1][D]
        x = torch.cat([self.cls_token.expand(p.shape[0], -1, -1), p], 1) + self.pos_embed
        g = next(l for l in range(len(self.blocks)) if is_moe(self.cfg, l))   # the first gate
        for blk in self.blocks[:g]:
            x = blk(x, None, None)
        b1 = self.blocks[g]
        x = x + b1.attn(b1.norm1(x))                 # the last task-independent step
        out = {}
        for t in tasks:
            xt = x + b1.mlp(b1.norm2(x), t, stats)
            for blk in self.blocks[g + 1:]:
                xt = blk(xt, t, stats)
                if stats is not None:
                    stats["absmax"].append(xt.detach().abs().max())
                    stats["resid"].append(xt)
            out[t] = xt
        return out


class Head(nn.Module):
    """PUP decoder of M3ViT."""
    def __init__(self, c, channels):
        super().__init__()
        self.grid = (c["img_h"] // c["patch"], c["img_w"] // c["patch"])
        self.norm = nn.LayerNorm(c["dim"], eps=c["ln_eps"])
        hc = c["head_ch"]
        for i in range(4):
            setattr(self, "conv_%d" % i, nn.Conv2d(c["dim"] if i == 0 else hc, hc, 3, padding=1))
            setattr(self, "syncbn_fc_%d" % i, nn.BatchNorm2d(hc, eps=c["bn_eps"]))
        self.conv_4 = nn.Conv2d(hc, channels, 1)

    def forward(self, features):
        t = self.norm(features[:, 1:])
        y = t.transpose(1, 2).reshape(t.shape[0], t.shape[2], self.grid[0], self.grid[1])
        for i in range(4):
            y = F.relu(getattr(self, "syncbn_fc_%d" % i)(getattr(self, "conv_%d" % i)(y)))
            if i < 3:
                y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = self.conv_4(y)
        return F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)


class M3ViT(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = dict(DEFAULT_CONFIG)
        c.update(config)
        self.cfg = c
        self.backbone = Backbone(c)
        self.decoders = nn.ModuleDict({n: Head(c, ch) for n, ch in zip(c["task_name"], c["task_channels"])})
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, image, tasks, stats=None):
        """-> {task index: (features [B][N][D], logits [B][C][H][W])}"""
        feats = self.backbone(image, tasks, stats)
        names = self.cfg["task_name"]
        return {t: (f, self.decoders[names[t]](f)) for t, f in feats.items()}

    @torch.no_grad()
    def clamp_to_formats(self):
        """Projects every accelerator-side parameter into its fixed-point range."""
        for name, p in self.named_parameters():
            fmt = param_format(name)
            if fmt:
                lo, hi = fixed_range(*fmt)
                p.clamp_(lo, hi)
