/* What the PUP head's width costs at inference: the fast engine, synthetic
 * models that differ only in head_ch (M3ViT's 256 is the anchor), one image,
 * both tasks.  Not a test.
 *
 *   bench_head_width [--threads N] [--repeats R] [WIDTH ...]   (default 32 64 128 256)
 *
 * Prints per width: head parameters, backbone ms, head ms per task, and the
 * image (both tasks) in ms and frames per second, minimum over R runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgemoe.h"
#include "util.h" /* em_now_ms */

static double head_params(const em_config *c) {
    double p = 0;
    for (int t = 0; t < c->n_tasks; t++) {
        double hc = c->head_ch;
        p += 2.0 * c->dim;                                      /* LayerNorm */
        p += 9.0 * hc * c->dim + 3 * 9.0 * hc * hc + 4 * 5 * hc; /* 3x3 convs, bias + BatchNorm */
        p += (double)c->task_channels[t] * (hc + 1);            /* 1x1 classifier */
    }
    return p;
}

int main(int argc, char **argv) {
    int threads = 2, repeats = 5, widths[16], n_w = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else if (n_w < 16 && atoi(argv[i]) > 0) widths[n_w++] = atoi(argv[i]);
        else { fprintf(stderr, "usage: bench_head_width [--threads N] [--repeats R] [WIDTH ...]\n"); return 2; }
    }
    if (!n_w) { widths[0] = 32; widths[1] = 64; widths[2] = 128; widths[3] = 256; n_w = 4; }
    em_config c;
    em_config_default(&c);
    float *img = malloc(sizeof(float) * c.img_c * c.img_h * c.img_w);
    for (int i = 0; i < c.img_c * c.img_h * c.img_w; i++) img[i] = (float)((i * 37) % 256) / 256.0f;
    printf("fast engine, %d thread(s), min of %d runs, one image, both tasks (M3ViT's head: 256)\n", threads, repeats);
    printf("%6s %12s %12s %14s %12s %12s %8s\n", "width", "head params", "backbone ms", "head ms/task", "image ms",
           "head share", "FPS");
    for (int k = 0; k < n_w; k++) {
        em_model m;
        em_err err;
        c.head_ch = widths[k];
        em_session *s = NULL;
        em_session_opts o = {0};
        o.engine = EM_ENGINE_FAST;
        o.threads = threads;
        if (em_model_synthetic(&m, &c, EM_SYNTHETIC_SEED, &err) || !(s = em_session_new(&m, &o, &err))) {
            fprintf(stderr, "width %d: %s\n", widths[k], err.msg);
            return 1;
        }
        double bb = 1e30, hd = 1e30, tot = 1e30;
        for (int r = 0; r < repeats + 1; r++) { /* the first run warms caches and pages */
            double t0 = em_now_ms();
            if (em_session_run(s, img, 3u, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            double t = em_now_ms() - t0, b = 0, h = 0;
            for (int t_ = 0; t_ < c.n_tasks; t_++) {
                b += em_session_output(s, t_)->backbone_ms;
                h += em_session_output(s, t_)->head_ms;
            }
            if (r && t < tot) { tot = t; bb = b; hd = h; }
        }
        printf("%6d %12.0f %12.1f %14.1f %12.1f %11.0f%% %8.1f\n", widths[k], head_params(&c), bb, hd / c.n_tasks,
               tot, 100 * hd / tot, 1000 / tot);
        em_session_free(s);
        em_model_free(&m);
    }
    free(img);
    return 0;
}
