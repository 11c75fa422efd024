/* Benchmark of the fixed-point engines side by side: src/hw (the golden
 * model, `--engine hw`, one thread) and the fast twin (`--engine fixed`) at
 * 1 and 2 threads; backbone ms per image and task (best and median of RUNS
 * wall times, and the least process CPU time of a run).  Not a timed test.
 *   build/bench/bench_fixed [MODEL_DIR] [RUNS] [FORMATS]
 * Uses the model directory's image.float32.bin.  EM_FAST_ISA caps the
 * twin's kernel set.  FORMATS (a preset name, docs/formats.md) runs the twin
 * at that format set; src/hw stays at the formats it is compiled for. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "edgemoe.h"
#include "engine/engine.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of the process (every thread): on a shared machine, wall time
 * also counts the time other processes held the cores */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int bench(const em_model *m, const float *img, em_engine_kind kind, const em_formats *f, int threads, int runs,
                 double *best, double *med, double *cpu) {
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = kind;
    o.formats = f;
    o.threads = threads;
    o.skip_head = 1;
    em_err err = {{0}};
    em_session *s = em_session_new(m, &o, &err);
    if (!s) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return -1; }
    double *t = malloc(sizeof(double) * runs);
    for (int task = 0; task < m->cfg.n_tasks; task++) {
        cpu[task] = 1e30;
        for (int r = 0; r < runs; r++) {
            const double c0 = cpu_ms();
            if (em_session_run(s, img, 1u << task, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return -1; }
            t[r] = em_session_output(s, task)->backbone_ms;
            if (cpu_ms() - c0 < cpu[task]) cpu[task] = cpu_ms() - c0;
        }
        qsort(t, runs, sizeof *t, cmp_d);
        best[task] = t[0];
        med[task] = t[runs / 2];
    }
    free(t);
    em_session_free(s);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/m3vit-edgemoe";
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1) runs = 1;
    static em_model m;
    em_err err = {{0}};
    em_formats fmt;
    if (em_formats_preset(argc > 3 ? argv[3] : "original", &fmt, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    if (em_model_load(&m, dir, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    char path[1024];
    snprintf(path, sizeof path, "%s/image.float32.bin", dir);
    float *img = malloc((size_t)m.cfg.img_c * m.cfg.img_h * m.cfg.img_w * sizeof(float));
    if (!img || em_image_load(path, &m.cfg, img, &err)) { fprintf(stderr, "bench_fixed: %s\n", err.msg); return 1; }
    double hb[EM_MAX_TASKS], hm[EM_MAX_TASKS], f1b[EM_MAX_TASKS], f1m[EM_MAX_TASKS], f2b[EM_MAX_TASKS], f2m[EM_MAX_TASKS];
    double hc[EM_MAX_TASKS], f1c[EM_MAX_TASKS], f2c[EM_MAX_TASKS];
    int hruns = runs < 3 ? runs : 3;   /* the golden model is slow */
    if (bench(&m, img, EM_ENGINE_HW, NULL, 1, hruns, hb, hm, hc) || bench(&m, img, EM_ENGINE_FIXED, &fmt, 1, runs, f1b, f1m, f1c) ||
        bench(&m, img, EM_ENGINE_FIXED, &fmt, 2, runs, f2b, f2m, f2c))
        return 1;
    printf("backbone ms per image and task: wall best / median, [least CPU ms of all threads] (hw: %d runs, fixed: %d), "
           "kernels %s, twin formats %s\n", hruns, runs, getenv("EM_FAST_ISA") ? getenv("EM_FAST_ISA") : "best", fmt.name);
    printf("| task | hw (src/hw, 1 thread) | fixed, 1 thread | fixed, 2 threads | x (hw / fixed 2 thr, wall) |\n"
           "|---|---|---|---|---|\n");
    for (int t = 0; t < m.cfg.n_tasks; t++)
        printf("| %s | %.1f / %.1f [%.0f] | %.1f / %.1f [%.0f] | %.1f / %.1f [%.0f] | %.1f |\n", m.cfg.task_name[t], hb[t], hm[t],
               hc[t], f1b[t], f1m[t], f1c[t], f2b[t], f2m[t], f2c[t], hb[t] / f2b[t]);
    free(img);
    em_model_free(&m);
    return 0;
}
