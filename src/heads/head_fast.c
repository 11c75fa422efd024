/* The fast decoder head (docs/fast.md#design, "Head"): the head of head.c
 * on the fast engine's kernels and thread pool.  Channels-last maps (the
 * tokens already are [y][x][D]); the four 3x3 convs as Winograd F(4x4,3x3)
 * with BatchNorm folded into the weights and bias here at creation (in
 * double), ReLU fused in the output transform; bilinear x2 on channel
 * vectors; the 1x1 class conv as a GEMM, then the final x2 straight into the
 * [C][H][W] logits.
 *
 * Used by the fast engine (src/engine/fast.c, on its pool) and by the fast
 * fixed-point twin (src/engine/fixed_fast.c, on its own pool).  It owns its
 * packed weights and its scratch, both planned at creation; a run allocates
 * nothing.  Work is cut into chunks that do not depend on the thread count,
 * so any pool gives the same bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "util.h"
#include "heads/heads.h"
#include "engine/ops.h"
#include "engine/fast_plan.h"

#ifdef EM_FAST_PROFILE
enum { P_HEAD_LN, P_HEAD_IN, P_HEAD_GEMM, P_HEAD_OUT, P_HEAD_UP, P_HEAD_CLS, P_N };
static const char *prof_name[P_N] = {"head ln", "wino in", "wino gemm", "wino out", "upsample", "cls+final"};
static double prof_ms[P_N];
static double prof_t0;
#endif

struct em_fast_head {
    const em_model *m;
    const em_fast_kern *k;
    em_pool *pool;
    em_trace_fn trace;
    void *trace_user;
    float *wblock; /* packed weights */
    struct {
        em_packed conv[4][36]; /* Winograd U per point, BN folded */
        float *cbias[4];       /* folded conv bias [head_ch] */
        em_packed cls;
    } t[EM_MAX_TASKS];
    float *ablock; /* scratch */
    float *map_a, *map_b, *V, *Mw, *clsmap, *tracebuf;
};

void em_fast_head_free(em_fast_head *h) {
    if (!h) return;
#ifdef EM_FAST_PROFILE
    for (int i = 0; i < P_N; i++) fprintf(stderr, "  %-12s %9.2f ms\n", prof_name[i], prof_ms[i]);
#endif
    free(h->wblock);
    free(h->ablock);
    free(h);
}

em_fast_head *em_fast_head_new(const em_model *m, em_pool *pool, const em_fast_kern *k, em_trace_fn trace,
                               void *trace_user, em_err *err) {
    const em_config *c = &m->cfg;
    if (c->grid_h * 16 != c->img_h || c->grid_w * 16 != c->img_w) { /* four x2 steps */
        em_error(err, EM_EARG, "fast head: unsupported config (needs image = 16 x grid)");
        return NULL;
    }
    em_fast_head *h = calloc(1, sizeof *h);
    if (!h) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    h->m = m;
    h->k = k;
    h->pool = pool;
    h->trace = trace;
    h->trace_user = trace_user;
    int D = c->dim, hc = c->head_ch, T = c->n_tasks, nr = k->nr;

    /* ---- weights: BN folded (double), Winograd transform, packed ---- */
    size_t wf = 0;
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < 4; i++) wf += 36 * em_fast_linear_floats(hc, i ? hc : D, nr) + hc + 16;
        wf += em_fast_linear_floats(c->task_channels[t], hc, nr);
    }
    h->wblock = em_fast_big_alloc(wf);
    float *u = malloc((size_t)36 * hc * (hc > D ? hc : D) * sizeof(float));
    double *s = malloc((size_t)hc * sizeof(double));
    if (!h->wblock || !u || !s) { free(u); free(s); goto oom; }
    float *wp = h->wblock;
    for (int t = 0; t < T; t++) {
        const em_head_weights *hw = &m->w.head[t];
        for (int i = 0; i < 4; i++) {
            int cin = i ? hc : D;
            float *cb = em_fast_carve(&wp, (size_t)hc + 16);
            for (int co = 0; co < hc; co++) {
                s[co] = hw->bn_w[i][co] / sqrt((double)hw->bn_var[i][co] + c->bn_eps);
                cb[co] = (float)(((double)hw->conv_b[i][co] - hw->bn_mean[i][co]) * s[co] + hw->bn_b[i][co]);
            }
            h->t[t].cbias[i] = cb;
            em_wino_weights(hw->conv_w[i], s, hc, cin, u);
            for (int xi = 0; xi < 36; xi++)
                em_fast_pack_linear(&wp, nr, &h->t[t].conv[i][xi], u + (size_t)xi * hc * cin, NULL, hc, cin);
        }
        em_fast_pack_linear(&wp, nr, &h->t[t].cls, hw->cls_w, hw->cls_b, c->task_channels[t], hc);
    }
    free(u);
    free(s);

    /* ---- scratch: two maps, the Winograd planes in and out, the class map ---- */
    size_t big = (size_t)hc * (c->img_h / 2) * (c->img_w / 2);
    if ((size_t)D * c->grid_h * c->grid_w > big) big = (size_t)D * c->grid_h * c->grid_w;
    size_t wt = 36 * em_wino_plane(em_wino_tiles(c->img_h / 2, c->img_w / 2), hc > D ? hc : D);
    int cmax = 1;
    for (int t = 0; t < T; t++) if (c->task_channels[t] > cmax) cmax = c->task_channels[t];
    size_t cls = (size_t)(c->img_h / 2) * (c->img_w / 2) * cmax, af = 0;
#define A(n) (af += (((size_t)(n)) + 15) & ~(size_t)15)
    A(big); A(big); A(wt); A(wt); A(cls);
    if (trace) A(big);
#undef A
    h->ablock = em_fast_big_alloc(af);
    if (!h->ablock) goto oom;
    memset(h->ablock, 0, af * sizeof(float));
    float *ap = h->ablock;
    h->map_a = em_fast_carve(&ap, big);
    h->map_b = em_fast_carve(&ap, big);
    h->V = em_fast_carve(&ap, wt);
    h->Mw = em_fast_carve(&ap, wt);
    h->clsmap = em_fast_carve(&ap, cls);
    h->tracebuf = trace ? em_fast_carve(&ap, big) : NULL;
    return h;
oom:
    em_fast_head_free(h);
    em_error(err, EM_ENOMEM, "fast head: out of memory");
    return NULL;
}

/* ---- run ---- */

typedef struct {
    em_fast_head *hd;
    const float *in;
    float *out;
    const float *bias;
    int h, w, c, nt;
    const em_packed *U;
    int cin, cout, n_mb, n_pg, np, mb;
    int C; /* class channels */
} head_job;

#define TILES_PER_CHUNK 8

static void wino_in_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int t0 = ci * TILES_PER_CHUNK, t1 = t0 + TILES_PER_CHUNK < j->nt ? t0 + TILES_PER_CHUNK : j->nt;
    j->hd->k->wino_in(j->in, j->h, j->w, j->cin, j->hd->V, em_wino_plane(j->nt, j->cin), t0, t1);
}

/* chunk = (Winograd point, row block, panel group) */
static void wino_gemm_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int per = j->n_mb * j->n_pg, xi = ci / per, r = ci % per, mb = r / j->n_pg, pg = r % j->n_pg;
    em_gemm g = em_fast_mkgemm(j->nt, j->cout, j->cin, j->hd->V + xi * em_wino_plane(j->nt, j->cin), j->cin,
                               &j->U[xi], j->hd->Mw + xi * em_wino_plane(j->nt, j->cout), j->cout, EM_EPI_STORE);
    int m0 = mb * j->mb, m1 = m0 + j->mb < j->nt ? m0 + j->mb : j->nt;
    int p0 = pg * EM_GEMM_PG, p1 = p0 + EM_GEMM_PG < j->np ? p0 + EM_GEMM_PG : j->np;
    j->hd->k->gemm(&g, m0, m1, p0, p1);
}

static void wino_out_chunk(void *ctx, int ci, int tid) {
    (void)tid;
    head_job *j = ctx;
    int t0 = ci * TILES_PER_CHUNK, t1 = t0 + TILES_PER_CHUNK < j->nt ? t0 + TILES_PER_CHUNK : j->nt;
    j->hd->k->wino_out(j->hd->Mw, em_wino_plane(j->nt, j->cout), j->h, j->w, j->cout, j->bias, 1, j->out, t0, t1);
}

static void up_chunk(void *ctx, int y, int tid) {
    (void)tid;
    head_job *j = ctx;
    j->hd->k->upsample2x(j->in, j->h, j->w, j->c, j->out, y, y + 1);
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

/* the trace of a channels-last map, as [c][h][w] like the reference head's */
static void trace_hwc(em_fast_head *hd, int task, const char *stage, const float *x, int h, int w, int c) {
    if (!hd->trace) return;
    float *t = hd->tracebuf;
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int ch = 0; ch < c; ch++) t[((size_t)ch * h + y) * w + xx] = x[((size_t)y * w + xx) * c + ch];
    int shape[3] = {c, h, w};
    hd->trace(hd->trace_user, task, stage, t, 3, shape);
}

int em_fast_head_run(em_fast_head *hd, int task, const float *features, float *logits, em_err *err) {
    const em_config *c = &hd->m->cfg;
    if (task < 0 || task >= c->n_tasks) return em_error(err, EM_EARG, "fast head: no task %d", task);
    const em_head_weights *hw = &hd->m->w.head[task];
    const em_fast_kern *k = hd->k;
    int D = c->dim, hc = c->head_ch, C = c->task_channels[task];
    int h = c->grid_h, w = c->grid_w;
    /* drop token 0; LN; the token order is already [y][x][D] channels-last */
    PROF_START();
    em_fast_layernorm_run(hd->pool, k, features + D, h * w, D, hw->norm_w, hw->norm_b, c->ln_eps, hd->map_a);
    PROF_END(P_HEAD_LN);
    trace_hwc(hd, task, "head.ln", hd->map_a, h, w, D);
    float *a = hd->map_a, *b = hd->map_b;
    int cin = D;
    char name[32];
    for (int i = 0; i < 4; i++) {
        head_job j;
        memset(&j, 0, sizeof j);
        j.hd = hd; j.in = a; j.out = b; j.h = h; j.w = w; j.cin = cin; j.cout = hc;
        j.bias = hd->t[task].cbias[i];
        j.U = hd->t[task].conv[i];
        j.nt = em_wino_tiles(h, w);
        j.mb = k->mr * EM_GEMM_MB_TILES;
        j.n_mb = (j.nt + j.mb - 1) / j.mb;
        j.np = (hc + k->nr - 1) / k->nr;
        j.n_pg = (j.np + EM_GEMM_PG - 1) / EM_GEMM_PG;
        int ntc = (j.nt + TILES_PER_CHUNK - 1) / TILES_PER_CHUNK;
        PROF_START();
        em_pool_run(hd->pool, wino_in_chunk, &j, ntc);
        PROF_END(P_HEAD_IN);
        PROF_START();
        em_pool_run(hd->pool, wino_gemm_chunk, &j, 36 * j.n_mb * j.n_pg);
        PROF_END(P_HEAD_GEMM);
        PROF_START();
        em_pool_run(hd->pool, wino_out_chunk, &j, ntc);
        PROF_END(P_HEAD_OUT);
        snprintf(name, sizeof name, "head.conv%d", i);
        trace_hwc(hd, task, name, b, h, w, hc);
        cin = hc;
        if (i < 3) {
            head_job u;
            memset(&u, 0, sizeof u);
            u.hd = hd; u.in = b; u.out = a; u.h = h; u.w = w; u.c = hc;
            PROF_START();
            em_pool_run(hd->pool, up_chunk, &u, 2 * h);
            PROF_END(P_HEAD_UP);
            h *= 2; w *= 2;
            snprintf(name, sizeof name, "head.up%d", i);
            trace_hwc(hd, task, name, a, h, w, hc);
        } else {
            float *t = a; a = b; b = t;
        }
    }
    em_gemm g = em_fast_mkgemm(h * w, C, hc, a, hc, &hd->t[task].cls, hd->clsmap, C, EM_EPI_STORE);
    PROF_START();
    em_fast_gemm_run(hd->pool, k, &g);
    trace_hwc(hd, task, "head.cls", hd->clsmap, h, w, C);
    head_job u;
    memset(&u, 0, sizeof u);
    u.hd = hd; u.in = hd->clsmap; u.out = logits; u.h = h; u.w = w; u.C = C;
    em_pool_run(hd->pool, up_final_chunk, &u, 2 * h);
    PROF_END(P_HEAD_CLS);
    if (hd->trace) {
        int shape[3] = {C, 2 * h, 2 * w};
        hd->trace(hd->trace_user, task, "logits", logits, 3, shape);
    }
    return EM_OK;
}
