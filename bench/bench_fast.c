/* Benchmark driver for the fast engine (docs/fast.md); bench/bench_fast.sh runs it
 * next to PyTorch.  Not a test.
 *
 *   bench_fast [--weights DIR] [--image FILE] [--threads N] [--repeats R]
 *              [--ref-repeats R] [--out DIR] [--no-blas] [--gemm-only]
 *
 * Prints, and writes to DIR/bench.json when --out is given:
 *  - the machine's FP32 peak, measured here with an FMA throughput loop on N
 *    threads (the ISA the engine selected);
 *  - GEMM on the model's exact shapes: edgemoe's kernels vs OpenBLAS
 *    (cblas_sgemm, same thread count), ms and GFLOP/s;
 *  - edgemoe fast and ref, per task alone: backbone, head, total ms (min and
 *    median over the repeats), achieved GFLOP/s, and both tasks in one run.
 * With --out it also writes DIR/<engine>_task<t>_{features,logits}.f32 of the
 * last run for the PyTorch cross-check. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include "edgemoe.h"
#include "engine/engine.h"
#include "engine/fast_kern.h"
#include "engine/fast_threads.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double vmin(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) if (v[i] < m) m = v[i]; return m; }
static double vmed(const double *v, int n) {
    double *t = malloc(sizeof(double) * n);
    memcpy(t, v, sizeof(double) * n);
    qsort(t, n, sizeof(double), cmp_d);
    double r = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return r;
}

/* ---- FP32 peak: independent FMA chains, per thread ---- */
#define PEAK_ITERS 20000000L
typedef struct { const char *isa; double flops; } peak_arg;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PEAK_STEP(F) F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7); F(a8); F(a9); F(a10); F(a11)
__attribute__((target("avx2,fma"))) static double peak_avx2(void) {
    __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
    __m256 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b, a8 = b, a9 = b, a10 = b, a11 = b;
#define F2(x) x = _mm256_fmadd_ps(x, b, c)
    for (long i = 0; i < PEAK_ITERS; i++) {
        PEAK_STEP(F2);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7),
                         "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    float s[8];
    _mm256_storeu_ps(s, _mm256_add_ps(a0, a11));
    return s[0] > 1e30f ? 0 : 12.0 * 16.0 * PEAK_ITERS;
}
__attribute__((target("avx512f"))) static double peak_avx512(void) {
    __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
    __m512 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b, a8 = b, a9 = b, a10 = b, a11 = b;
#define F5(x) x = _mm512_fmadd_ps(x, b, c)
    for (long i = 0; i < PEAK_ITERS; i++) {
        PEAK_STEP(F5);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
                         "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    float s[16];
    _mm512_storeu_ps(s, _mm512_add_ps(a0, a11));
    return s[0] > 1e30f ? 0 : 12.0 * 32.0 * PEAK_ITERS;
}
#endif

static double peak_scalar(void) {
    volatile float sink;
    float a[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    long n = PEAK_ITERS / 4;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < 8; j++) a[j] = a[j] * 0.9999f + 1e-4f;
    sink = a[0];
    (void)sink;
    return 16.0 * n;
}

static void *peak_thread(void *p) {
    peak_arg *a = p;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (strcmp(a->isa, "avx512") == 0) { a->flops = peak_avx512(); return NULL; }
    if (strcmp(a->isa, "avx2") == 0) { a->flops = peak_avx2(); return NULL; }
#endif
    a->flops = peak_scalar();
    return NULL;
}

static double measure_peak(const char *isa, int nthr) {
    double best = 0;
    for (int r = 0; r < 3; r++) {
        pthread_t th[256];
        peak_arg args[256];
        double t0 = em_now_ms();
        for (int i = 0; i < nthr; i++) {
            args[i].isa = isa;
            pthread_create(&th[i], NULL, peak_thread, &args[i]);
        }
        double fl = 0;
        for (int i = 0; i < nthr; i++) { pthread_join(th[i], NULL); fl += args[i].flops; }
        double gf = fl / (em_now_ms() - t0) / 1e6;
        if (gf > best) best = gf;
    }
    return best;
}

/* ---- GEMM: edgemoe kernels vs OpenBLAS on the model's shapes ---- */
typedef struct { const char *what; int M, N, K, count; int backbone; } shape;

static void bench_gemm(const em_fast_kern *k, em_pool *pool, int nthr, int blas, double *gf_own, double *gf_blas,
                       FILE *js, const em_config *c) {
    int N = c->n_tok, D = c->dim, H = c->mlp_hidden, He = c->expert_hidden, E = c->n_experts;
    int ng = c->grid_h * c->grid_w, PP = c->img_c * c->patch * c->patch, L = c->depth, Lm = em_n_moe_layers(c);
    int avg = (N * c->top_k + E - 1) / E; /* tokens per expert, uniform routing */
    int hc = c->head_ch, th = c->img_h / 2, tw = c->img_w / 2;
    shape sh[] = {
        {"patch embed", ng, D, PP, 1, 1},
        {"qkv", N, 3 * D, D, L, 1},
        {"attn proj", N, D, D, L, 1},
        {"dense fc1", N, H, D, L - Lm, 1},
        {"dense fc2", N, D, H, L - Lm, 1},
        {"expert fc1 (gathered)", avg, He, D, Lm * E, 1},
        {"expert fc2 (gathered)", avg, D, He, Lm * E, 1},
        {"gate", N, E, D, Lm, 1},
        {"head wino conv3 (per point)", em_wino_tiles(th, tw), hc, hc, 36, 0},
        {"head im2col conv3 (direct)", th * tw, hc, 9 * hc, 1, 0},
    };
    int ns = (int)(sizeof sh / sizeof sh[0]);
    printf("\nGEMM C[M][N] = A[M][K] W[N][K]^T, %d threads (ms per call, GFLOP/s)\n", nthr);
    printf("  %-28s %5s %5s %5s | %9s %7s | %9s %7s | %s\n", "shape", "M", "N", "K", "edgemoe", "GF/s", "OpenBLAS",
           "GF/s", "faster");
    if (js) fprintf(js, "  \"gemm\": [\n");
    double bb_fl = 0, bb_own = 0, bb_blas = 0;
    for (int s = 0; s < ns; s++) {
        int M = sh[s].M, Nn = sh[s].N, K = sh[s].K;
        float *A = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * Nn * K), *C = malloc(sizeof(float) * M * Nn);
        float *B = malloc(sizeof(float) * em_fast_packed_floats(Nn, K, k->nr));
        for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 17) * 0.01f - 0.08f;
        for (size_t i = 0; i < (size_t)Nn * K; i++) W[i] = (float)(i % 13) * 0.01f - 0.06f;
        em_fast_pack_b(W, Nn, K, K, k->nr, B);
        em_gemm g = {M, Nn, K, A, K, NULL, B, 0, NULL, C, Nn, NULL, NULL, EM_EPI_STORE, NULL};
        double fl = 2.0 * M * Nn * K;
        int reps = (int)(3e8 / fl) + 1;
        double own = 1e30, ob = 1e30;
        for (int r = 0; r < 7; r++) {
            double t0 = em_now_ms();
            for (int i = 0; i < reps; i++) em_fast_gemm_run(pool, k, &g);
            double t = (em_now_ms() - t0) / reps;
            if (t < own) own = t;
        }
        /* OpenBLAS after ours: its threads keep spinning for a while after a
         * call and would steal the cores from our pool */
        for (int r = 0; blas && r < 7; r++) {
            double t0 = em_now_ms();
            for (int i = 0; i < reps; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, Nn, K, 1.0f, A, K, W, K, 0.0f, C, Nn);
            double t = (em_now_ms() - t0) / reps;
            if (t < ob) ob = t;
        }
        if (sh[s].backbone) {
            bb_fl += fl * sh[s].count;
            bb_own += own * sh[s].count;
            bb_blas += ob * sh[s].count;
        }
        printf("  %-28s %5d %5d %5d | %9.4f %7.1f | %9.4f %7.1f | %s\n", sh[s].what, M, Nn, K, own, fl / own / 1e6,
               blas ? ob : 0.0, blas ? fl / ob / 1e6 : 0.0, !blas ? "-" : own <= ob ? "edgemoe" : "OpenBLAS");
        if (js)
            fprintf(js, "    {\"shape\": \"%s\", \"M\": %d, \"N\": %d, \"K\": %d, \"edgemoe_ms\": %.5f, \"openblas_ms\": %.5f}%s\n",
                    sh[s].what, M, Nn, K, own, blas ? ob : -1.0, s + 1 < ns ? "," : "");
        free(A); free(W); free(C); free(B);
    }
    *gf_own = bb_fl / bb_own / 1e6;
    *gf_blas = blas ? bb_fl / bb_blas / 1e6 : -1.0;
    if (js) fprintf(js, "  ],\n");
}

/* ---- model FLOPs (multiply-adds x 2) ---- */
static double backbone_flops(const em_config *c) {
    double N = c->n_tok, D = c->dim, f = 2.0 * c->grid_h * c->grid_w * c->img_c * c->patch * c->patch * D;
    for (int L = 0; L < c->depth; L++) {
        f += 2 * N * D * 3 * D + 2 * 2 * N * N * D + 2 * N * D * D;
        if (em_is_moe(c, L)) f += 2 * N * D * c->n_experts + 2 * 2 * N * c->top_k * D * c->expert_hidden;
        else f += 2 * 2 * N * D * c->mlp_hidden;
    }
    return f;
}
static double head_flops(const em_config *c, int task) { /* as direct convolutions */
    double f = 0, h = c->grid_h, w = c->grid_w, cin = c->dim, hc = c->head_ch;
    for (int i = 0; i < 4; i++) {
        f += 2 * h * w * cin * hc * 9;
        cin = hc;
        if (i < 3) { h *= 2; w *= 2; }
    }
    return f + 2 * h * w * hc * c->task_channels[task];
}

static void dump(const char *dir, const char *eng, int t, const char *what, const float *p, size_t n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s_task%d_%s.f32", dir, eng, t, what);
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(p, sizeof(float), n, f); fclose(f); }
}

static void bench_engine(const em_model *m, em_engine_kind kind, const float *img, int nthr, int reps,
                         const char *out, FILE *js, int last) {
    const em_config *c = &m->cfg;
    em_session_opts o;
    memset(&o, 0, sizeof o);
    o.engine = kind;
    o.threads = nthr;
    em_err err;
    em_session *s = em_session_new(m, &o, &err);
    const char *name = em_engine_name(kind);
    if (!s) { printf("%s: %s\n", name, err.msg); return; }
    double *bb = malloc(sizeof(double) * reps), *hd = malloc(sizeof(double) * reps), *tt = malloc(sizeof(double) * reps);
    if (js) fprintf(js, "  \"%s\": {\n", name);
    for (int t = 0; t < c->n_tasks; t++) {
        em_session_run(s, img, 1u << t, &err); /* warm-up */
        for (int r = 0; r < reps; r++) {
            if (em_session_run(s, img, 1u << t, &err)) { printf("%s: %s\n", name, err.msg); exit(1); }
            const em_task_output *to = em_session_output(s, t);
            bb[r] = to->backbone_ms; hd[r] = to->head_ms; tt[r] = to->total_ms;
        }
        const em_task_output *to = em_session_output(s, t);
        double bf = backbone_flops(c), hf = head_flops(c, t);
        printf("  %-5s %-7s backbone %8.2f / %8.2f  head %8.2f / %8.2f  total %8.2f / %8.2f   (%.1f / %.1f GFLOP/s)\n",
               name, c->task_name[t], vmin(bb, reps), vmed(bb, reps), vmin(hd, reps), vmed(hd, reps), vmin(tt, reps),
               vmed(tt, reps), bf / vmin(bb, reps) / 1e6, hf / vmin(hd, reps) / 1e6);
        if (js)
            fprintf(js,
                    "    \"%s\": {\"backbone_min\": %.3f, \"backbone_med\": %.3f, \"head_min\": %.3f, \"head_med\": %.3f, "
                    "\"total_min\": %.3f, \"total_med\": %.3f, \"backbone_gflop\": %.4f, \"head_gflop\": %.4f},\n",
                    c->task_name[t], vmin(bb, reps), vmed(bb, reps), vmin(hd, reps), vmed(hd, reps), vmin(tt, reps),
                    vmed(tt, reps), bf / 1e9, hf / 1e9);
        if (out) {
            dump(out, name, t, "features", to->features, (size_t)c->n_tok * c->dim);
            dump(out, name, t, "logits", to->logits, (size_t)c->task_channels[t] * c->img_h * c->img_w);
        }
    }
    /* every task in one run: the prefix is shared */
    unsigned all = (1u << c->n_tasks) - 1;
    for (int r = 0; r < reps; r++) {
        double t0 = em_now_ms();
        em_session_run(s, img, all, &err);
        tt[r] = em_now_ms() - t0;
    }
    printf("  %-5s all tasks in one run: %.2f / %.2f ms\n", name, vmin(tt, reps), vmed(tt, reps));
    if (js) fprintf(js, "    \"all_tasks_min\": %.3f, \"all_tasks_med\": %.3f}%s\n", vmin(tt, reps), vmed(tt, reps), last ? "" : ",");
    free(bb); free(hd); free(tt);
    em_session_free(s);
}

int main(int argc, char **argv) {
    const char *weights = "../shared/m3vit-edgemoe", *image = NULL, *out = NULL;
    int nthr = 0, reps = 10, ref_reps = 3, blas = 1, engines = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--weights") && i + 1 < argc) weights = argv[++i];
        else if (!strcmp(argv[i], "--image") && i + 1 < argc) image = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) nthr = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ref-repeats") && i + 1 < argc) ref_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--no-blas")) blas = 0;
        else if (!strcmp(argv[i], "--gemm-only")) engines = 0;
        else { fprintf(stderr, "usage: %s [--weights DIR] [--image FILE] [--threads N] [--repeats R] "
                               "[--ref-repeats R] [--out DIR] [--no-blas] [--gemm-only]\n", argv[0]); return 2; }
    }
    if (nthr <= 0) nthr = em_cpu_count();
    if (nthr > 256) nthr = 256;
    if (reps < 1) reps = 1;
    em_model m;
    em_err err;
    if (em_model_load(&m, weights, &err)) { fprintf(stderr, "bench_fast: %s\n", err.msg); return 1; }
    const em_config *c = &m.cfg;
    size_t npix = (size_t)c->img_c * c->img_h * c->img_w;
    float *img = malloc(npix * sizeof(float));
    char defimg[1100];
    if (!image) { snprintf(defimg, sizeof defimg, "%s/image.float32.bin", weights); image = defimg; }
    if (em_image_load(image, c, img, &err)) { fprintf(stderr, "bench_fast: %s\n", err.msg); return 1; }
    FILE *js = NULL;
    if (out) {
        mkdir(out, 0777);
        char p[1200];
        snprintf(p, sizeof p, "%s/image.f32", out); /* the exact pixels, for PyTorch */
        FILE *fi = fopen(p, "wb");
        if (fi) { fwrite(img, sizeof(float), npix, fi); fclose(fi); }
        snprintf(p, sizeof p, "%s/bench.json", out);
        js = fopen(p, "w");
    }
    const em_fast_kern *k = em_fast_kern_select();
    printf("edgemoe fast engine benchmark: %d threads, kernels %s, engine %s\n", nthr, k->name, em_engine_fast.name);
    /* the peak is measured at the start and again at the end, the larger
     * kept: on a shared machine one of them may have been disturbed */
    double peak = measure_peak(k->name, nthr);
    printf("FP32 peak (FMA loop, %s, %d threads): %.1f GFLOP/s (measured again at the end)\n", k->name, nthr, peak);
    if (js) fprintf(js, "{\n  \"threads\": %d,\n  \"isa\": \"%s\",\n", nthr, k->name);
    if (engines) {
        printf("\nEngines, per image and task (ms, min / median of %d (fast) and %d (ref) runs; GFLOP/s from the min;\n"
               "head GFLOP/s counts the convolutions as direct):\n", reps, ref_reps);
        bench_engine(&m, EM_ENGINE_FAST, img, nthr, reps, out, js, 0);
        bench_engine(&m, EM_ENGINE_REF, img, nthr, ref_reps, out, js, 0);
    }
    openblas_set_num_threads(nthr);
    em_pool *pool = em_pool_new(nthr);
    double gf_own = 0, gf_blas = -1;
    bench_gemm(k, pool, nthr, blas, &gf_own, &gf_blas, js, c);
    em_pool_free(pool);
    double peak2 = measure_peak(k->name, nthr);
    printf("FP32 peak again: %.1f GFLOP/s; using %.1f\n", peak2, peak2 > peak ? peak2 : peak);
    if (peak2 > peak) peak = peak2;
    printf("  backbone GEMMs, flop-weighted: edgemoe %.1f GFLOP/s = %.0f%% of peak", gf_own, 100 * gf_own / peak);
    if (blas) printf("; OpenBLAS %.1f GFLOP/s = %.0f%% of peak", gf_blas, 100 * gf_blas / peak);
    printf("\n");
    if (js)
        fprintf(js, "  \"backbone_gemm_gflops\": %.2f,\n  \"backbone_gemm_gflops_openblas\": %.2f,\n  \"peak_gflops\": %.2f\n",
                gf_own, gf_blas, peak);
    if (js) { fprintf(js, "}\n"); fclose(js); }
    free(img);
    em_model_free(&m);
    return 0;
}
