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
 * - Head: the fast head of src/heads/head_fast.c (em_fast_head: Winograd
 *   convs, BatchNorm folded), created with the engine and run on its pool.
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
#include "engine/fast_plan.h"

#define MOE2_PG 1       /* column panels per expert fc2 chunk (12 chunks for D = 192) */
#define MOE_PG 4        /* column panels per expert fc1 chunk (longer prefetch runs) */

/* Optional per-phase profile of the backbone (-DEM_FAST_PROFILE, fast_plan.h;
 * printed to stderr at destroy, the head's phases by the head). */
#ifdef EM_FAST_PROFILE
enum { P_LN, P_QKV, P_PACK, P_ATT, P_PROJ, P_FC1, P_FC2, P_GATE, P_EFC1, P_EFC2, P_EMBED, P_N };
static const char *prof_name[P_N] = {"layernorm", "qkv", "attn pack", "attention", "proj", "fc1", "fc2", "gate+route",
                                     "expert fc1", "expert fc2", "embed"};
static double prof_ms[P_N];
static double prof_t0;
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
    em_packed patch, *qkv, *proj, *fc1, *fc2, *gate, *exp1, *exp2; /* gate: [moe][task], exp: [moe][E] */
    em_fast_head *head;  /* src/heads/head_fast.c, on this pool; NULL with skip_head */

    /* activations (one block) */
    float *ablock;
    float *x, *h, *qkv_o, *kp, *vp, *att, *hid, *buf, *prefix, *patches, *scores, *gsc;
    int32_t *tok, *cnt, *off;
    moe_chunk *mchunks;
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
    int p0 = pg * EM_GEMM_PG, p1 = p0 + EM_GEMM_PG < j->np ? p0 + EM_GEMM_PG : j->np;
    j->k->gemm(&j->g, m0, m1, p0, p1);
}

void em_fast_gemm_run(em_pool *pool, const em_fast_kern *k, const em_gemm *g) {
    if (g->M <= 0) return;
    gemm_job j;
    j.k = k;
    j.g = *g;
    j.mb = k->mr * EM_GEMM_MB_TILES;
    j.n_mb = (g->M + j.mb - 1) / j.mb;
    j.np = (g->N + k->nr - 1) / k->nr;
    j.n_pg = (j.np + EM_GEMM_PG - 1) / EM_GEMM_PG;
    em_pool_run(pool, gemm_chunk, &j, j.n_mb * j.n_pg);
}

static void run_gemm(fast_engine *e, const em_gemm *g) { em_fast_gemm_run(e->pool, e->k, g); }

typedef struct {
    const em_fast_kern *k;
    const float *x, *w, *b;
    float *y;
    int rows, d;
    float eps;
} ln_job;

static void ln_chunk(void *ctx, int c, int tid) {
    (void)tid;
    ln_job *j = ctx;
    int r0 = c * EM_ROWS_PER_CHUNK, r1 = r0 + EM_ROWS_PER_CHUNK < j->rows ? r0 + EM_ROWS_PER_CHUNK : j->rows;
    j->k->layernorm(j->x, j->y, j->d, j->w, j->b, j->eps, r0, r1);
}

void em_fast_layernorm_run(em_pool *pool, const em_fast_kern *k, const float *x, int rows, int d, const float *w,
                           const float *b, float eps, float *y) {
    ln_job j = {k, x, w, b, y, rows, d, eps};
    em_pool_run(pool, ln_chunk, &j, (rows + EM_ROWS_PER_CHUNK - 1) / EM_ROWS_PER_CHUNK);
}

static void run_ln(fast_engine *e, const float *x, int rows, const float *w, const float *b, float *y) {
    PROF_START();
    em_fast_layernorm_run(e->pool, e->k, x, rows, e->m->cfg.dim, w, b, e->m->cfg.ln_eps, y);
    PROF_END(P_LN);
}

/* ---- create / destroy ---- */

void em_fast_pack_linear(float **wp, int nr, em_packed *dst, const float *W, const float *b, int N, int K) {
    float *w = em_fast_carve(wp, em_fast_packed_floats(N, K, nr));
    em_fast_pack_b(W, N, K, K, nr, w);
    dst->w = w;
    if (b) {
        int np = (N + nr - 1) / nr;
        float *bb = em_fast_carve(wp, (size_t)np * nr);
        memset(bb, 0, (size_t)np * nr * sizeof(float));
        memcpy(bb, b, (size_t)N * sizeof(float));
        dst->b = bb;
    } else {
        dst->b = NULL;
    }
}

size_t em_fast_linear_floats(int N, int K, int nr) {
    int np = (N + nr - 1) / nr;
    return ((em_fast_packed_floats(N, K, nr) + 15) & ~(size_t)15) + (((size_t)np * nr + 15) & ~(size_t)15);
}

static void pack_linear(fast_engine *e, float **wp, em_packed *dst, const float *W, const float *b, int N, int K) {
    em_fast_pack_linear(wp, e->nr, dst, W, b, N, K);
}

static size_t lin_floats(const fast_engine *e, int N, int K) { return em_fast_linear_floats(N, K, e->nr); }

static void fast_destroy(void *p);

/* The weights (~100 MB) stream from memory on every image: on Linux, ask for
 * transparent huge pages (2 MB) so the walk through them is not also a walk
 * through the TLB.  Falls back to ordinary pages silently. */
#define BIG_ALIGN ((size_t)2 << 20)
float *em_fast_big_alloc(size_t floats) {
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
    /* any consistent config; the head's four x2 steps must give the image size
     * (em_fast_head_new checks that too) */
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
    int T = c->n_tasks, PP = c->img_c * c->patch * c->patch;
    e->n_moe = em_n_moe_layers(c);
    e->n_dense = L - e->n_moe;
    e->qkv = calloc((size_t)L * 2 + (size_t)e->n_dense * 2 + (size_t)e->n_moe * (T + 2 * E), sizeof(em_packed));
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
    e->wblock = em_fast_big_alloc(wf);
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

    /* ---- activations ---- */
    e->ldk = (N + 63) / 64 * 64;
    int np_d = (D + e->nr - 1) / e->nr;
    int mb = e->k->mr * EM_GEMM_MB_TILES;
    size_t n_mchunks = (size_t)((N * c->top_k) / mb + E + 1) * ((np_d > 0 ? (He + e->nr - 1) / e->nr : 1) + 1);
    size_t hid = (size_t)N * H > (size_t)N * c->top_k * He ? (size_t)N * H : (size_t)N * c->top_k * He;
    size_t af = 0, ND = (size_t)N * D;
#define A(n) (af += (((size_t)(n)) + 15) & ~(size_t)15)
    A(ND); A(ND); A(3 * ND); A(c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    A(c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk)); A(ND); A(hid); A(ND); A(ND);
    A((size_t)c->grid_h * c->grid_w * PP); A((size_t)N * E); A((size_t)E * N); A((size_t)E * N); A(E); A(E + 1);
    A(n_mchunks * sizeof(moe_chunk) / sizeof(float) + 1);
#undef A
    e->ablock = em_fast_big_alloc(af);
    if (!e->ablock) goto oom;
    memset(e->ablock, 0, af * sizeof(float));
    float *ap = e->ablock;
    e->x = em_fast_carve(&ap, ND);
    e->h = em_fast_carve(&ap, ND);
    e->qkv_o = em_fast_carve(&ap, 3 * ND);
    e->kp = em_fast_carve(&ap, c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    e->vp = em_fast_carve(&ap, c->n_heads * em_attn_pack_floats(c->head_dim, e->ldk));
    e->att = em_fast_carve(&ap, ND);
    e->hid = em_fast_carve(&ap, hid);
    e->buf = em_fast_carve(&ap, ND);
    e->prefix = em_fast_carve(&ap, ND);
    e->patches = em_fast_carve(&ap, (size_t)c->grid_h * c->grid_w * PP);
    e->scores = em_fast_carve(&ap, (size_t)N * E);
    e->tok = (int32_t *)em_fast_carve(&ap, (size_t)E * N);
    e->gsc = em_fast_carve(&ap, (size_t)E * N);
    e->cnt = (int32_t *)em_fast_carve(&ap, E);
    e->off = (int32_t *)em_fast_carve(&ap, E + 1);
    e->mchunks = (moe_chunk *)em_fast_carve(&ap, n_mchunks * sizeof(moe_chunk) / sizeof(float) + 1);

    /* ---- head (its own weights and scratch), on this pool ---- */
    if (!o->skip_head && !(e->head = em_fast_head_new(m, e->pool, e->k, o->trace, o->trace_user, err))) {
        fast_destroy(e);
        return NULL;
    }
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
    em_fast_head_free(e->head);
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
    em_gemm g = em_fast_mkgemm(np, D, PP, e->patches, PP, &e->patch, e->x + D, D, EM_EPI_ADD);
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
    em_gemm g = em_fast_mkgemm(N, 3 * D, D, e->h, D, &e->qkv[L], e->qkv_o, 3 * D, EM_EPI_STORE);
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
    g = em_fast_mkgemm(N, D, D, e->att, D, &e->proj[L], e->x, D, EM_EPI_ADD);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_PROJ);
}

static void dense_mlp(fast_engine *e, int di) {
    const em_config *c = &e->m->cfg;
    int N = c->n_tok, D = c->dim, H = c->mlp_hidden;
    em_gemm g = em_fast_mkgemm(N, H, D, e->h, D, &e->fc1[di], e->hid, H, EM_EPI_GELU);
    PROF_START();
    run_gemm(e, &g);
    PROF_END(P_FC1);
    g = em_fast_mkgemm(N, D, H, e->hid, H, &e->fc2[di], e->x, D, EM_EPI_ADD);
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
    em_gemm g = em_fast_mkgemm(e->cnt[mc->e], He, D, e->h, D, &e->exp1[(size_t)j->mi * c->n_experts + mc->e],
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
        em_gemm g = em_fast_mkgemm(e->cnt[x], D, He, e->hid + (size_t)e->off[x] * He, He,
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
    int t0 = ci * EM_ROWS_PER_CHUNK, t1 = t0 + EM_ROWS_PER_CHUNK < N ? t0 + EM_ROWS_PER_CHUNK : N;
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
    gj.g = em_fast_mkgemm(N, E, D, e->h, D, &e->gate[(size_t)mi * c->n_tasks + task], e->scores, E, EM_EPI_STORE);
    gj.route = out->routing + (size_t)mi * N * K;
    gj.gprob = out->gate_prob + (size_t)mi * N * K;
    int32_t *count = out->expert_tokens + (size_t)mi * E;
    PROF_START();
    em_pool_run(e->pool, gate_chunk, &gj, (N + EM_ROWS_PER_CHUNK - 1) / EM_ROWS_PER_CHUNK);
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
    int mb = e->k->mr * EM_GEMM_MB_TILES, np1 = (He + e->nr - 1) / e->nr, nc = 0;
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

/* ---- head: src/heads/head_fast.c ---- */

static int fast_head(void *p, int task, em_task_output *out, em_err *err) {
    fast_engine *e = p;
    if (!e->head) return em_error(err, EM_EARG, "fast engine: created without a head (skip_head)");
    return em_fast_head_run(e->head, task, out->features, out->logits, err);
}

const em_engine_ops em_engine_fast = {"fast", fast_create, fast_destroy, fast_backbone, fast_head};
