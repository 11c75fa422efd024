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

# tiny model: the M3ViT state dict shapes the converter expects for cfg, random values
shapes = m3vit_convert.expected_keys(cfg, {"semseg": 0, "depth": 1})
arrays = {k: (rng.random(s, dtype=np.float32) + 0.5 if k.endswith("running_var") else
              (rng.standard_normal(s) * 0.1).astype(np.float32)) for k, s in shapes.items()}
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
