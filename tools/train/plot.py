"""Curves of a training log (log.csv) as one SVG a person can open in a
browser: training losses (log scale) and the validation metrics."""
import csv
import math
import os

PANELS = [
    ("training loss (log scale)", True, [("loss_semseg", "semseg CE", "#1f77b4"),
                                          ("loss_depth", "depth L1 (m)", "#d62728"),
                                          ("loss_balance", "balance", "#7f7f7f")]),
    ("validation (shipped F16 model)", False, [("val_miou", "mIoU", "#1f77b4"),
                                               ("val_pixel_acc", "pixel acc", "#2ca02c"),
                                               ("val_rel_err", "depth rel err", "#d62728"),
                                               ("val_delta1", "depth delta<1.25", "#ff7f0e")]),
]


def _series(rows, key):
    pts = []
    for r in rows:
        v = r.get(key, "")
        if v not in ("", None):
            try:
                x, y = float(r["step"]), float(v)
            except ValueError:
                continue
            if math.isfinite(y):
                pts.append((x, y))
    return pts


def _smooth(pts, k=20):
    if len(pts) < 2 * k:
        return pts
    out, acc = [], 0.0
    for i, (x, y) in enumerate(pts):
        acc += y
        if i >= k:
            acc -= pts[i - k][1]
        out.append((x, acc / min(i + 1, k)))
    return out


def write_svg(log_path, svg_path, width=900, panel_h=300):
    with open(log_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    xmax = max(float(r["step"]) for r in rows)
    ml, mr, mt, mb = 60, 150, 30, 30
    pw, ph = width - ml - mr, panel_h - mt - mb
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
           'font-size="12"><rect width="100%%" height="100%%" fill="white"/>' % (width, panel_h * len(PANELS))]
    for pi, (title, logy, keys) in enumerate(PANELS):
        y0 = pi * panel_h + mt
        series = [(k, lab, col, _series(rows, k)) for k, lab, col in keys]
        ys = [y for _, _, _, s in series for _, y in s if (y > 0 or not logy)]
        if not ys:
            continue
        lo, hi = (min(ys), max(ys)) if logy else (0.0, max(1.0, max(ys)))
        if logy:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi - lo < 1e-9:
            hi = lo + 1

        def sx(x):
            return ml + pw * x / max(xmax, 1)

        def sy(y):
            v = math.log10(max(y, 1e-12)) if logy else y
            return y0 + ph - ph * (v - lo) / (hi - lo)
        out.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (ml, y0 - 10, title))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (ml, y0, pw, ph))
        for j in range(5):
            v = lo + (hi - lo) * j / 4
            yy = y0 + ph - ph * j / 4
            lab = ("%.3g" % 10 ** v) if logy else ("%.2f" % v)
            out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (ml - 5, yy + 4, lab))
            out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (ml, ml + pw, yy, yy))
        out.append('<text x="%d" y="%d" text-anchor="end">step %d</text>' % (ml + pw, y0 + ph + 18, xmax))
        for si, (k, lab, col, pts) in enumerate(series):
            if logy:
                pts = _smooth([(x, y) for x, y in pts if y > 0])
            if pts:
                d = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in pts)
                out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (col, d))
                if len(pts) < 60:
                    out += ['<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (sx(x), sy(y), col) for x, y in pts]
            ly = y0 + 15 + 18 * si
            out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                       % (ml + pw + 10, ml + pw + 30, ly - 4, ly - 4, col))
            last = ("%.4g" % pts[-1][1]) if pts else "-"
            out.append('<text x="%d" y="%d">%s %s</text>' % (ml + pw + 35, ly, lab, last))
    out.append("</svg>")
    tmp = svg_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(out))
    os.replace(tmp, svg_path)


if __name__ == "__main__":
    import sys
    write_svg(sys.argv[1], sys.argv[2])
