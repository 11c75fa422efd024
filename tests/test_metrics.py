"""Metrics of `edgemoe eval` (src/eval/metrics.c) against an independent numpy
implementation written here from the definitions in docs/dataset.md, on crafted
cases (perfect prediction, one class wrong, ignore pixels, an absent class,
no valid pixel, invalid depth, non-positive depth predictions) and random
multi-image sets.  Every number is compared to 1e-9; a few crafted cases are
also checked against values worked out by hand.
Needs $BUILD/tests/check_metrics (tests/check_metrics.c)."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
CHECK = os.path.join(ROOT, BUILD, "tests", "check_metrics")
C = 7
tmp = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness as ph  # noqa: E402  (tests/pyharness.py: the PASS/FAIL lines)


def check(cond, msg):
    return ph.check(msg, bool(cond))


# ---- numpy reference, from the definitions ----
def ref_seg(pairs, n_classes=C):
    """pairs: [(label int8, pred uint8)]; one confusion matrix over the set."""
    conf = np.zeros((n_classes, n_classes), np.int64)
    for label, pred in pairs:
        keep = label != -1
        np.add.at(conf, (label[keep].astype(np.int64), pred[keep].astype(np.int64)), 1)
    iou = []
    for c in range(n_classes):
        tp = conf[c, c]
        fp = conf[:, c].sum() - tp
        fn = conf[c, :].sum() - tp
        iou.append(None if tp + fp + fn == 0 else tp / (tp + fp + fn))
    present = [v for v in iou if v is not None]
    total = conf.sum()
    return {"miou": sum(present) / len(present) if present else None,
            "pixel_acc": np.trace(conf) / total if total else None,
            "pixels": int(total), "iou": iou}


def ref_depth(pairs):
    g_all, p_all = [], []
    for g, p in pairs:
        m = g > 0
        g_all.append(g[m].astype(np.float64))
        p_all.append(p[m].astype(np.float64))
    g, p = np.concatenate(g_all), np.concatenate(p_all)
    if g.size == 0:
        return {"abs_err": None, "rel_err": None, "rmse": None, "delta1": None, "depth_pixels": 0}
    e = np.abs(p - g)
    good = np.zeros(g.size, bool)
    pos = p > 0
    good[pos] = np.maximum(p[pos] / g[pos], g[pos] / p[pos]) < 1.25
    return {"abs_err": e.mean(), "rel_err": (e / g).mean(), "rmse": math.sqrt((e * e).mean()),
            "delta1": good.mean(), "depth_pixels": int(g.size)}


# ---- the C side ----
def c_seg(pairs, n_classes=C):
    args = []
    for k, (label, pred) in enumerate(pairs):
        lp, pp = os.path.join(tmp, "l%d" % k), os.path.join(tmp, "p%d" % k)
        label.astype(np.int8).tofile(lp)
        pred.astype(np.uint8).tofile(pp)
        args += [lp, pp]
    r = subprocess.run([CHECK, "seg", str(n_classes)] + args, capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}


def c_depth(pairs):
    args = []
    for k, (g, p) in enumerate(pairs):
        gp, pp = os.path.join(tmp, "g%d" % k), os.path.join(tmp, "q%d" % k)
        g.astype("<f4").tofile(gp)
        p.astype("<f4").tofile(pp)
        args += [gp, pp]
    r = subprocess.run([CHECK, "depth"] + args, capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}


def same(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y, tol) for x, y in zip(a, b))
    return abs(float(a) - float(b)) <= tol


def compare(name, got, want):
    bad = [k for k in want if not same(got.get(k, "missing"), want[k])]
    check(not bad and "error" not in got, "%s: %s" % (name, "every number equal" if not bad else
                                                      "differ: " + ", ".join("%s C=%s numpy=%s" % (k, got.get(k), want[k]) for k in bad)))


def main():
    global tmp
    if not os.path.exists(CHECK):
        check(False, "%s exists (build it first)" % CHECK)
        return
    tmp = tempfile.mkdtemp(prefix="em_metrics_")
    rng = np.random.default_rng(2026)
    try:
        H, W = 16, 32
        label = rng.integers(0, C, (H, W)).astype(np.int8).ravel()
        label[rng.random(label.size) < 0.1] = -1

        # perfect prediction (ignored pixels get arbitrary predictions)
        pred = np.where(label >= 0, label, rng.integers(0, C, label.size)).astype(np.uint8)
        got = c_seg([(label, pred)])
        compare("perfect prediction", got, ref_seg([(label, pred)]))
        check(got["miou"] == 1.0 and got["pixel_acc"] == 1.0, "perfect prediction: mIoU 1, pixel acc 1 exactly")

        # one class wrong: every pixel of class 3 predicted as 4
        pred2 = pred.copy()
        pred2[label == 3] = 4
        got = c_seg([(label, pred2)])
        compare("one class wrong", got, ref_seg([(label, pred2)]))
        n3, n4, n = int((label == 3).sum()), int((label == 4).sum()), int((label >= 0).sum())
        hand_iou4 = n4 / (n4 + n3)
        check(same(got["iou"][3], 0.0) and same(got["iou"][4], hand_iou4)
              and same(got["miou"], (5 + hand_iou4) / 7) and same(got["pixel_acc"], (n - n3) / n),
              "one class wrong: IoU3 = 0, IoU4 = n4/(n4+n3) = %.6f, mIoU = (5 + IoU4)/7, acc = 1 - n3/n (by hand)" % hand_iou4)

        # ignore pixels: wrong predictions on label -1 change nothing, and the pixel count excludes them
        pred3 = pred.copy()
        pred3[label == -1] = (pred3[label == -1] + 1) % C
        got = c_seg([(label, pred3)])
        compare("ignore pixels", got, ref_seg([(label, pred3)]))
        check(got["pixels"] == n and got["miou"] == 1.0, "ignore pixels: not counted (%d of %d pixels)" % (got["pixels"], label.size))

        # absent class: class 5 in neither labels nor predictions -> left out of the mean
        lab5 = label.copy()
        lab5[lab5 == 5] = 6
        pr5 = np.where(lab5 >= 0, lab5, 0).astype(np.uint8)
        pr5[(lab5 == 2)] = 1
        got = c_seg([(lab5, pr5)])
        compare("absent class", got, ref_seg([(lab5, pr5)]))
        n2, n1 = int((lab5 == 2).sum()), int((lab5 == 1).sum())
        check(got["iou"][5] is None and got["n_present"] == 6 and same(got["miou"], (4 + 0 + n1 / (n1 + n2)) / 6),
              "absent class: IoU null, mean over 6 classes (by hand)")
        # a class only predicted, never labelled, counts with IoU 0
        pr6 = pr5.copy()
        pr6[np.flatnonzero(lab5 == 0)[:3]] = 5
        got = c_seg([(lab5, pr6)])
        compare("class predicted but absent from labels", got, ref_seg([(lab5, pr6)]))
        check(same(got["iou"][5], 0.0) and got["n_present"] == 7, "class predicted but not labelled: IoU 0, in the mean")

        # no valid pixel
        allign = np.full(label.size, -1, np.int8)
        got = c_seg([(allign, pred)])
        check(got["miou"] is None and got["pixel_acc"] is None and got["pixels"] == 0 and all(v is None for v in got["iou"]),
              "all pixels ignored: mIoU and accuracy null, 0 pixels")

        # random sets of several images (the set is one confusion matrix, not a mean of per-image mIoUs)
        for trial in range(5):
            pairs = []
            for k in range(int(rng.integers(1, 6))):
                l = rng.integers(-1, C, 128 * 256).astype(np.int8)
                p = np.where(rng.random(l.size) < 0.6, np.maximum(l, 0), rng.integers(0, C, l.size)).astype(np.uint8)
                if trial % 2:
                    p[p == 2] = 1  # class 2 never predicted
                pairs.append((l, p))
            compare("random set %d (%d images)" % (trial, len(pairs)), c_seg(pairs), ref_seg(pairs))
        # 19 classes (the other Cityscapes label set)
        pairs = [(rng.integers(-1, 19, 4096).astype(np.int8), rng.integers(0, 19, 4096).astype(np.uint8)) for _ in range(3)]
        compare("random set, 19 classes", c_seg(pairs, 19), ref_seg(pairs, 19))

        # argmax: first of equal maxima, as numpy's
        logits = rng.standard_normal((C, 5000)).astype("<f4")
        logits[:, :500] = np.round(logits[:, :500])  # many ties
        lp, op = os.path.join(tmp, "logits"), os.path.join(tmp, "argmax")
        logits.tofile(lp)
        r = subprocess.run([CHECK, "argmax", str(C), lp, op], capture_output=True, text=True)
        check(r.returncode == 0 and np.array_equal(np.fromfile(op, np.uint8), np.argmax(logits, 0).astype(np.uint8)),
              "argmax over classes equals numpy's (ties: first)")

        # depth
        g = (rng.random(H * W) * 50 + 0.5).astype("<f4")
        got = c_depth([(g, g.copy())])
        compare("depth perfect", got, ref_depth([(g, g)]))
        check(got["abs_err"] == 0 and got["rel_err"] == 0 and got["delta1"] == 1, "depth perfect: 0 error, delta1 1")
        g2 = g.copy()
        g2[::3] = 0  # invalid
        p2 = g * 1.1
        p2[::3] = -100  # garbage where invalid: must not count
        got = c_depth([(g2, p2)])
        compare("depth invalid pixels", got, ref_depth([(g2, p2)]))
        check(same(got["rel_err"], 0.1, 1e-6) and got["delta1"] == 1 and got["depth_pixels"] == int((g2 > 0).sum()),
              "depth 10%% over, invalid ignored: rel_err 0.1, delta1 1, %d pixels (by hand)" % got["depth_pixels"])
        p3 = g.copy()
        p3[:10] = 0
        p3[10:20] = -1
        p3[20:30] = g[20:30] * 1.3
        p3[30:40] = g[30:40] / 1.3
        got = c_depth([(g, p3)])
        compare("depth non-positive and far predictions", got, ref_depth([(g, p3)]))
        check(same(got["delta1"], (g.size - 40) / g.size), "depth: p <= 0 and ratio 1.3 fail delta1 (by hand)")
        got = c_depth([(np.zeros(64, "<f4"), np.ones(64, "<f4"))])
        check(got["abs_err"] is None and got["delta1"] is None and got["depth_pixels"] == 0, "depth: no valid pixel gives null")
        for trial in range(5):
            pairs = []
            for k in range(int(rng.integers(1, 6))):
                gg = np.where(rng.random(128 * 256) < 0.2, 0, rng.random(128 * 256) * 80).astype("<f4")
                pp = (gg * rng.normal(1, 0.3, gg.size) + rng.normal(0, 1, gg.size)).astype("<f4")
                pairs.append((gg, pp))
            compare("depth random set %d (%d images)" % (trial, len(pairs)), c_depth(pairs), ref_depth(pairs))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if ph.failures() else 0)
