"""Export a trained run as the model edgemoe ships: safetensors, F16, with
metadata (config, recipe, data, commit).  The tensors are those of
train.shipped_copy (clamped to the accelerator formats, class token folded),
so the file holds exactly the model the trainer validated."""
import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import m3vit_convert  # noqa: E402


def export(shipped_model, ckpt, out_path, dtype="F16"):
    sd = {k: v.detach().cpu().numpy() for k, v in shipped_model.state_dict().items()}
    c = shipped_model.cfg
    cfg, tensors, _ = m3vit_convert.convert_state_dict(sd, heads=c["n_heads"], top_k=c["top_k"],
                                                       ln_eps=c["ln_eps"], bn_eps=c["bn_eps"])
    args = ckpt["args"]
    meta = collections.OrderedDict()
    meta["format"] = "edgemoe"
    meta["edgemoe.config"] = json.dumps(cfg, separators=(",", ":"))
    meta["edgemoe.recipe"] = json.dumps({k: v for k, v in args.items() if k not in ("run", "export", "eval")},
                                        separators=(",", ":"))
    if args.get("data"):
        meta["edgemoe.data"] = "dataset directory %s" % args["data"]
    else:
        meta["edgemoe.data"] = ("generated street scenes (edgemoe scenes), seed %d, train split, indices 0..%d"
                                % (args["data_seed"], ckpt["step"] * args["batch"] - 1))
    meta["edgemoe.steps"] = str(ckpt["step"])
    meta["edgemoe.train_wall_s"] = "%.0f" % ckpt["wall_s"]
    meta["edgemoe.commit"] = ckpt["commit"]
    for k, a in tensors.items():
        if np.abs(a).max() > 65504:
            raise ValueError("%s does not fit F16 (max |x| %g)" % (k, np.abs(a).max()))
    m3vit_convert.write_safetensors(out_path, tensors, meta, dtype=dtype)

