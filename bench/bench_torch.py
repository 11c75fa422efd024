#!/usr/bin/python3
"""PyTorch side of bench/bench_fast.sh (docs/fast.md).  Not a test.

Loads the same weights into the PyTorch M3ViT of bench/m3vit_torch.py, checks
its features and logits against what bench_fast wrote (edgemoe fast and ref,
same pixels), times backbone and head per task with torch threads = edgemoe
threads, and prints the side-by-side table with the ratios (from bench.json).

usage: bench_torch.py --dir DIR --weights W [--threads N] [--repeats R]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import m3vit_torch  # noqa: E402


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = json.load(open(os.path.join(a.dir, "bench.json")))
    model = m3vit_torch.load_edgemoe_dir(a.weights).eval()
    cfg = model.cfg
    img = np.fromfile(os.path.join(a.dir, "image.f32"), dtype=np.float32).reshape(cfg.img_c, cfg.img_h, cfg.img_w)
    x = torch.from_numpy(img)

    print("\nPyTorch %s (%d threads, %s) on the same weights and pixels" %
          (torch.__version__, torch.get_num_threads(), torch.__config__.parallel_info().splitlines()[0]))
    print("check of the outputs (max |diff| / max |edgemoe|):")
    torch_t = {}
    ok = True
    for t, name in enumerate(cfg.task_name):
        feats, logits, _ = model.forward(x, t)
        for eng in ("fast", "ref"):
            f = np.fromfile(os.path.join(a.dir, "%s_task%d_features.f32" % (eng, t)), dtype=np.float32)
            lg = np.fromfile(os.path.join(a.dir, "%s_task%d_logits.f32" % (eng, t)), dtype=np.float32)
            ef = rel_err(feats.numpy().reshape(-1), f)
            el = rel_err(logits.numpy().reshape(-1), lg)
            ok = ok and ef < 1e-3 and el < 1e-3
            print("  %-7s torch vs edgemoe %-4s: features %.2e  logits %.2e" % (name, eng, ef, el))
        bb, hd = [], []
        for r in range(a.repeats + 1):
            t0 = time.perf_counter()
            feats, _ = model.backbone_forward(x, t)
            t1 = time.perf_counter()
            model.head_forward(feats, t)
            t2 = time.perf_counter()
            if r:  # first run is a warm-up
                bb.append((t1 - t0) * 1e3)
                hd.append((t2 - t1) * 1e3)
        tot = [u + v for u, v in zip(bb, hd)]
        torch_t[name] = dict(backbone_min=min(bb), backbone_med=statistics.median(bb),
                             head_min=min(hd), head_med=statistics.median(hd),
                             total_min=min(tot), total_med=statistics.median(tot))
    if not ok:
        print("  WARNING: PyTorch and edgemoe disagree by more than 1e-3")

    peak = res["peak_gflops"]
    print("\nSide by side: ms per image and task, min / median; x = PyTorch time / edgemoe time (from the min)")
    hdr = "  %-7s %-8s %19s %19s %19s %8s %8s %8s" % ("task", "engine", "backbone", "head", "total",
                                                     "x bb", "x head", "x total")
    print(hdr)
    rows = []
    for name in cfg.task_name:
        tt = torch_t[name]
        for eng, d in (("fast", res["fast"][name]), ("ref", res["ref"][name]), ("pytorch", tt)):
            line = "  %-7s %-8s %8.2f / %8.2f %8.2f / %8.2f %8.2f / %8.2f" % (
                name, "edgemoe " + eng if eng != "pytorch" else eng, d["backbone_min"], d["backbone_med"],
                d["head_min"], d["head_med"], d["total_min"], d["total_med"])
            if eng != "pytorch":
                line += " %8.2f %8.2f %8.2f" % (tt["backbone_min"] / d["backbone_min"], tt["head_min"] / d["head_min"],
                                                 tt["total_min"] / d["total_min"])
            print(line)
            rows.append((name, eng, d))
    f = res["fast"]
    print("\n  edgemoe fast, every task in one run (shared prefix): %.2f / %.2f ms" %
          (f["all_tasks_min"], f["all_tasks_med"]))
    print("\nThroughput against the measured FP32 peak (%.1f GFLOP/s, %s, %d threads):" %
          (peak, res["isa"], res["threads"]))
    for name in cfg.task_name:
        d = f[name]
        g = d["backbone_gflop"] / d["backbone_min"] * 1e3
        h = d["head_gflop"] / d["head_min"] * 1e3
        print("  %-7s backbone %.1f GFLOP/s (%.0f%% of peak); head %.1f GFLOP/s direct-conv equivalent "
              "(Winograd does 4x fewer multiplies)" % (name, g, 100 * g / peak, h))
    print("  backbone GEMMs (flop-weighted over the model's shapes): %.1f GFLOP/s = %.0f%% of peak"
          " (OpenBLAS on the same shapes: %.1f GFLOP/s)" % (res["backbone_gemm_gflops"],
                                                           100 * res["backbone_gemm_gflops"] / peak,
                                                           res["backbone_gemm_gflops_openblas"]))
    with open(os.path.join(a.dir, "table.md"), "w") as out:
        out.write("| task | engine | backbone ms (min / med) | head ms (min / med) | total ms (min / med) "
                  "| x backbone | x head | x total |\n")
        out.write("|---|---|---|---|---|---|---|---|\n")
        for name, eng, d in rows:
            tt = torch_t[name]
            ratios = "| | | "
            if eng != "pytorch":
                ratios = "| %.2f | %.2f | %.2f " % (tt["backbone_min"] / d["backbone_min"], tt["head_min"] / d["head_min"],
                                                   tt["total_min"] / d["total_min"])
            out.write("| %s | %s | %.2f / %.2f | %.2f / %.2f | %.2f / %.2f %s|\n" % (
                name, eng, d["backbone_min"], d["backbone_med"], d["head_min"], d["head_med"],
                d["total_min"], d["total_med"], ratios))
    print("\n(markdown table: %s)" % os.path.join(a.dir, "table.md"))


if __name__ == "__main__":
    main()
