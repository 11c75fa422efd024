/* Fast float engine (docs/fast.md): the model of docs/spec.md#1-the-model
 * with packed weights, SIMD kernels
 * (fast_kern*.c, chosen at run time), a persistent thread pool and one
 * arena planned at create().
 *
 * - Linear layers: GEMM on weights packed once into the kernel's panel
 *   layout; bias, GELU and residual adds fused in the GEMM epilogue.
 * - Attention: per (head, query block), keys in blocks with the online softmax.
 * - MoE (expert queues, docs/spec.md#35-idea-5-expert-queues): the gate
 *   builds per-expert token queues (ascending token order); one GEMM per
 *   used expert and layer on its gathered tokens (bias + GELU fused), then
 *   the second expert GEMM scales by g_k and adds into a zeroed buffer
 *   which is added to x in the same pass.
 * - Head: channels-last maps; conv3x3 by Winograd F(4x4,3x3) with BatchNorm
 *   folded into the weights at create(), ReLU fused in the output transform.
 *
 * Determinism: work is cut into chunks whose boundaries do not depend on the
 * thread count, and every output element is computed by one fixed sequence of
 * operations, so --threads N never changes a bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include "engine/engine.h"
#include "engine/fast_kern.h"
#include "engine/ops.h"
#include "engine/fast_threads.h"

#define GEMM_MB_TILES 8 /* row tiles per GEMM chunk */
#define GEMM_PG 2       /* column panels per GEMM chunk */
#define ROWS_PER_CHUNK 16
#define MOE2_PG 1       /* column panels per expert fc2 chunk (12 chunks for D = 192) */
#define MOE_PG 4        /* column panels per expert fc1 chunk (longer prefetch runs) */

typedef struct {
    const float *w, *b;  /* packed weights, padded bias */
} packed;

/* Optional per-phase wall-time profile (build with -DEM_FAST_PROFILE; printed
 * to stderr at destroy).  Compiled out by default. */
#ifdef EM_FAST_PROFILE
enum { P_LN, P_QKV, P_PACK, P_ATT, P_PROJ, P_FC1, P_FC2, P_GATE, P_EFC1, P_EFC2, P_EMBED, P_HEAD_IN, P_HEAD_GEMM,
       P_HEAD_OUT, P_HEAD_UP, P_HEAD_CLS, P_N };
static const char *prof_name[P_N] = {"layernorm", "qkv", "attn pack", "attention", "proj", "fc1", "fc2", "gate+route",
                                     "expert fc1", "expert fc2", "embed", "wino in", "wino gemm", "wino out",
                                     "upsample", "cls+final"};
static double prof_ms[P_N];
static double prof_t0;
#include <time.h>
static double prof_now(void) { /* this thread's CPU time: meaningful with --threads 1 on a busy machine;
                                * -DEM_FAST_PROFILE_WALL: wall time (for several threads) */
    struct timespec ts;
#ifdef EM_FAST_PROFILE_WALL
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
#endif
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define PROF_START() (prof_t0 = prof_now())
#define PROF_END(k) (prof_ms[k] += prof_now() - prof_t0)
#else
#define PROF_START() ((void)0)
#define PROF_END(k) ((void)0)
#endif

typedef struct {
    int e, m0, m1, p0, p1;
} moe_chunk;

typedef struct {
    const em_model *m;
    const em_fast_kern *k;
    em_pool *pool;
    em_trace_fn trace;
    void *trace_user;
    int nr, ldk, n_moe, n_dense;

    /* packed weights (one block) */
    float *wblock;
    packed patch, *qkv, *proj, *fc1, *fc2, *gate, *exp1, *exp2; /* gate: [moe][task], exp: [moe][E] */
    struct {
        packed conv[4][36]; /* Winograd U per point, BN folded */
        float *cbias[4];    /* folded conv bias [head_ch] */
        packed cls;
    } head[EM_MAX_TASKS];

    /* activations (one block) */
    float *ablock;
    float *x, *h, *qkv_o, *kp, *vp, *att, *hid, *buf, *prefix, *patches, *scores, *gsc;
    int32_t *tok, *cnt, *off;
    moe_chunk *mchunks;
    float *map_a, *map_b, *V, *Mw, *clsmap, *tracebuf;
} fast_engine;

/* ---- parallel helpers ---- */

typedef struct {
    const em_fast_kern *k;
    em_gemm g;
    int mb, n_mb, np, n_pg;
} gemm_job;

static void gemm_chunk(void *ctx, int c, int tid) {
    (void)tid;
    gemm_job *j = ctx;
    int mb = c / j->n_pg, pg = c % j->n_pg;
    int m0 = mb * j->mb, m1 = m0 + j->mb < j->g.M ? m0 + j->mb : j->g.M;
    int p0 = pg * GEMM_PG, p1 = p0 + GEMM_PG < j->np ? p0 + GEMM_PG : j->np;
    j->k->gemm(&j->g, m0, m1, p0, p1);
}

void em_fast_gemm_run(em_pool *pool, const em_fast_kern *k, const em_gemm *g) {
    if (g->M <= 0) return;
    gemm_job j;
    j.k = k;
    j.g = *g;
    j.mb = k->mr * GEMM_MB_TILES;
    j.n_mb = (g->M + j.mb - 1) / j.mb;
    j.np = (g->N + k->nr - 1) / k->nr;
    j.n_pg = (j.np + GEMM_PG - 1) / GEMM_PG;
    em_pool_run(pool, gemm_chunk, &j, j.n_mb * j.n_pg);
}

static void run_gemm(fast_engine *e, const em_gemm *g) { em_fast_gemm_run(e->pool, e->k, g); }

static em_gemm mkgemm(int M, int N, int K, const float *A, int lda, const packed *B, float *C, int ldc,
                      int epi) {
    em_gemm g;
    memset(&g, 0, sizeof g);
    g.M = M; g.N = N; g.K = K;
    g.A = A; g.lda = lda;
    g.B = B->w; g.bias = B->b;
    g.C = C; g.ldc = ldc;
    g.epi = epi;
    return g;
}

typedef struct {
    fast_engine *e;
    const float *x, *w, *b;
    float *y;
    int rows, d;
} ln_job;

static void ln_chunk(void *ctx, int c, int tid) {
    (void)tid;
    ln_job *j = ctx;
    int r0 = c * ROWS_PER_CHUNK, r1 = r0 + ROWS_PER_CHUNK < j->rows ? r0 + ROWS_PER_CHUNK : j->rows;
    j->e->k->layernorm(j->x, j->y, j->d, j->w, j->b, j->e->m->cfg.ln_eps, r0, r1);
}

static void run_ln(fast_engine *e, const float *x, int rows, const float *w, const float *b, float *y) {
    ln_job j = {e, x, w, b, y, rows, e->m->cfg.dim};
    PROF_START();
    em_pool_run(e->pool, ln_chunk, &j, (rows + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
    PROF_END(P_LN);
}

/* ---- create / destroy ---- */

static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15; /* keep 64-byte alignment */
    return r;
}

static void pack_linear(fast_engine *e, float **wp, packed *dst, const float *W, const float *b, int N, int K) {
    float *w = carve(wp, em_fast_packed_floats(N, K, e->nr));
    em_fast_pack_b(W, N, K, K, e->nr, w);
    dst->w = w;
    if (b) {
        int np = (N + e->nr - 1) / e->nr;
        float *bb = carve(wp, (size_t)np * e->nr);
        memset(bb, 0, (size_t)np * e->nr * sizeof(float));
        memcpy(bb, b, (size_t)N * sizeof(float));
        dst->b = bb;
    } else {
        dst->b = NULL;
    }
}

static size_t lin_floats(const fast_engine *e, int N, int K) {
    int np = (N + e->nr - 1) / e->nr;
    return ((em_fast_packed_floats(N, K, e->nr) + 15) & ~(size_t)15) + (((size_t)np * e->nr + 15) & ~(size_t)15);
}

static void fast_destroy(void *p);

/* The weights (~100 MB) stream from memory on every image: on Linux, ask for
 * transparent huge pages (2 MB) so the walk through them is not also a walk
 * through the TLB.  Falls back to ordinary pages silently. */
#define BIG_ALIGN ((size_t)2 << 20)
static float *big_alloc(size_t floats) {
    size_t bytes = (floats * sizeof(float) + BIG_ALIGN - 1) / BIG_ALIGN * BIG_ALIGN;
    float *p = aligned_alloc(BIG_ALIGN, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void *fast_create(const em_model *m, const em_session_opts *o, em_err *err) {
    const em_config *c = &m->cfg;
    const em_weights *w = &m->w;
    /* any consistent config; the head's four x2 steps must give the image size */
    if (c->n_heads * c->head_dim != c->dim || c->head_dim < 1 || em_att_qb(c->head_dim) < 1 ||
        c->grid_h * 16 != c->img_h || c->grid_w * 16 != c->img_w || c->top_k > EM_MAX_TOPK ||
        c->n_experts > EM_MAX_EXPERTS) {
        em_error(err, EM_EARG,
                 "fast engine: unsupported config (needs n_heads x head_dim = dim, head_dim <= %d, "
                 "image = 16 x grid, top_k <= %d, experts <= %d)", EM_ATT_OMAX, EM_MAX_TOPK, EM_MAX_EXPERTS);
        return NULL;
    }
    fast_engine *e = calloc(1, sizeof *e);
    if (!e) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    e->m = m;
    e->k = em_fast_kern_select();
    e->nr = e->k->nr;
    e->trace = o->trace;
    e->trace_user = o->trace_user;
    int nthr = o->threads > 0 ? o->threads : em_cpu_count();
    e->pool = em_pool_new(nthr);
    int N = c->n_tok, D = c->dim, H = c->mlp_hidden, E = c->n_experts, He = c->expert_hidden, L = c->depth;
    int T = c->n_tasks, hc = c->head_ch, PP = c->img_c * c->patch * c->patch;
    e->n_moe = em_n_moe_layers(c);
    e->n_dense = L - e->n_moe;
    e->qkv = calloc((size_t)L * 2 + (size_t)e->n_dense * 2 + (size_t)e->n_moe * (T + 2 * E), sizeof(packed));
    if (!e->pool || !e->qkv) goto oom;
    e->proj = e->qkv + L;
    e->fc1 = e->proj + L;
    e->fc2 = e->fc1 + e->n_dense;
    e->gate = e->fc2 + e->n_dense;
    e->exp1 = e->gate + (size_t)e->n_moe * T;
    e->exp2 = e->exp1 + (size_t)e->n_moe * E;

    /* ---- weights ---- */
    size_t wf = lin_floats(e, D, PP) + (size_t)L * (lin_floats(e, 3 * D, D) + lin_floats(e, D, D)) +
                (size_t)e->n_dense * (lin_floats(e, H, D) + lin_floats(e, D, H)) +
                (size_t)e->n_moe * (T * lin_floats(e, E, D) + E * (lin_floats(e, He, D) + lin_floats(e, D, He)));
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < 4; i++) wf += 36 * lin_floats(e, hc, i ? hc : D) + hc + 16;
        wf += lin_floats(e, c->task_channels[t], hc);
    }
    e->wblock = big_alloc(wf);
    if (!e->wblock) goto oom;
    float *wp = e->wblock;
    pack_linear(e, &wp, &e->patch, w->patch_w, w->patch_b, D, PP);
    for (int l = 0; l < L; l++) {
        pack_linear(e, &wp, &e->qkv[l], w->qkv_w + (size_t)l * 3 * D * D, w->qkv_b + (size_t)l * 3 * D, 3 * D, D);
        pack_linear(e, &wp, &e->proj[l], w->proj_w + (size_t)l * D * D, w->proj_b + (size_t)l * D, D, D);
        if (!em_is_moe(c, l)) {
            int i = em_dense_index(c, l);
            pack_linear(e, &wp, &e->fc1[i], w->fc1_w + (size_t)i * H * D, w->fc1_b + (size_t)i * H, H, D);
            pack_linear(e, &wp, &e->fc2[i], w->fc2_w + (size_t)i * D * H, w->fc2_b + (size_t)i * D, D, H);
        } else {
            int i = em_moe_index(c, l);
            for (int t = 0; t < T; t++)
                pack_linear(e, &wp, &e->gate[(size_t)i * T + t], w->gate_w + ((size_t)i * T + t) * E * D, NULL, E, D);
            for (int x = 0; x < E; x++) {
                pack_linear(e, &wp, &e->exp1[(size_t)i * E + x], w->exp1_w + ((size_t)i * E + x) * He * D,
                            w->exp1_b + ((size_t)i * E + x) * He, He, D);
                pack_linear(e, &wp, &e->exp2[(size_t)i * E + x], w->exp2_w + ((size_t)i * E + x) * D * He,
                            w->exp2_b + ((size_t)i * E + x) * D, D, He);
            }
        }
    }
    float *u = malloc((size_t)36 * hc * (hc > D ? hc : D) * sizeof(float));
    double *s = malloc((size_t)hc * sizeof(double));
    if (!u || !s) { free(u); free(s); goto oom; }
    for (int t = 0; t < T; t++) {
        const em_head_weights *hw = &w->head[t];
        for (int i = 0; i < 4; i++) {
            int cin = i ? hc : D;
            float *cb = carve(&wp, (size_t)hc + 16);
            for (int co = 0; co < hc; co++) {
                s[co] = hw->bn_w[i][co] / sqrt((double)hw->bn_var[i][co] + c->bn_eps);
                cb[co] = (float)(((double)hw->conv_b[i][co] - hw->bn_mean[i][co]) * s[co] + hw->bn_b[i][co]);
            }
            e->head[t].cbias[i] = cb;
            em_wino_weights(hw->conv_w[i], s, hc, cin, u);
            for (int xi = 0; xi < 36; xi++)
                pack_linear(e, &wp, &e->head[t].conv[i][xi], u + (size_t)xi * hc * cin, NULL, hc, cin);
        }
        pack_linear(e, &wp, &e->head[t].cls, hw->cls_w, hw->cls_b, c->task_channels[t], hc);
    }
    free(u);
    free(s);

    /* ---- activations ---- */
    e->ldk = (N + 63) / 64 * 64;
    int np_d = (D + e->nr - 1) / e->nr;
    int mb = e->k->mr * GEMM_MB_TILES;
    size_t n_mchunks = (size_t)((N * c->top_k) / mb + E + 1) * ((np_d > 0 ? (He + e->nr - 1) / e->nr : 1) + 1);
    size_t big = (size_t)hc * (c->img_h / 2) * (c->img_w / 2);
    if ((size_t)D * c->grid_h * c->grid_w > big) big = (size_t)D * c->grid_h * c->grid_w;
    size_t wt = 36 * em_wino_plane(em_wino_tiles(c->img_h / 2, c->img_w / 2), hc > D ? hc : D);
    int cmax = 1;
    for (int t = 0; t < T; t++) if (c->task_channels[t] > cmax) cmax = c->task_channels[t];
    size_t hid = (size_t)N * H > (size_t)N * c->top_k * He ? (size_t)N * H : (size_t)N * c->top_k * He;
    size_t af = 0, ND = (size_t)N * D;
#define A(n) (af += (((size_t)(n)) + 15) & ~(size_t)15)
    A(ND); A(ND); A(3 * ND); A(c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    A(c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk)); A(ND); A(hid); A(ND); A(ND);
    A((size_t)c->grid_h * c->grid_w * PP); A((size_t)N * E); A((size_t)E * N); A((size_t)E * N); A(E); A(E + 1);
    A(n_mchunks * sizeof(moe_chunk) / sizeof(float) + 1);
    A(big); A(big); A(wt); A(wt); A((size_t)(c->img_h / 2) * (c->img_w / 2) * cmax);
    if (o->trace) A(big);
#undef A
    e->ablock = big_alloc(af);
    if (!e->ablock) goto oom;
    memset(e->ablock, 0, af * sizeof(float));
    float *ap = e->ablock;
    e->x = carve(&ap, ND);
    e->h = carve(&ap, ND);
    e->qkv_o = carve(&ap, 3 * ND);
    e->kp = carve(&ap, c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    e->vp = carve(&ap, c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    e->att = carve(&ap, ND);
    e->hid = carve(&ap, hid);
    e->buf = carve(&ap, ND);
    e->prefix = carve(&ap, ND);
    e->patches = carve(&ap, (size_t)c->grid_h * c->grid_w * PP);
    e->scores = carve(&ap, (size_t)N * E);
    e->tok = (int32_t *)carve(&ap, (size_t)E * N);
    e->gsc = carve(&ap, (size_t)E * N);
    e->cnt = (int32_t *)carve(&ap, E);
    e->off = (int32_t *)carve(&ap, E + 1);
    e->mchunks = (moe_chunk *)carve(&ap, n_mchunks * sizeof(moe_chunk) / sizeof(float) + 1);
    e->map_a = carve(&ap, big);
    e->map_b = carve(&ap, big);
    e->V = carve(&ap, wt);
    e->Mw = carve(&ap, wt);
    e->clsmap = carve(&ap, (size_t)(c->img_h / 2) * (c->img_w / 2) * cmax);
    e->tracebuf = o->trace ? carve(&ap, big) : NULL;
    return e;
oom:
    fast_destroy(e);
    em_error(err, EM_ENOMEM, "fast engine: out of memory");
    return NULL;
}

static void fast_destroy(void *p) {
    fast_engine *e = p;
    if (!e) return;
#ifdef EM_FAST_PROFILE
    for (int i = 0; i < P_N; i++) fprintf(stderr, "  %-12s %9.2f ms\n", prof_name[i], prof_ms[i]);
#endif
    em_pool_free(e->pool);
    free(e->qkv);
    free(e->wblock);
    free(e->ablock);
    free(e);
}

/* ---- backbone ---- */

typedef struct {
    fast_engine *e;
    const float *img;
} patch_job;

/* im2col of the 16x16 patches: row p = (c, y, x) of patch p */
static void patch_chunk(void *ctx, int p, int tid) {
    (void)tid;
    patch_job *j = ctx;
    const em_config *c = &j->e->m->cfg;
    int P = c->patch, py = p / c->grid_w, px = p % c->grid_w;
    float *dst = j->e->patches + (size_t)p * c->img_c * P * P;
    for (int ch = 0; ch < c->img_c; ch++)
        for (int y = 0; y < P; y++)
            memcpy(dst + ((size_t)ch * P + y) * P,
                   j->img + ((size_t)ch * c->img_h + py * P + y) * c->img_w + px * P, (size_t)P * sizeof(float));
}

static void patch_embed(fast_engine *e, const float *img) {
    const em_config *c = &e->m->cfg;
    int D = c->dim, np = c->grid_h * c->grid_w, PP = c->img_c * c->patch * c->patch;
    patch_job j = {e, img};
    em_pool_run(e->pool, patch_chunk, &j, np);
    memcpy(e->x, e->m->w.pos_embed, (size_t)c->n_tok * D * sizeof(float));
    em_gemm g = mkgemm(np, D, PP, e->patches, PP, &e->patch, e->x + D, D, EM_EPI_ADD);
    run_gemm(e, &g);
}

typedef struct {
    fast_engine *e;
} att_job;

/* chunk = (head, group of 64 keys): K and V of those keys into the panels
 * (disjoint columns of K's panels, disjoint rows of V's) */
static void pack_chunk(void *ctx, int ch, int tid) {
    (void)tid;
    fast_engine *e = ((att_job *)ctx)->e;
    const em_config *c = &e->m->cfg;
    int ng = e->ldk / 64, h = ch / ng, t0 = (ch % ng) * 64;
    size_t ps = em_attn_pack_floats(c->head_dim, e->ldk);
    e->k->attn_pack(e->qkv_o, c->n_tok, c->dim, c->head_dim, h, (float)(1.0 / sqrt((double)c->head_dim)),
                    e->kp + h * ps, e->vp + h * ps, e->ldk, t0, t0 + 64);
}

static void att_chunk(void *ctx, int ch, int tid) {
    (void)tid;
    fast_engine *e = ((att_job *)ctx)->e;
    const em_config *c = &e->m->cfg;
    int qb = em_att_qb(c->head_dim);
    int N = c->n_tok, nqb = (N + qb - 1) / qb, h = ch / nqb, q0 = (ch % nqb) * qb;
    int q1 = q0 + qb < N ? q0 + qb : N;
    size_t ps = em_attn_pack_floats(c->head_dim, e->ldk);
    e->k->attention(e->qkv_o, N, c->dim, c->head_dim, h, e->kp + h * ps, e->vp + h * ps, e->ldk, e->att, q0, q1);
}

static void attention_part(fast_engine *e, int L) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int N = c->n_tok, D = c->dim;
    run_ln(e, e->x, N, w->ln1_w + (size_t)L * D, w->ln1_b + (size_t)L * D, e->h);
    em_gemm g = mkgemm(N, 3 * D, D, e->h, D, &e->qkv[L], e->qkv_o, 3 * D, EM_EPI_STORE);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_QKV);
    att_job j = {e};
    PROF_START();
    em_pool_run(e->pool, pack_chunk, &j, c->n_heads * (e->ldk / 64));
    PROF_END(P_PACK);
    PROF_START();
    int qb = em_att_qb(c->head_dim);
    em_pool_run(e->pool, att_chunk, &j, c->n_heads * ((N + qb - 1) / qb));
    PROF_END(P_ATT);
    g = mkgemm(N, D, D, e->att, D, &e->proj[L], e->x, D, EM_EPI_ADD);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_PROJ);
}

static void dense_mlp(fast_engine *e, int di) {
    const em_config *c = &e->m->cfg;
    int N = c->n_tok, D = c->dim, H = c->mlp_hidden;
    em_gemm g = mkgemm(N, H, D, e->h, D, &e->fc1[di], e->hid, H, EM_EPI_GELU);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_FC1);
    g = mkgemm(N, D, H, e->hid, H, &e->fc2[di], e->x, D, EM_EPI_ADD);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_FC2);
}

typedef struct {
    fast_engine *e;
    int mi, n_chunks, np;
} moe_job;

static void moe_fc1_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    moe_job *j = ctx;
    fast_engine *e = j->e;
    const em_config *c = &e->m->cfg;
    const moe_chunk *mc = &e->mchunks[ci];
    int D = c->dim, He = c->expert_hidden, N = c->n_tok;
    em_gemm g = mkgemm(e->cnt[mc->e], He, D, e->h, D, &e->exp1[(size_t)j->mi * c->n_experts + mc->e],
                       e->hid + (size_t)e->off[mc->e] * He, He, EM_EPI_GELU);
    g.arow = e->tok + (size_t)mc->e * N;
    /* the last panels of an expert: prefetch the next used expert's first */
    if (mc->p1 == (He + e->nr - 1) / e->nr)
        for (int x = mc->e + 1; x < c->n_experts; x++)
            if (e->cnt[x]) { g.pfnext = e->exp1[(size_t)j->mi * c->n_experts + x].w; break; }
    e->k->gemm(&g, mc->m0, mc->m1, mc->p0, mc->p1);
}

/* one group of output columns, every used expert in ascending order, then
 * x += buf on those columns */
static void moe_fc2_chunk(void *ctx, int pg, int tid) {
    (void)tid;
    moe_job *j = ctx;
    fast_engine *e = j->e;
    const em_config *c = &e->m->cfg;
    int D = c->dim, He = c->expert_hidden, N = c->n_tok, E = c->n_experts;
    int p0 = pg * MOE2_PG, p1 = p0 + MOE2_PG < j->np ? p0 + MOE2_PG : j->np;
    int c0 = p0 * e->nr, c1 = p1 * e->nr < D ? p1 * e->nr : D;
    for (int t = 0; t < N; t++) memset(e->buf + (size_t)t * D + c0, 0, (size_t)(c1 - c0) * sizeof(float));
    for (int x = 0; x < E; x++) {
        if (!e->cnt[x]) continue;
        em_gemm g = mkgemm(e->cnt[x], D, He, e->hid + (size_t)e->off[x] * He, He,
                           &e->exp2[(size_t)j->mi * E + x], e->buf, D, EM_EPI_SCALE_ADD);
        g.crow = e->tok + (size_t)x * N;
        g.cscale = e->gsc + (size_t)x * N;
        for (int y = x + 1; y < E; y++) /* next used expert's panels of this group */
            if (e->cnt[y]) { g.pfnext = e->exp2[(size_t)j->mi * E + y].w + (size_t)p0 * He * e->nr; break; }
        e->k->gemm(&g, 0, e->cnt[x], p0, p1);
    }
    for (int t = 0; t < N; t++) {
        float *xr = e->x + (size_t)t * D, *br = e->buf + (size_t)t * D;
        for (int d = c0; d < c1; d++) xr[d] += br[d];
    }
}

typedef struct {
    fast_engine *e;
    em_gemm g;
    int32_t *route;
    float *gprob;
} gate_job;

/* tokens [16c, 16c + 16): gate scores, softmax in double as the reference
 * does, top-k on the float probabilities (ties to the lower index) */
static void gate_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    gate_job *j = ctx;
    const em_config *c = &j->e->m->cfg;
    int N = c->n_tok, E = c->n_experts, K = c->top_k;
    int t0 = ci * ROWS_PER_CHUNK, t1 = t0 + ROWS_PER_CHUNK < N ? t0 + ROWS_PER_CHUNK : N;
    j->e->k->gemm(&j->g, t0, t1, 0, (E + j->e->nr - 1) / j->e->nr);
    for (int t = t0; t < t1; t++) {
        const float *s = j->e->scores + (size_t)t * E;
        float p[EM_MAX_EXPERTS];
        double ex[EM_MAX_EXPERTS], mx = s[0], sum = 0;
        for (int x = 1; x < E; x++) if (s[x] > mx) mx = s[x];
        for (int x = 0; x < E; x++) { ex[x] = exp((double)s[x] - mx); sum += ex[x]; }
        for (int x = 0; x < E; x++) p[x] = (float)(ex[x] / sum);
        int idx[EM_MAX_TOPK];
        em_ref_topk(p, E, K, idx);   /* the reference's rule: ties to the lower index */
        for (int k = 0; k < K; k++) {
            j->route[t * K + k] = idx[k];
            j->gprob[t * K + k] = p[idx[k]];
        }
    }
}

static void moe_mlp(fast_engine *e, int mi, int task, em_task_output *out) {
    const em_config *c = &e->m->cfg;
    int N = c->n_tok, D = c->dim, E = c->n_experts, K = c->top_k, He = c->expert_hidden;
    gate_job gj;
    gj.e = e;
    gj.g = mkgemm(N, E, D, e->h, D, &e->gate[(size_t)mi * c->n_tasks + task], e->scores, E, EM_EPI_STORE);
    gj.route = out->routing + (size_t)mi * N * K;
    gj.gprob = out->gate_prob + (size_t)mi * N * K;
    int32_t *count = out->expert_tokens + (size_t)mi * E;
    PROF_START();
    em_pool_run(e->pool, gate_chunk, &gj, (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
    /* per-expert queues in ascending token order */
    memset(e->cnt, 0, (size_t)E * sizeof(int32_t));
    for (int t = 0; t < N; t++)
        for (int k = 0; k < K; k++) {
            int best = gj.route[t * K + k];
            e->tok[(size_t)best * N + e->cnt[best]] = t;
            e->gsc[(size_t)best * N + e->cnt[best]] = gj.gprob[t * K + k];
            e->cnt[best]++;
        }
    memcpy(count, e->cnt, (size_t)E * sizeof(int32_t));
    /* queues laid out one after another in hid; fc1 chunks (expert, rows, panels) */
    int mb = e->k->mr * GEMM_MB_TILES, np1 = (He + e->nr - 1) / e->nr, nc = 0;
    e->off[0] = 0;
    for (int x = 0; x < E; x++) {
        e->off[x + 1] = e->off[x] + e->cnt[x];
        for (int m0 = 0; m0 < e->cnt[x]; m0 += mb)
            for (int p0 = 0; p0 < np1; p0 += MOE_PG) {
                moe_chunk *mc = &e->mchunks[nc++];
                mc->e = x;
                mc->m0 = m0;
                mc->m1 = m0 + mb < e->cnt[x] ? m0 + mb : e->cnt[x];
                mc->p0 = p0;
                mc->p1 = p0 + MOE_PG < np1 ? p0 + MOE_PG : np1;
            }
    }
    moe_job j = {e, mi, nc, (D + e->nr - 1) / e->nr};
    PROF_END(P_GATE);
    PROF_START();
    em_pool_run(e->pool, moe_fc1_chunk, &j, nc);
    PROF_END(P_EFC1);
    PROF_START();
    em_pool_run(e->pool, moe_fc2_chunk, &j, (j.np + MOE2_PG - 1) / MOE2_PG);
    PROF_END(P_EFC2);
}

static void mlp_part(fast_engine *e, int L, int task, em_task_output *out) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int D = c->dim;
    run_ln(e, e->x, c->n_tok, w->ln2_w + (size_t)L * D, w->ln2_b + (size_t)L * D, e->h);
    if (em_is_moe(c, L)) moe_mlp(e, em_moe_index(c, L), task, out);
    else dense_mlp(e, em_dense_index(c, L));
}

/* the block schedule (task-independent prefix once, then per task) is the
 * one shared by the float engines: src/engine/backbone.c */
static void step_embed(void *p, const float *image) {
    PROF_START();
    patch_embed(p, image);
    PROF_END(P_EMBED);
}
static void step_attention(void *p, int L) { attention_part(p, L); }
static void step_mlp(void *p, int L, int task, em_task_output *out) { mlp_part(p, L, task, out); }

static int fast_backbone(void *p, const float *image, unsigned mask, em_task_output *out, em_err *err) {
    fast_engine *e = p;
    em_backbone_steps s;
    memset(&s, 0, sizeof s);
    s.cfg = &e->m->cfg;
    s.eng = e;
    s.x = e->x;
    s.prefix = e->prefix;
    s.embed = step_embed;
    s.attention = step_attention;
    s.mlp = step_mlp;
    s.trace = e->trace;
    s.trace_user = e->trace_user;
    return em_backbone_run(&s, image, mask, out, err);
}

/* ---- head ---- */

typedef struct {
    fast_engine *e;
    const float *in;
    float *out;
    const float *bias;
    int h, w, c, relu, nt, tpc;
    const packed *U;
    int cin, cout, n_mb, n_pg, np, mb;
    int C; /* class channels */
} head_job;

#define TILES_PER_CHUNK 8

static void wino_in_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int t0 = ci * TILES_PER_CHUNK, t1 = t0 + TILES_PER_CHUNK < j->nt ? t0 + TILES_PER_CHUNK : j->nt;
    j->e->k->wino_in(j->in, j->h, j->w, j->cin, j->e->V, em_wino_plane(j->nt, j->cin), t0, t1);
}

static void wino_gemm_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int per = j->n_mb * j->n_pg, xi = ci / per, r = ci % per, mb = r / j->n_pg, pg = r % j->n_pg;
    em_gemm g = mkgemm(j->nt, j->cout, j->cin, j->e->V + xi * em_wino_plane(j->nt, j->cin), j->cin, &j->U[xi],
                       j->e->Mw + xi * em_wino_plane(j->nt, j->cout), j->cout, EM_EPI_STORE);
    int m0 = mb * j->mb, m1 = m0 + j->mb < j->nt ? m0 + j->mb : j->nt;
    int p0 = pg * GEMM_PG, p1 = p0 + GEMM_PG < j->np ? p0 + GEMM_PG : j->np;
    j->e->k->gemm(&g, m0, m1, p0, p1);
}

static void wino_out_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int t0 = ci * TILES_PER_CHUNK, t1 = t0 + TILES_PER_CHUNK < j->nt ? t0 + TILES_PER_CHUNK : j->nt;
    j->e->k->wino_out(j->e->Mw, em_wino_plane(j->nt, j->cout), j->h, j->w, j->cout, j->bias, 1, j->out, t0, t1);
}

static void up_chunk(void *ctx, int y, int tid) {
    (void)tid;
    head_job *j = ctx;
    j->e->k->upsample2x(j->in, j->h, j->w, j->c, j->out, y, y + 1);
}

/* final x2 from channels-last [h][w][C] to logits [C][2h][2w] */
static void up_final_chunk(void *ctx, int oy, int tid) {
    (void)tid;
    head_job *j = ctx;
    int h = j->h, w = j->w, C = j->C, W2 = 2 * w;
    int y0, y1, x0, x1;
    float ly, lx;
    em_up2_coord(oy, h, &y0, &y1, &ly);
    for (int ox = 0; ox < W2; ox++) {
        em_up2_coord(ox, w, &x0, &x1, &lx);
        const float *a = j->in + ((size_t)y0 * w + x0) * C, *b = j->in + ((size_t)y0 * w + x1) * C;
        const float *cc = j->in + ((size_t)y1 * w + x0) * C, *d = j->in + ((size_t)y1 * w + x1) * C;
        for (int ch = 0; ch < C; ch++) {
            float top = a[ch] * (1.0f - lx) + b[ch] * lx;
            float bot = cc[ch] * (1.0f - lx) + d[ch] * lx;
            j->out[((size_t)ch * 2 * h + oy) * W2 + ox] = top * (1.0f - ly) + bot * ly;
        }
    }
}

static void trace_hwc(fast_engine *e, int task, const char *stage, const float *x, int h, int w, int c) {
    if (!e->trace) return;
    float *t = e->tracebuf;
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int ch = 0; ch < c; ch++) t[((size_t)ch * h + y) * w + xx] = x[((size_t)y * w + xx) * c + ch];
    int shape[3] = {c, h, w};
    e->trace(e->trace_user, task, stage, t, 3, shape);
}

static int fast_head(void *p, int task, em_task_output *out, em_err *err) {
    (void)err;
    fast_engine *e = p;
    const em_config *c = &e->m->cfg;
    const em_head_weights *hw = &e->m->w.head[task];
    int D = c->dim, hc = c->head_ch, C = c->task_channels[task];
    int h = c->grid_h, w = c->grid_w;
    /* drop token 0; LN; the token order is already [y][x][D] channels-last */
    ln_job lj = {e, out->features + D, hw->norm_w, hw->norm_b, e->map_a, h * w, D};
    em_pool_run(e->pool, ln_chunk, &lj, (h * w + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK);
    trace_hwc(e, task, "head.ln", e->map_a, h, w, D);
    float *a = e->map_a, *b = e->map_b;
    int cin = D;
    char name[32];
    for (int i = 0; i < 4; i++) {
        head_job j;
        memset(&j, 0, sizeof j);
        j.e = e; j.in = a; j.out = b; j.h = h; j.w = w; j.cin = cin; j.cout = hc;
        j.bias = e->head[task].cbias[i];
        j.U = e->head[task].conv[i];
        j.nt = em_wino_tiles(h, w);
        j.mb = e->k->mr * GEMM_MB_TILES;
        j.n_mb = (j.nt + j.mb - 1) / j.mb;
        j.np = (hc + e->nr - 1) / e->nr;
        j.n_pg = (j.np + GEMM_PG - 1) / GEMM_PG;
        int ntc = (j.nt + TILES_PER_CHUNK - 1) / TILES_PER_CHUNK;
        PROF_START();
        em_pool_run(e->pool, wino_in_chunk, &j, ntc);
        PROF_END(P_HEAD_IN);
        PROF_START();
        em_pool_run(e->pool, wino_gemm_chunk, &j, 36 * j.n_mb * j.n_pg);
        PROF_END(P_HEAD_GEMM);
        PROF_START();
        em_pool_run(e->pool, wino_out_chunk, &j, ntc);
        PROF_END(P_HEAD_OUT);
        snprintf(name, sizeof name, "head.conv%d", i);
        trace_hwc(e, task, name, b, h, w, hc);
        cin = hc;
        if (i < 3) {
            head_job u;
            memset(&u, 0, sizeof u);
            u.e = e; u.in = b; u.out = a; u.h = h; u.w = w; u.c = hc;
            PROF_START();
            em_pool_run(e->pool, up_chunk, &u, 2 * h);
            PROF_END(P_HEAD_UP);
            h *= 2; w *= 2;
            snprintf(name, sizeof name, "head.up%d", i);
            trace_hwc(e, task, name, a, h, w, hc);
        } else {
            float *t = a; a = b; b = t;
        }
    }
    em_gemm g = mkgemm(h * w, C, hc, a, hc, &e->head[task].cls, e->clsmap, C, EM_EPI_STORE);
    PROF_START();
    run_gemm(e, &g);
    trace_hwc(e, task, "head.cls", e->clsmap, h, w, C);
    head_job u;
    memset(&u, 0, sizeof u);
    u.e = e; u.in = e->clsmap; u.out = out->logits; u.h = h; u.w = w; u.C = C;
    em_pool_run(e->pool, up_final_chunk, &u, 2 * h);
    PROF_END(P_HEAD_CLS);
    if (e->trace) {
        int shape[3] = {C, 2 * h, 2 * w};
        e->trace(e->trace_user, task, "logits", out->logits, 3, shape);
    }
    return EM_OK;
}

const em_engine_ops em_engine_fast = {"fast", fast_create, fast_destroy, fast_backbone, fast_head};
