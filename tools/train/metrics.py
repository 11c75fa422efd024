"""The metrics of `edgemoe eval` (docs/dataset.md), in numpy, for the
trainer's own validation.

semseg: one confusion matrix over the whole set (pixels with label -1
ignored); IoU_c = TP / (TP + FP + FN); mIoU over classes with TP+FP+FN > 0;
pixel accuracy = trace / total.
depth, over pixels with gt > 0: abs_err = mean |p - g|, rel_err = mean
|p - g| / g, rmse, delta1 = share with max(p/g, g/p) < 1.25 (p <= 0 fails).
"""
import numpy as np


class SegMetrics:
    def __init__(self, n_classes):
        self.n = n_classes
        self.cm = np.zeros((n_classes, n_classes), np.int64)   # [label][prediction]

    def add(self, pred, label):
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        label = np.asarray(label).reshape(-1).astype(np.int64)
        v = label >= 0
        self.cm += np.bincount(label[v] * self.n + pred[v], minlength=self.n * self.n).reshape(self.n, self.n)

    def result(self):
        tp = np.diag(self.cm).astype(np.float64)
        denom = self.cm.sum(0) + self.cm.sum(1) - tp
        iou = np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)
        present = denom > 0
        total = self.cm.sum()
        return {"miou": float(iou[present].mean()) if present.any() else float("nan"),
                "pixel_acc": float(tp.sum() / total) if total else float("nan"),
                "iou": [None if np.isnan(x) else float(x) for x in iou]}


class DepthMetrics:
    def __init__(self):
        self.n = 0
        self.abs = self.rel = self.sq = 0.0
        self.d1 = 0

    def add(self, pred, gt):
        p = np.asarray(pred, np.float64).reshape(-1)
        g = np.asarray(gt, np.float64).reshape(-1)
        v = g > 0
        p, g = p[v], g[v]
        e = np.abs(p - g)
        self.n += g.size
        self.abs += e.sum()
        self.rel += (e / g).sum()
        self.sq += (e * e).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum(p / g, np.where(p > 0, g / p, np.inf))
        self.d1 += int(((p > 0) & (ratio < 1.25)).sum())

    def result(self):
        n = max(self.n, 1)
        return {"abs_err": self.abs / n, "rel_err": self.rel / n, "rmse": (self.sq / n) ** 0.5,
                "delta1": self.d1 / n, "depth_pixels": self.n}


def expert_usage(counts):
    """counts [task][layer][expert] token slots -> per task and layer the
    number of experts used and the largest share of the layer's slots."""
    counts = np.asarray(counts)
    used = (counts > 0).sum(-1)
    share = counts.max(-1) / np.maximum(counts.sum(-1), 1)
    return {"experts_used": used.tolist(), "max_share_per_layer": share.round(4).tolist(),
            "min_experts_used": int(used.min()), "max_share": float(share.max())}
