/* Scene generator throughput against its target of 1000 scenes/s per core
 * at 256 x 128: scenes per second on 1 and 2 threads, each thread rendering
 * its own indices through the public em_scene_render (world build + render
 * + one allocation per scene), and the split of one thread's time into world
 * build and render.  One thread runs ROUNDS rounds over the same N scenes
 * and prints each round's CPU time per scene (what one dedicated core would
 * give), then the median and the spread: on a shared VM a round can land in
 * a phase where the host is busy, and the spread shows it.
 *   bench_scenes [N=1000] [WxH=256x128] [ROUNDS=5] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "edgemoe.h"
#include "engine/engine.h"
#include "scenes/scene.h"

typedef struct { int w, h; uint64_t first, n; double ms, cpu_ms; } part;

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void *run_part(void *arg) {
    part *p = arg;
    size_t n = (size_t)p->w * p->h;
    uint8_t *rgb = malloc(3 * n);
    int8_t *label = malloc(n);
    float *depth = malloc(4 * n);
    em_err err;
    double t0 = em_now_ms(), c0 = cpu_ms();
    for (uint64_t i = p->first; i < p->first + p->n; i++)
        if (em_scene_render(1, EM_SPLIT_TRAIN, i, p->w, p->h, rgb, label, depth, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    p->ms = em_now_ms() - t0;
    p->cpu_ms = cpu_ms() - c0;
    free(rgb); free(label); free(depth);
    return NULL;
}

static double run(int threads, int w, int h, uint64_t n, double *cpu_per_scene) {
    part parts[2];
    pthread_t tid[2];
    double t0 = em_now_ms();
    for (int t = 0; t < threads; t++) {
        parts[t] = (part){w, h, (uint64_t)t * n, n, 0, 0};
        pthread_create(&tid[t], NULL, run_part, &parts[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double ms = em_now_ms() - t0, cpu = 0;
    for (int t = 0; t < threads; t++) cpu += parts[t].cpu_ms;
    if (cpu_per_scene) *cpu_per_scene = cpu / (double)(threads * n);
    return (double)(threads * n) * 1000.0 / ms;
}

static int cmp_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

#define TARGET_PER_CORE 1000.0
#define MAX_ROUNDS 64

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000;
    int w = 256, h = 128, rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (n < 1) { fprintf(stderr, "N: at least 1 scene\n"); return 2; }
    if (argc > 2 && sscanf(argv[2], "%dx%d", &w, &h) != 2) { fprintf(stderr, "size: WxH\n"); return 2; }
    if (rounds < 1 || rounds > MAX_ROUNDS) { fprintf(stderr, "ROUNDS: 1..%d\n", MAX_ROUNDS); return 2; }
    double load = -1;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) { if (fscanf(la, "%lf", &load) != 1) load = -1; fclose(la); }
    run(1, w, h, n / 10 + 1, NULL);  /* warm up */
    double cpu[MAX_ROUNDS], s1 = 0;
    printf("scenes %dx%d, load average %.1f, %d rounds of the same %llu scenes on 1 thread\n", w, h, load, rounds, (unsigned long long)n);
    printf("CPU ms per scene by round:");
    for (int r = 0; r < rounds; r++) {
        double wall = run(1, w, h, n, &cpu[r]);
        s1 += wall / rounds;
        printf(" %.3f", cpu[r]);
        fflush(stdout);
    }
    printf("\n");
    qsort(cpu, (size_t)rounds, sizeof *cpu, cmp_double);
    double med = rounds & 1 ? cpu[rounds / 2] : 0.5 * (cpu[rounds / 2 - 1] + cpu[rounds / 2]);
    printf("1 thread: %.0f scenes/s per core (median round: %.3f ms, %.1f ns/pixel; best %.0f, worst %.0f)   target %.0f: %s\n",
           1000.0 / med, med, 1e6 * med / ((double)w * h), 1000.0 / cpu[0], 1000.0 / cpu[rounds - 1], TARGET_PER_CORE,
           1000.0 / med >= TARGET_PER_CORE ? "met" : "not met");
    double c2, s2 = run(2, w, h, n, &c2);
    printf("wall clock: 1 thread %.0f scenes/s (mean over rounds), 2 threads %.0f scenes/s (%.3f CPU ms per scene)\n", s1, s2, c2);
    /* where one thread's time goes */
    em_world *world = malloc(sizeof *world);
    void *scratch = malloc(em_render_scratch_bytes(w, h));
    size_t np = (size_t)w * h;
    uint8_t *rgb = malloc(3 * np); int8_t *label = malloc(np); float *depth = malloc(4 * np);
    double tb = 0, tr = 0, prims = 0;
    for (uint64_t i = 0; i < n; i++) {
        double t0 = em_now_ms();
        em_world_build(world, 1, EM_SPLIT_TRAIN, i);
        double t1 = em_now_ms();
        em_camera cam;
        em_camera_from_rig(&world->rig, w, h, &cam);
        em_world_render(world, &cam, scratch, i, rgb, label, depth, NULL);
        tr += em_now_ms() - t1; tb += t1 - t0; prims += world->n_prims;
    }
    printf("per scene: world build %.3f ms, render %.3f ms, %.0f primitives on average\n", tb / n, tr / n, prims / n);
    free(world); free(scratch); free(rgb); free(label); free(depth);
    return 0;
}
