#!/usr/bin/python3
"""Writes the non-image seeds of the fuzz corpus (tests/fuzz/corpus/):
.npy files (versions 1.0/2.0, dataset shapes in miniature), config JSON,
a tiny model as safetensors (F32 and F16), and Edge-MoE directory inputs
(first byte: tensor index, then the file).  The outputs are committed."""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, "corpus")
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import m3vit_convert  # noqa: E402

rng = np.random.default_rng(1)
np.save(os.path.join(C, "npy", "image.npy"), rng.random((4, 8, 3), dtype=np.float32))
np.save(os.path.join(C, "npy", "label.npy"), rng.integers(-1, 7, (4, 8)).astype(np.float32))
np.save(os.path.join(C, "npy", "depth.npy"), rng.random((4, 8, 1), dtype=np.float32) * 80)
np.save(os.path.join(C, "npy", "f8.npy"), np.zeros(3))
np.save(os.path.join(C, "npy", "fortran.npy"), np.asfortranarray(np.zeros((2, 3), np.float32)))
with open(os.path.join(C, "npy", "v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.ones((2, 2), np.float32), version=(2, 0))

cfg = dict(img_c=3, img_h=16, img_w=32, patch=16, grid_h=1, grid_w=2, n_tok=3, dim=8, depth=2, n_heads=1,
           head_dim=8, mlp_hidden=16, n_experts=2, expert_hidden=8, top_k=2, n_tasks=2,
           task_name=["semseg", "depth"], task_channels=[7, 1], head_ch=4, ln_eps=1e-6, bn_eps=1e-5)
with open(os.path.join(C, "config", "tiny.json"), "w") as f:
    json.dump(cfg, f)
default = dict(cfg, img_h=128, img_w=256, grid_h=8, grid_w=16, n_tok=129, dim=192, depth=12, n_heads=3,
               head_dim=64, mlp_hidden=768, n_experts=16, expert_hidden=384, head_ch=256)
with open(os.path.join(C, "config", "default.json"), "w") as f:
    json.dump(default, f)
with open(os.path.join(C, "config", "three_tasks.json"), "w") as f:
    json.dump(dict(cfg, n_tasks=3, task_name=["semseg", "depth", "normals"], task_channels=[7, 1, 3]), f)

# tiny model: the M3ViT state dict shapes for cfg, random values
D, E, He, H, hc = cfg["dim"], cfg["n_experts"], cfg["expert_hidden"], cfg["mlp_hidden"], cfg["head_ch"]
sd = {"backbone.patch_embed.proj.weight": (D, 3, 16, 16), "backbone.patch_embed.proj.bias": (D,),
      "backbone.cls_token": (1, 1, D), "backbone.pos_embed": (1, 3, D)}
for l in range(cfg["depth"]):
    b = "backbone.blocks.%d." % l
    for n in ("norm1", "norm2"):
        sd[b + n + ".weight"] = (D,)
        sd[b + n + ".bias"] = (D,)
    sd[b + "attn.qkv.weight"] = (3 * D, D)
    sd[b + "attn.qkv.bias"] = (3 * D,)
    sd[b + "attn.proj.weight"] = (D, D)
    sd[b + "attn.proj.bias"] = (D,)
    if l % 2:
        sd[b + "mlp.experts.htoh4.weight"] = (E, He, D)
        sd[b + "mlp.experts.htoh4.bias"] = (E, He)
        sd[b + "mlp.experts.h4toh.weight"] = (E, D, He)
        sd[b + "mlp.experts.h4toh.bias"] = (E, D)
        for t in range(2):
            sd[b + "mlp.gate.%d.w_gate" % t] = (D, E)
    else:
        sd[b + "mlp.fc1.weight"] = (H, D)
        sd[b + "mlp.fc1.bias"] = (H,)
        sd[b + "mlp.fc2.weight"] = (D, H)
        sd[b + "mlp.fc2.bias"] = (D,)
for task, ch in (("semseg", 7), ("depth", 1)):
    b = "decoders.%s." % task
    sd[b + "norm.weight"] = (D,)
    sd[b + "norm.bias"] = (D,)
    for i in range(4):
        sd[b + "conv_%d.weight" % i] = (hc, D if i == 0 else hc, 3, 3)
        sd[b + "conv_%d.bias" % i] = (hc,)
        for f in ("weight", "bias", "running_mean"):
            sd[b + "syncbn_fc_%d.%s" % (i, f)] = (hc,)
        sd[b + "syncbn_fc_%d.running_var" % i] = "var"
    sd[b + "conv_4.weight"] = (ch, hc, 1, 1)
    sd[b + "conv_4.bias"] = (ch,)
arrays = {k: (rng.random(hc, dtype=np.float32) + 0.5 if s == "var" else
              (rng.standard_normal(s) * 0.1).astype(np.float32)) for k, s in sd.items()}
conf, tensors, _ = m3vit_convert.convert_state_dict(arrays, heads=1, image_size=(16, 32))
meta = {"format": "edgemoe", "edgemoe.config": json.dumps(conf, separators=(",", ":"))}
for dt in ("F32", "F16"):
    m3vit_convert.write_safetensors(os.path.join(C, "safetensors", "tiny_%s.safetensors" % dt.lower()),
                                    tensors, meta, dtype=dt)

# Edge-MoE directory inputs (the fuzzer starts from a valid directory): a short tensor 0, a NaN bias
pw = np.zeros(192 * 3 * 16 * 16, np.float32)
with open(os.path.join(C, "edgemoe_dir", "patch_w_short"), "wb") as f:
    f.write(bytes([0]) + pw[:100].tobytes())
with open(os.path.join(C, "edgemoe_dir", "bias_nan"), "wb") as f:
    f.write(bytes([1]) + struct.pack("<f", float("nan")) * 192)
