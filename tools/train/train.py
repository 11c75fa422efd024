#!/usr/bin/python3
"""Train M3ViT (the Edge-MoE configuration) on generated street scenes.

    tools/train/train.py --run RUN_DIR [--steps 2400] [--batch 16] [--head-ch 64] ...
    tools/train/train.py --run RUN_DIR --export models/NAME.safetensors

Scenes are rendered on the fly by the C generator through the Python binding
(python/edgemoe): step s trains on train-split scenes s*B .. s*B+B-1 of
--data-seed, so the data stream is fixed and a resumed run sees exactly the
scenes it would have seen.  --data DIR trains on a directory in the dataset
layout instead (docs/dataset.md), e.g. the preprocessed Cityscapes data.

Everything lives in RUN_DIR: ckpt.pt (model, optimiser, step, RNG; written
every --ckpt-every steps and at the end), log.csv (losses every step, val
metrics and expert usage every --val-every steps), curves.svg, recipe.json.
Running the same command again resumes from ckpt.pt.  --time-limit S stops
cleanly (checkpoint written) after S seconds, so a run can span sessions.

Losses: cross-entropy with ignore (-1) for semseg, L1 on valid pixels
(depth > 0) for depth, a Switch-style load-balancing loss per MoE layer and
task, a small router z-loss, and a penalty on residual values beyond
--act-limit (the accelerator's feature maps are <32,10>: |x| < 512).  After
every step, parameters are clamped into their accelerator formats.
AdamW, linear warm-up then cosine decay, gradient clipping.

Validation (--val-every, --val-count scenes of the val split) runs the model
as it will be shipped: parameters clamped, class token folded into
pos_embed and rounded to the shipped dtype (F16), BatchNorm in eval mode;
metrics as `edgemoe eval` computes them (tools/train/metrics.py).
"""
import argparse
import copy
import csv
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, HERE)

import edgemoe  # noqa: E402
from metrics import SegMetrics, DepthMetrics, expert_usage  # noqa: E402
from model import M3ViT  # noqa: E402
import plot  # noqa: E402

LOG_FIELDS = ["step", "scenes", "wall_s", "lr", "loss", "loss_semseg", "loss_depth", "loss_balance",
              "loss_z", "loss_act", "act_absmax", "val_miou", "val_pixel_acc", "val_abs_err",
              "val_rel_err", "val_delta1", "val_min_experts", "val_max_share"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory (checkpoint, log, plot)")
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--head-ch", type=int, default=64, help="channels of the PUP head's 3x3 convs (M3ViT: 256)")
    p.add_argument("--depth-weight", type=float, default=0.1, help="weight of the depth L1 (metres)")
    p.add_argument("--class-balance", choices=["none", "sqrt"], default="sqrt",
                   help="semseg CE class weights: none, or 1/sqrt(pixel share) measured on the first 256 train scenes")
    p.add_argument("--balance-weight", type=float, default=0.01)
    p.add_argument("--z-weight", type=float, default=1e-4)
    p.add_argument("--act-limit", type=float, default=128.0)
    p.add_argument("--act-weight", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1, help="initialisation seed")
    p.add_argument("--data-seed", type=int, default=1, help="scene generator seed")
    p.add_argument("--data", help="train on a dataset directory instead of generated scenes")
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--val-count", type=int, default=100)
    p.add_argument("--ckpt-every", type=int, default=25)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", choices=["bf16", "none"], default="bf16",
                   help="mixed precision for the training forward/backward (bf16 autocast: 2.6x faster on an "
                        "AVX512-BF16 CPU); weights, optimiser and validation stay float32")
    p.add_argument("--time-limit", type=float, default=0, help="stop cleanly after this many seconds")
    p.add_argument("--stop-after", type=int, default=0, help="stop cleanly after this many steps of this invocation")
    p.add_argument("--config", default="{}", help="JSON of model config overrides (tests: small models)")
    p.add_argument("--export", metavar="OUT.safetensors", help="export the run's model and exit")
    p.add_argument("--eval", type=int, metavar="N", help="evaluate the shipped form on N val scenes and exit")
    return p.parse_args(argv)


# ------------------------------------------------------------------ data
class Data:
    """Batches (image [B][3][H][W] = v/256, label [B][H][W] int64, depth
    [B][H][W]) from the generator or a dataset directory."""

    def __init__(self, args, cfg):
        self.seed = args.data_seed
        self.size = (cfg["img_w"], cfg["img_h"])
        self.dir = args.data
        if self.dir:
            self.n = {s: len(self._indices(s)) for s in ("train", "val")}

    def _indices(self, split):
        d = os.path.join(self.dir, split, "image")
        return sorted(int(f[:-4]) for f in os.listdir(d) if f.endswith(".npy") and f[:-4].isdigit())

    def _load_dir(self, split, indices):
        ids = self._indices(split)
        rgb, lab, dep = [], [], []
        for i in indices:
            j = ids[i % len(ids)]
            x = np.load(os.path.join(self.dir, split, "image", "%d.npy" % j))
            rgb.append(np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8))
            lab.append(np.load(os.path.join(self.dir, split, "label_7", "%d.npy" % j)).astype(np.int8))
            dep.append(np.load(os.path.join(self.dir, split, "depth", "%d.npy" % j)).reshape(x.shape[:2]))
        return np.stack(rgb), np.stack(lab), np.stack(dep).astype(np.float32)

    def batch(self, split, indices):
        if self.dir:
            rgb, lab, dep = self._load_dir(split, indices)
        else:
            rgb, lab, dep = edgemoe.render_scenes(indices, split=split, seed=self.seed, size=self.size)
        image = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 256.0
        return image, torch.from_numpy(lab.astype(np.int64)), torch.from_numpy(dep)


# ------------------------------------------------------------------ shipped form
@torch.no_grad()
def shipped_copy(model, dtype=torch.float16):
    """The model exactly as exported: clamped to the accelerator formats, the
    class token folded into pos_embed row 0, every tensor rounded to dtype."""
    m = copy.deepcopy(model).eval()
    m.clamp_to_formats()
    bb = m.backbone
    bb.pos_embed[0, 0] += bb.cls_token[0, 0]
    bb.cls_token.zero_()
    for t in list(m.parameters()) + [b for n, b in m.named_buffers() if b.dtype.is_floating_point]:
        t.copy_(t.to(dtype).to(torch.float32))
    return m


@torch.no_grad()
def evaluate(model, data, count, batch, device, per_batch=None):
    """Metrics of `model` (eval mode) on val scenes 0..count-1."""
    model.eval()
    cfg = model.cfg
    n_moe = cfg["depth"] // 2
    seg = SegMetrics(cfg["task_channels"][0])
    dep = DepthMetrics()
    counts = np.zeros((len(cfg["task_name"]), n_moe, cfg["n_experts"]), np.int64)
    for s in range(0, count, batch):
        idx = list(range(s, min(count, s + batch)))
        image, label, depth = data.batch("val", idx)
        stats = {"balance": [], "zloss": [], "counts": [], "absmax": [], "resid": []}
        out = model(image.to(device), list(range(len(cfg["task_name"]))), stats)
        # stats["counts"] is in (task, layer) order: tasks run one after the other
        c = torch.stack(stats["counts"]).cpu().numpy().reshape(len(cfg["task_name"]), n_moe, -1)
        counts += c
        seg.add(out[0][1].argmax(1).cpu().numpy(), label.numpy())
        dep.add(out[1][1][:, 0].cpu().numpy(), depth.numpy())
    r = dict(seg.result(), **dep.result())
    r["expert_usage"] = expert_usage(counts)
    return r


# ------------------------------------------------------------------ training
def class_weights(data, n_classes, mode, count=256, batch=16):
    """CE weights from the pixel shares of the first `count` train scenes:
    w_c = 1/sqrt(share_c), normalised so the pixel-weighted mean is 1."""
    if mode == "none":
        return None
    hist = np.zeros(n_classes, np.float64)
    for s in range(0, count, batch):
        _, label, _ = data.batch("train", range(s, min(count, s + batch)))
        lab = label.numpy().ravel()
        hist += np.bincount(lab[lab >= 0], minlength=n_classes)[:n_classes]
    share = np.maximum(hist / hist.sum(), 1e-4)
    w = 1.0 / np.sqrt(share)
    w /= (w * share).sum()
    return torch.tensor(w, dtype=torch.float32)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(args):
    cfg = dict(head_ch=args.head_ch)
    cfg.update(json.loads(args.config))
    torch.manual_seed(args.seed)
    model = M3ViT(cfg).to(args.device)
    with torch.no_grad():   # depth head starts at a typical street depth (metres)
        model.decoders[model.cfg["task_name"][1]].conv_4.bias.fill_(15.0)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos_embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "pos_embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))
    return model, opt


def save_ckpt(path, model, opt, step, wall, args, commit):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "wall_s": wall,
                "args": vars(args), "config": model.cfg, "torch_rng": torch.get_rng_state(),
                "commit": commit}, tmp)
    os.replace(tmp, path)


def read_log(path, upto):
    """Rows of an earlier log up to step upto (a resumed run rewrites the rest)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def train(args):
    os.makedirs(args.run, exist_ok=True)
    model, opt = build(args)
    ckpt_path = os.path.join(args.run, "ckpt.pt")
    step, wall0, commit = 0, 0.0, git_commit()
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=args.device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, wall0, commit = ck["step"], ck["wall_s"], ck["commit"]
        torch.set_rng_state(ck["torch_rng"])
        print("resumed %s at step %d (%.0f s trained)" % (ckpt_path, step, wall0), flush=True)
    recipe = dict(vars(args), commit=commit, config=model.cfg)
    with open(os.path.join(args.run, "recipe.json"), "w") as f:
        json.dump(recipe, f, indent=1)
    data = Data(args, model.cfg)
    cw = class_weights(data, model.cfg["task_channels"][0], args.class_balance)
    if cw is not None:
        cw = cw.to(args.device)
        print("semseg class weights: %s" % " ".join("%.2f" % x for x in cw.tolist()), flush=True)
    log_path = os.path.join(args.run, "log.csv")
    rows = read_log(log_path, step)
    logf = open(log_path, "w", newline="")
    log = csv.DictWriter(logf, fieldnames=LOG_FIELDS)
    log.writeheader()
    for r in rows:
        log.writerow(r)
    logf.flush()
    t_start, start_step = time.time(), step
    tasks = list(range(len(model.cfg["task_name"])))
    while step < args.steps:
        model.train()
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        image, label, depth = data.batch("train", range(step * args.batch, (step + 1) * args.batch))
        image, label, depth = image.to(args.device), label.to(args.device), depth.to(args.device)
        stats = {"balance": [], "zloss": [], "counts": [], "absmax": [], "resid": []}
        with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=args.amp == "bf16"):
            out = model(image, tasks, stats)
        seg_logits, depth_pred = out[0][1].float(), out[1][1][:, 0].float()
        l_seg = F.cross_entropy(seg_logits, label, weight=cw, ignore_index=-1)
        valid = depth > 0
        l_dep = (depth_pred - depth).abs()[valid].mean() if valid.any() else depth_pred.sum() * 0
        l_bal = torch.stack(stats["balance"]).float().mean()
        l_z = torch.stack(stats["zloss"]).float().mean()
        l_act = sum(F.relu(r.float().abs() - args.act_limit).pow(2).mean() for r in stats["resid"]) / len(stats["resid"])
        loss = (l_seg + args.depth_weight * l_dep + args.balance_weight * l_bal + args.z_weight * l_z
                + args.act_weight * l_act)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        model.clamp_to_formats()
        step += 1
        wall = wall0 + time.time() - t_start
        row = dict(step=step, scenes=step * args.batch, wall_s="%.1f" % wall, lr="%.3g" % lr,
                   loss="%.5f" % loss.item(), loss_semseg="%.5f" % l_seg.item(),
                   loss_depth="%.5f" % l_dep.item(), loss_balance="%.5f" % l_bal.item(),
                   loss_z="%.4f" % l_z.item(), loss_act="%.4g" % l_act.item(),
                   act_absmax="%.1f" % torch.stack(stats["absmax"]).max().item())
        if step % args.val_every == 0 or step == args.steps:
            r = evaluate(shipped_copy(model), data, args.val_count, args.batch, args.device)
            u = r["expert_usage"]
            row.update(val_miou="%.4f" % r["miou"], val_pixel_acc="%.4f" % r["pixel_acc"],
                       val_abs_err="%.4f" % r["abs_err"], val_rel_err="%.4f" % r["rel_err"],
                       val_delta1="%.4f" % r["delta1"], val_min_experts=u["min_experts_used"],
                       val_max_share="%.3f" % u["max_share"])
            print("step %d val: mIoU %.4f pixel acc %.4f | depth abs %.3f rel %.4f d1 %.3f | experts >= %d used, "
                  "max share %.3f" % (step, r["miou"], r["pixel_acc"], r["abs_err"], r["rel_err"], r["delta1"],
                                      u["min_experts_used"], u["max_share"]), flush=True)
        log.writerow(row)
        logf.flush()
        if step % 10 == 0:
            print("step %d/%d lr %.2e loss %.4f (seg %.4f depth %.3f bal %.3f) |x|max %s  %.1f s/step" % (
                step, args.steps, lr, loss.item(), l_seg.item(), l_dep.item(), l_bal.item(),
                row["act_absmax"], (time.time() - t_start) / (step - start_step)), flush=True)
        stop = ((args.time_limit and time.time() - t_start > args.time_limit)
                or (args.stop_after and step - start_step >= args.stop_after))
        if step % args.ckpt_every == 0 or step == args.steps or stop:
            save_ckpt(ckpt_path, model, opt, step, wall, args, commit)
            plot.write_svg(log_path, os.path.join(args.run, "curves.svg"))
        if stop:
            print("stopped at step %d: checkpoint written, run the same command to resume" % step)
            break
    logf.close()
    return model


def load_run(run, device="cpu"):
    ck = torch.load(os.path.join(run, "ckpt.pt"), map_location=device)
    model = M3ViT(ck["config"]).to(device)
    model.load_state_dict(ck["model"])
    return model, ck


def main(argv=None):
    args = parse_args(argv)
    # torch may default to one thread here; 0 means every core
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    if args.export:
        import export
        model, ck = load_run(args.run, args.device)
        export.export(shipped_copy(model), ck, args.export)
        print("wrote %s" % args.export)
        return 0
    if args.eval:
        model, ck = load_run(args.run, args.device)
        r = evaluate(shipped_copy(model), Data(args, model.cfg), args.eval, args.batch, args.device)
        print(json.dumps(r, indent=1))
        return 0
    train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
