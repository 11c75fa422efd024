/* Benchmark of the fixed engine (the accelerator twin): backbone time per
 * image and task on one thread.  Not a timed test.
 *   build/bench/bench_fixed [MODEL_DIR] [RUNS]
 * Uses the shared image of the model directory (image.float32.bin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "edgemoe.h"
#include "engine/engine.h"

/* CPU time of this thread: less sensitive than wall time to other processes
 * sharing the cores. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    /* the session finds engines through weak references: make sure the
     * fixed engine is linked from the static library */
    if (!em_engine_fixed.backbone) return 1;
    const char *dir = argc > 1 ? argv[1] : "../shared/m3vit-edgemoe";
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (runs < 1) runs = 1;
    static em_model m;
    em_err err = {{0}};
    if (em_model_load(&m, dir, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    char path[1024];
    snprintf(path, sizeof path, "%s/image.float32.bin", dir);
    size_t n = (size_t)m.cfg.img_c * m.cfg.img_h * m.cfg.img_w;
    float *img = malloc(n * sizeof(float));
    if (!img || em_image_load(path, &m.cfg, img, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = EM_ENGINE_FIXED;
    o.threads = 1;
    o.skip_head = 1;
    double t0 = em_now_ms();
    em_session *s = em_session_new(&m, &o, &err);
    if (!s) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    printf("fixed engine: create (quantise weights) %.0f ms\n", em_now_ms() - t0);
    for (int t = 0; t < m.cfg.n_tasks; t++) {
        double best = 1e30, sum = 0, cbest = 1e30;
        for (int r = 0; r < runs; r++) {
            double c0 = cpu_ms();
            if (em_session_run(s, img, 1u << t, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
            double c = cpu_ms() - c0;
            double ms = em_session_output(s, t)->backbone_ms;
            if (ms < best) best = ms;
            if (c < cbest) cbest = c;
            sum += ms;
        }
        printf("fixed engine, task %d (%s): backbone %.0f ms per image wall (best of %d, mean %.0f), %.0f ms CPU, one thread\n",
               t, m.cfg.task_name[t], best, runs, sum / runs, cbest);
    }
    em_session_free(s);
    free(img);
    em_model_free(&m);
    return 0;
}
