/* Evaluation metrics as multi-task learning papers report them (definitions
 * in docs/dataset.md).  Accumulators are plain structs, summed in int64 /
 * double, and can be merged, so per-image and whole-set numbers come from the
 * same code. */
#ifndef EM_METRICS_H
#define EM_METRICS_H
#include <stddef.h>
#include <stdint.h>

#define EM_SEG_MAX_CLASSES 64

/* Semantic segmentation: one confusion matrix over every valid pixel. */
typedef struct {
    int n_classes;
    int64_t conf[EM_SEG_MAX_CLASSES * EM_SEG_MAX_CLASSES]; /* [label][prediction] */
} em_seg_metrics;

typedef struct {
    int n_classes;
    double iou[EM_SEG_MAX_CLASSES]; /* TP / (TP + FP + FN); NaN when the class is absent */
    int present[EM_SEG_MAX_CLASSES]; /* TP + FP + FN > 0 */
    int n_present;
    double miou;                    /* mean IoU over present classes (NaN if none) */
    double pixel_acc;               /* trace / total (NaN if no valid pixel) */
    int64_t pixels;                 /* valid (label != -1) pixels */
} em_seg_result;

void em_seg_init(em_seg_metrics *m, int n_classes); /* n_classes <= EM_SEG_MAX_CLASSES */
/* label: [n] class ids, -1 = ignore; pred: [n] 0..n_classes-1. */
void em_seg_accumulate(em_seg_metrics *m, const int8_t *label, const uint8_t *pred, size_t n);
void em_seg_merge(em_seg_metrics *dst, const em_seg_metrics *src);
void em_seg_finish(const em_seg_metrics *m, em_seg_result *r);
/* pred[i] = argmax_c logits[c][i] (the first of equal maxima), ids above
 * 255 saturated to 255.  The one class argmax: eval, run --out, video. */
void em_seg_argmax(const float *logits, int n_classes, size_t n, uint8_t *pred);

/* Depth, over pixels whose ground truth is > 0. */
typedef struct {
    int64_t pixels;
    double sum_abs, sum_rel, sum_sq;
    int64_t delta1;                 /* pixels with max(p/g, g/p) < 1.25 and p > 0 */
} em_depth_metrics;

typedef struct {
    double abs_err, rel_err, rmse, delta1; /* NaN when no valid pixel */
    int64_t pixels;
} em_depth_result;

void em_depth_init(em_depth_metrics *m);
void em_depth_accumulate(em_depth_metrics *m, const float *gt, const float *pred, size_t n);
void em_depth_merge(em_depth_metrics *dst, const em_depth_metrics *src);
void em_depth_finish(const em_depth_metrics *m, em_depth_result *r);
#endif
