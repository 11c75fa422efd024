/* Driver of src/eval/metrics.c for tests/test_metrics.py (numpy on the other side).
 *   check_metrics seg C LABEL PRED [LABEL PRED ...]   int8 labels (-1 ignore), uint8 predictions
 *   check_metrics depth GT PRED [GT PRED ...]         float32
 *   check_metrics argmax C LOGITS OUT                 float32 [C][n] -> uint8 [n]
 * Each (LABEL, PRED) pair is one image: accumulated on its own and merged into
 * the set, as `edgemoe eval` does.  Prints one JSON object, NaN as null. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "%s: cannot open\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (!p || fread(p, 1, (size_t)sz, f) != (size_t)sz) { fprintf(stderr, "%s: cannot read\n", path); exit(2); }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void num(const char *key, double v, int comma) {
    if (v != v) printf("\"%s\": null", key);
    else printf("\"%s\": %.17g", key, v);
    if (comma) printf(", ");
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "seg") && (argc - 3) % 2 == 0) {
        static em_seg_metrics set, one;
        int C = atoi(argv[2]);
        em_seg_init(&set, C);
        for (int i = 3; i < argc; i += 2) {
            size_t nl, np;
            int8_t *label = read_all(argv[i], &nl);
            uint8_t *pred = read_all(argv[i + 1], &np);
            if (nl != np) { fprintf(stderr, "size mismatch\n"); return 2; }
            em_seg_init(&one, C);
            em_seg_accumulate(&one, label, pred, nl);
            em_seg_merge(&set, &one);
            free(label);
            free(pred);
        }
        em_seg_result r;
        em_seg_finish(&set, &r);
        printf("{");
        num("miou", r.miou, 1);
        num("pixel_acc", r.pixel_acc, 1);
        printf("\"pixels\": %lld, \"n_present\": %d, \"iou\": [", (long long)r.pixels, r.n_present);
        for (int c = 0; c < r.n_classes; c++) {
            if (r.iou[c] != r.iou[c]) printf("null");
            else printf("%.17g", r.iou[c]);
            if (c + 1 < r.n_classes) printf(", ");
        }
        printf("]}\n");
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "depth") && (argc - 2) % 2 == 0) {
        em_depth_metrics set, one;
        em_depth_init(&set);
        for (int i = 2; i < argc; i += 2) {
            size_t ng, np;
            float *gt = read_all(argv[i], &ng), *pred = read_all(argv[i + 1], &np);
            if (ng != np) { fprintf(stderr, "size mismatch\n"); return 2; }
            em_depth_init(&one);
            em_depth_accumulate(&one, gt, pred, ng / 4);
            em_depth_merge(&set, &one);
            free(gt);
            free(pred);
        }
        em_depth_result r;
        em_depth_finish(&set, &r);
        printf("{");
        num("abs_err", r.abs_err, 1);
        num("rel_err", r.rel_err, 1);
        num("rmse", r.rmse, 1);
        num("delta1", r.delta1, 1);
        printf("\"depth_pixels\": %lld}\n", (long long)r.pixels);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "argmax")) {
        int C = atoi(argv[2]);
        size_t nb;
        float *logits = read_all(argv[3], &nb);
        size_t n = nb / 4 / (size_t)C;
        uint8_t *pred = malloc(n ? n : 1);
        em_seg_argmax(logits, C, n, pred);
        FILE *f = fopen(argv[4], "wb");
        if (!f || fwrite(pred, 1, n, f) != n || fclose(f)) { fprintf(stderr, "%s: cannot write\n", argv[4]); return 2; }
        free(logits);
        free(pred);
        printf("{\"n\": %zu}\n", n);
        return 0;
    }
    fprintf(stderr, "usage: check_metrics seg C LABEL PRED ... | depth GT PRED ... | argmax C LOGITS OUT\n");
    return 2;
}
