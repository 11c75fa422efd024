/* Segmentation and depth metrics (metrics.h, docs/dataset.md). */
#include <math.h>
#include <string.h>

#include "eval/metrics.h"

void em_seg_init(em_seg_metrics *m, int n_classes) {
    memset(m, 0, sizeof *m);
    m->n_classes = n_classes < 1 ? 1 : n_classes > EM_SEG_MAX_CLASSES ? EM_SEG_MAX_CLASSES : n_classes;
}

void em_seg_accumulate(em_seg_metrics *m, const int8_t *label, const uint8_t *pred, size_t n) {
    const int C = m->n_classes;
    for (size_t i = 0; i < n; i++) {
        int l = label[i], p = pred[i];
        if (l < 0 || l >= C) continue; /* -1: ignore (callers validate the rest) */
        if (p >= C) p = C - 1;         /* cannot happen with em_seg_argmax; keeps conf in bounds */
        m->conf[l * C + p]++;
    }
}

void em_seg_merge(em_seg_metrics *dst, const em_seg_metrics *src) {
    const int C = dst->n_classes;
    for (int i = 0; i < C * C; i++) dst->conf[i] += src->conf[i];
}

void em_seg_finish(const em_seg_metrics *m, em_seg_result *r) {
    const int C = m->n_classes;
    memset(r, 0, sizeof *r);
    r->n_classes = C;
    int64_t total = 0, correct = 0;
    double iou_sum = 0;
    for (int c = 0; c < C; c++) {
        int64_t tp = m->conf[c * C + c], fn = 0, fp = 0;
        for (int k = 0; k < C; k++) {
            total += m->conf[c * C + k];
            if (k != c) { fn += m->conf[c * C + k]; fp += m->conf[k * C + c]; }
        }
        correct += tp;
        int64_t denom = tp + fp + fn;
        r->present[c] = denom > 0;
        r->iou[c] = denom > 0 ? (double)tp / (double)denom : NAN;
        if (denom > 0) { iou_sum += r->iou[c]; r->n_present++; }
    }
    r->pixels = total;
    r->miou = r->n_present ? iou_sum / r->n_present : NAN;
    r->pixel_acc = total ? (double)correct / (double)total : NAN;
}

void em_seg_argmax(const float *logits, int n_classes, size_t n, uint8_t *pred) {
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        float bv = logits[i];
        for (int c = 1; c < n_classes; c++) {
            float v = logits[(size_t)c * n + i];
            if (v > bv) { bv = v; best = c; }
        }
        pred[i] = (uint8_t)(best > 255 ? 255 : best);
    }
}

void em_depth_init(em_depth_metrics *m) { memset(m, 0, sizeof *m); }

void em_depth_accumulate(em_depth_metrics *m, const float *gt, const float *pred, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gt[i], p = pred[i];
        if (!(g > 0)) continue;
        double e = fabs(p - g);
        m->pixels++;
        m->sum_abs += e;
        m->sum_rel += e / g;
        m->sum_sq += e * e;
        if (p > 0 && fmax(p / g, g / p) < 1.25) m->delta1++;
    }
}

void em_depth_merge(em_depth_metrics *dst, const em_depth_metrics *src) {
    dst->pixels += src->pixels;
    dst->sum_abs += src->sum_abs;
    dst->sum_rel += src->sum_rel;
    dst->sum_sq += src->sum_sq;
    dst->delta1 += src->delta1;
}

void em_depth_finish(const em_depth_metrics *m, em_depth_result *r) {
    r->pixels = m->pixels;
    if (!m->pixels) {
        r->abs_err = r->rel_err = r->rmse = r->delta1 = NAN;
        return;
    }
    const double n = (double)m->pixels;
    r->abs_err = m->sum_abs / n;
    r->rel_err = m->sum_rel / n;
    r->rmse = sqrt(m->sum_sq / n);
    r->delta1 = (double)m->delta1 / n;
}
