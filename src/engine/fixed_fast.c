/* The fast fixed-point twin of the accelerator (docs/fixed.md#the-fast-twin---engine-fixed): the same
 * numbers as src/hw, bit for bit (features, routing, gate values and every
 * wrap counter), computed with integer SIMD kernels (fixed_fast_kern*.c) on
 * the thread pool of the fast engine; the float head is the fast head
 * (src/heads/head_fast.c) on the same pool.  src/hw stays the readable golden
 * model (`--engine hw`); this is what `--engine fixed` runs, and tests hold
 * it against src/hw (tests/test_fixed_fast.c).
 *
 * What it keeps from the hardware is exactly what decides bits: the formats
 * and the place of every floor and wrap, the online-softmax order of the keys
 * (query q of a group sees keys from q mod ATTN_P on, rotated), the gate's
 * token order for the expert queues and the experts' ascending order (the
 * expert fc2 accumulation's wrap counts depend on it).  What it drops is the
 * hardware's schedule: tiles, DRAM buffers, query groups.  Sums modulo 2^32
 * are order-free, so they are split freely across SIMD lanes and threads;
 * every chunk writes its own outputs and its own counters (summed at the
 * end), so any thread count gives the same bits.  The elementary functions
 * (hw_exp, hw_recip, hw_sqrt, hw_gelu, hw_div_pos) are src/hw's, called as
 * they are: pure functions, tested on their own (tests/test_hw_math.c). */
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"
#include "engine/fixed.h"
#include "engine/fixed_fast.h"
#include "engine/fixed_fast_kern.h"
#include "engine/fast_kern.h"
#include "engine/fast_threads.h"
#include "hw/hw_units.h"
#include "hw/hw_math.h"
#include "hw/hw_quant.h"

#define MAXT 64                                    /* threads with own counters */
#define SAFE_MAX (2147483647 - 65536)              /* x < this: xh fits 16 bits */
#define KT_LD ((HW_N + 7) / 8 * 8)                 /* keys padded to the kernels' 8 */

typedef struct {
    const em_model *m;
    const em_fxk *k;
    em_pool *pool;
    int nthr;
    em_trace_fn trace;
    void *trace_user;
    hw_weights *w;
    /* max |w| per output row of every linear matrix (the wrap bound) */
    int32_t (*qkv_wmax)[3 * HW_D], (*proj_wmax)[HW_D];
    int32_t (*fc1_wmax)[HW_MLP], (*fc2_wmax)[HW_D];
    int32_t (*exp1_wmax)[HW_E][HW_EH], (*exp2_wmax)[HW_E][HW_D];
    /* activations */
    fm_t (*x)[HW_D], (*h)[HW_D], (*qkv)[3 * HW_D], (*attn)[HW_D], (*y)[HW_D], (*hid)[HW_MLP], (*moe)[HW_D];
    int16_t *xh, *xl;                              /* [nthr][LIN_RB][HW_PATCH_K] split rows */
    int64_t *l1;                                   /* [nthr][LIN_RB] sum |x| per row */
    uint8_t *safe;                                 /* [nthr][LIN_RB] */
    uint32_t *sums;                                /* [nthr][LIN_RB][HW_MAX_OUT] dot products */
    pix_t (*img)[HW_IMG_H][HW_IMG_W];
    hw_route (*route)[HW_N][HW_TOPK];              /* [NMOE] */
    int32_t queue_tok[HW_E][HW_N], queue_len[HW_E];
    fm_t queue_g[HW_E][HW_N];
    int32_t kt[HW_HEADS][HW_HEAD_DIM][KT_LD];      /* keys transposed, per head */
    int64_t kmax[HW_HEADS], vmax[HW_HEADS];
    float *deq;
    hw_stats *tst;                                 /* [nthr] per-thread counters */
    em_fast_head *head;                            /* the float head (heads.h), on pool */
    fm_t *scb;                                     /* [2N][D] expert outputs times g */
    struct multi_job *mj;                          /* [2]: experts fc1, fc2 */
    hw_stats stats[EM_MAX_TASKS];
    int ran[EM_MAX_TASKS];
    uint64_t quant_wraps;
    /* the format set (em_formats, checked), as the datapath uses it */
    em_formats fmt;
    int fm_f, fm_w, fm_sh;                         /* fm: F, W, 32 - W (sign extension) */
    int64_t fm_min, fm_max;
    int wt_f, bqk_f, b5_f, pix_w, pix_f, emb_f;    /* emb_f: F_pix + F_pw - F_fm */
    int embed_exact;                               /* embed sums provably below 2^31 */
    fm_t ln_c, ln_eps;                             /* fm(1/192), fm(1e-6) */
} fxf;

/* ---- stores into fm and their counters: the same as src/hw's ---- */
static inline fm_t wrap_fm(const fxf *e, int64_t v)
{
    return (fm_t)((int32_t)((uint32_t)(uint64_t)v << e->fm_sh) >> e->fm_sh);
}
static inline int wraps_fm(const fxf *e, int64_t v) { return v < e->fm_min || v > e->fm_max; }
static inline fm_t st_store(const fxf *e, int64_t v, hw_stats *st, int op)
{
    st->stores[op]++;
    st->wraps[op] += (uint64_t)wraps_fm(e, v);
    return wrap_fm(e, v);
}

/* ---- the linear unit ---- */
typedef struct {
    fxf *e;
    const fm_t *in; const wt_t *w; const int32_t *wmax; const int16_t *bias;
    int bias_f, n_rows, in_dim, out_dim, mode, op, n_rb, n_ob;
    const int32_t *list; const fm_t *scale; fm_t *out;
} lin_job;

#define LIN_RB 16    /* rows per chunk */
#define LIN_OB 64    /* outputs per chunk */

/* Rows [r0, r1) split into this thread's buffers (row r at r - r0), with
 * sum |x| and whether xh fits 16 bits. */
static void prep_rows(const lin_job *j, int r0, int r1, int16_t *xh, int16_t *xl, int64_t *l1s, uint8_t *safes)
{
    for (int r = r0; r < r1; r++) {
        const fm_t *x = j->in + (size_t)((j->mode & LIN_GATHER_IN) ? j->list[r] : r) * j->in_dim;
        int16_t *h = xh + (size_t)(r - r0) * HW_PATCH_K, *l = xl + (size_t)(r - r0) * HW_PATCH_K;
        int64_t l1 = 0;
        int safe = 1;
        for (int i = 0; i < j->in_dim; i++) {
            const int32_t v = x[i];
            const int16_t lo = (int16_t)(uint16_t)((uint32_t)v & 0xffffu);
            safe &= v < SAFE_MAX;
            l[i] = lo;
            h[i] = (int16_t)(((int64_t)v - lo) >> 16);
            l1 += v < 0 ? -(int64_t)v : v;
        }
        l1s[r - r0] = l1;
        safes[r - r0] = (uint8_t)safe;
    }
}

/* internal mode: out[r] = fm(y * scale[r]) (expert fc2 before the
 * accumulation, which runs in the experts' order afterwards) */
#define LIN_SCALE_OUT 8

/* Rows block rb x outputs block ob of a linear job. */
static void lin_block(const lin_job *j, int rb, int ob, int tid)
{
    fxf *e = j->e;
    hw_stats *st = &e->tst[tid];
    const int r0 = rb * LIN_RB, r1 = r0 + LIN_RB < j->n_rows ? r0 + LIN_RB : j->n_rows;
    const int o0 = ob * LIN_OB, o1 = o0 + LIN_OB < j->out_dim ? o0 + LIN_OB : j->out_dim;
    const int in_dim = j->in_dim, op = j->op, wf = e->wt_f, ff = e->fm_f;
    /* the chunk splits its own rows (a few redundant splits cost less than
     * one more pass over the pool) */
    int16_t *xh = e->xh + (size_t)tid * LIN_RB * HW_PATCH_K, *xl = e->xl + (size_t)tid * LIN_RB * HW_PATCH_K;
    int64_t *l1s = e->l1 + (size_t)tid * LIN_RB;
    uint8_t *safe = e->safe + (size_t)tid * LIN_RB;
    uint32_t *sums = e->sums + (size_t)tid * LIN_RB * HW_MAX_OUT;   /* row r at r - r0 */
    prep_rows(j, r0, r1, xh, xl, l1s, safe);
    /* safe rows through the kernel, in runs */
    for (int r = r0; r < r1;) {
        if (!safe[r - r0]) {   /* a value near the top of the fm range: exact scalar sums */
            const fm_t *x = j->in + (size_t)((j->mode & LIN_GATHER_IN) ? j->list[r] : r) * in_dim;
            for (int o = o0; o < o1; o++) {
                const wt_t *wr = j->w + (size_t)o * in_dim;
                int64_t acc = 0;
                for (int i = 0; i < in_dim; i++) acc += ((int64_t)x[i] * wr[i]) >> wf;
                sums[(size_t)(r - r0) * HW_MAX_OUT + o] = (uint32_t)(uint64_t)acc;
            }
            r++;
            continue;
        }
        int re = r;
        while (re < r1 && safe[re - r0]) re++;
        e->k->dot(xh, xl, HW_PATCH_K, j->w, in_dim, in_dim, wf, sums, HW_MAX_OUT,
                  r - r0, re - r0, o0, o1);
        r = re;
    }
    for (int r = r0; r < r1; r++) {
        const fm_t *x = j->in + (size_t)((j->mode & LIN_GATHER_IN) ? j->list[r] : r) * in_dim;
        const int64_t l1 = l1s[r - r0];
        for (int o = o0; o < o1; o++) {
            const int64_t b = fx_align(j->bias[o], j->bias_f, ff);
            fm_t yv = wrap_fm(e, (int32_t)(sums[(size_t)(r - r0) * HW_MAX_OUT + o] + (uint32_t)b));
            st->stores[op]++;
            if (((l1 * j->wmax[o]) >> wf) + in_dim + (b < 0 ? -b : b) > e->fm_max) {
                /* the bound does not rule a wrap out: count exactly */
                const wt_t *wr = j->w + (size_t)o * in_dim;
                int64_t acc = b;
                for (int i = 0; i < in_dim; i++) {
                    int64_t p = ((int64_t)x[i] * wr[i]) >> wf;
                    st->wraps[op] += (uint64_t)wraps_fm(e, p);
                    acc += p;
                }
                st->wraps[op] += (uint64_t)wraps_fm(e, acc);
            }
            if (j->mode & LIN_GELU) {
                yv = hw_gelu_f(yv, ff);
                st->stores[HW_OP_GELU]++;
            }
            if (j->mode & LIN_SCALE_OUT) {
                j->out[(size_t)r * j->out_dim + o] = st_store(e, ((int64_t)yv * j->scale[r]) >> ff, st, op);
            } else if (j->mode & LIN_SCALE_ACC) {
                fm_t *dst = j->out + (size_t)j->list[r] * j->out_dim + o;
                fm_t sc = st_store(e, ((int64_t)yv * j->scale[r]) >> ff, st, op);
                *dst = st_store(e, (int64_t)*dst + sc, st, op);
            } else {
                j->out[(size_t)r * j->out_dim + o] = yv;
            }
        }
    }
}

static void lin_chunk(void *ctx, int chunk, int tid)
{
    const lin_job *j = ctx;
    lin_block(j, chunk / j->n_ob, chunk % j->n_ob, tid);
}

/* Several linear jobs (the experts of a layer) in one pass over the pool.
 * The experts' rows (2N in all) sit one after another in the hid buffer. */
typedef char fxf_check_hid[HW_TOPK * HW_N * HW_EH <= HW_N * HW_MLP ? 1 : -1];
#define MULTI_MAXCH 512
typedef struct multi_job {
    lin_job j[HW_E];
    int n;
    uint8_t cx[MULTI_MAXCH], crb[MULTI_MAXCH], cob[MULTI_MAXCH];
} multi_job;

static void multi_chunk(void *ctx, int c, int tid)
{
    const multi_job *m = ctx;
    lin_block(&m->j[m->cx[c]], m->crb[c], m->cob[c], tid);
}

static void multi_add(multi_job *m, int x, const lin_job *j)
{
    m->j[x] = *j;
    for (int rb = 0; rb < j->n_rb; rb++)
        for (int ob = 0; ob < j->n_ob; ob++) {
            m->cx[m->n] = (uint8_t)x; m->crb[m->n] = (uint8_t)rb; m->cob[m->n] = (uint8_t)ob;
            m->n++;
        }
}

static void linear(fxf *e, const fm_t *in, const wt_t *w, const int32_t *wmax, const int16_t *bias, int bias_f,
                   fm_t *out, int n_rows, int in_dim, int out_dim, int mode, const int32_t *list, const fm_t *scale,
                   int op)
{
    lin_job j = {e, in, w, wmax, bias, bias_f, n_rows, in_dim, out_dim, mode, op,
                 (n_rows + LIN_RB - 1) / LIN_RB, (out_dim + LIN_OB - 1) / LIN_OB, list, scale, out};
    if (n_rows == 0) return;
    em_pool_run(e->pool, lin_chunk, &j, j.n_rb * j.n_ob);
}

/* ---- patch embed: the pixel products through the same kernel (f = 2) ---- */
#define EMB_PB 8     /* patches per chunk (<= LIN_RB) */

static void embed_chunk(void *ctx, int chunk, int tid)
{
    fxf *e = ctx;
    hw_stats *st = &e->tst[tid];
    const int p0 = chunk * EMB_PB, p1 = p0 + EMB_PB;   /* 128 patches, 16 chunks */
    int16_t *xh = e->xh + (size_t)tid * LIN_RB * HW_PATCH_K, *xl = e->xl + (size_t)tid * LIN_RB * HW_PATCH_K;
    uint32_t *sums = e->sums + (size_t)tid * LIN_RB * HW_MAX_OUT;
    for (int p = p0; p < p1; p++) {   /* the patch as a row: (c, ky, kx), pixels in xl */
        const int py = p / HW_GRID_W, px = p % HW_GRID_W;
        int16_t *h = xh + (size_t)(p - p0) * HW_PATCH_K, *l = xl + (size_t)(p - p0) * HW_PATCH_K;
        for (int c = 0; c < HW_IMG_C; c++)
            for (int ky = 0; ky < HW_PATCH; ky++)
                for (int kx = 0; kx < HW_PATCH; kx++) {
                    const int i = (c * HW_PATCH + ky) * HW_PATCH + kx;
                    h[i] = 0;
                    l[i] = e->img[c][py * HW_PATCH + ky][px * HW_PATCH + kx];
                }
    }
    e->k->dot(xh, xl, HW_PATCH_K, &e->w->patch_w[0][0], HW_PATCH_K, HW_PATCH_K, e->emb_f,
              sums, HW_MAX_OUT, 0, p1 - p0, 0, HW_D);
    for (int p = p0; p < p1; p++)
        for (int d = 0; d < HW_D; d++) {
            /* embed_exact: |products' sum| <= 768 (2^W_pix - 1) 2^(W_pw - 1) / 2^emb_f
             * < 2^31 (1.6e9 at the original), so the sum modulo 2^32 read as
             * signed is exact; otherwise it is formed exactly for the counter
             * (the store's bits are the same either way) */
            int64_t acc = fx_align(e->w->patch_b[d], e->b5_f, e->fm_f);
            if (e->embed_exact) acc += (int32_t)sums[(size_t)(p - p0) * HW_MAX_OUT + d];
            else
                for (int i = 0; i < HW_PATCH_K; i++)
                    acc += ((int64_t)xl[(size_t)(p - p0) * HW_PATCH_K + i] * e->w->patch_w[d][i]) >> e->emb_f;
            fm_t tok = st_store(e, acc, st, HW_OP_EMBED);
            e->x[p + 1][d] = st_store(e, (int64_t)tok + e->w->pos[p + 1][d], st, HW_OP_EMBED);
        }
}

static void patch_embed(fxf *e)
{
    for (int d = 0; d < HW_D; d++) e->x[0][d] = st_store(e, e->w->pos[0][d], &e->tst[0], HW_OP_EMBED);
    em_pool_run(e->pool, embed_chunk, e, (HW_N - 1) / EMB_PB);
}

/* ---- LayerNorm, per token (as hw_layernorm) ---- */
typedef struct { fxf *e; const b5_t *g, *b; } ln_job;

static void ln_chunk(void *ctx, int chunk, int tid)
{
    ln_job *j = ctx;
    fxf *e = j->e;
    hw_stats *st = &e->tst[tid];
    const int t1 = chunk * 8 + 8 < HW_N ? chunk * 8 + 8 : HW_N;
    const int ff = e->fm_f, fw = e->fm_w, bf = e->b5_f;
    for (int t = chunk * 8; t < t1; t++) {
        const fm_t *x = e->x[t];
        int64_t sum = 0, sq = 0;
        for (int i = 0; i < HW_D; i++) {
            fm_t xc = (fm_t)(((int64_t)x[i] * e->ln_c) >> ff);   /* |x / 192|: never wraps */
            sum += xc;
            sq += ((int64_t)x[i] * xc) >> ff;
        }
        fm_t mean = st_store(e, sum, st, HW_OP_LN), msq = st_store(e, sq, st, HW_OP_LN);
        fm_t mm = st_store(e, ((int64_t)mean * mean) >> ff, st, HW_OP_LN);
        fm_t var = st_store(e, (int64_t)msq - mm + e->ln_eps, st, HW_OP_LN);
        fm_t r = st_store(e, hw_recip_f(hw_sqrt_f(var, ff, fw), ff, fw), st, HW_OP_LN);
        for (int i = 0; i < HW_D; i++) {
            fm_t d = st_store(e, (int64_t)x[i] - mean, st, HW_OP_LN);
            fm_t n = st_store(e, ((int64_t)d * r) >> ff, st, HW_OP_LN);
            fm_t s = st_store(e, ((int64_t)n * j->g[i]) >> bf, st, HW_OP_LN);
            e->h[t][i] = st_store(e, (int64_t)s + fx_align(j->b[i], bf, ff), st, HW_OP_LN);
        }
    }
}

static void layernorm(fxf *e, const b5_t *g, const b5_t *b)
{
    ln_job j = {e, g, b};
    em_pool_run(e->pool, ln_chunk, &j, (HW_N + 7) / 8);
}

/* ---- attention: per query, QK^T with the online softmax then A.V ---- */
static void softmax_update(const fxf *e, fm_t *S, fm_t *m, fm_t s, hw_stats *st, int op)
{
    const int ff = e->fm_f;
    if (s > *m) {
        fm_t arg = *S == 0 ? wrap_fm(e, (int64_t)*m - s) : st_store(e, (int64_t)*m - s, st, op);
        fm_t sc = st_store(e, ((int64_t)*S * hw_exp_f(arg, ff)) >> ff, st, op);
        *S = st_store(e, (int64_t)sc + ((int64_t)1 << ff), st, op);
        *m = s;
    } else {
        fm_t arg = st_store(e, (int64_t)s - *m, st, op);
        *S = st_store(e, (int64_t)*S + hw_exp_f(arg, ff), st, op);
    }
}

static void attn_chunk(void *ctx, int q, int tid)
{
    fxf *e = ctx;
    hw_stats *st = &e->tst[tid];
    const int start = q % ATTN_P;            /* the hardware's key order for this query */
    int32_t sc[KT_LD], a[HW_N];
    uint32_t out[HW_HEAD_DIM];
    const int ff = e->fm_f, fw = e->fm_w;
    for (int h = 0; h < HW_HEADS; h++) {
        const fm_t *qv = &e->qkv[q][h * HW_HEAD_DIM];
        int64_t qmax = 0;
        for (int i = 0; i < HW_HEAD_DIM; i++) {
            const int64_t v = qv[i] < 0 ? -(int64_t)qv[i] : qv[i];
            if (v > qmax) qmax = v;
        }
        /* scores, modulo 2^32 (what the stores keep) */
        e->k->qk(qv, e->kt[h][0], KT_LD, KT_LD, ff, e->fm_sh, sc);
        st->stores[HW_OP_QK] += (uint64_t)HW_N * (HW_HEAD_DIM / HW_BLK + 1);
        if (qmax * e->kmax[h] >= (int64_t)1 << (fw + ff - 4)) {
            /* products could reach 2^(W-1) after the floor (2^31 at the
             * original), or a block sum leave the fm range: count the wraps
             * exactly (the score itself, a sum of 8 values below 2^(W-4),
             * never wraps) */
            for (int k = 0; k < HW_N; k++)
                for (int b = 0; b < HW_HEAD_DIM; b += HW_BLK) {
                    int64_t blk = 0;
                    for (int i = b; i < b + HW_BLK; i++) {
                        int64_t p = ((int64_t)qv[i] * e->qkv[k][HW_D + h * HW_HEAD_DIM + i]) >> ff;
                        st->wraps[HW_OP_QK] += (uint64_t)wraps_fm(e, p);
                        blk += p;
                    }
                    st->wraps[HW_OP_QK] += (uint64_t)wraps_fm(e, blk);
                }
        }
        /* the online softmax in the hardware's key order */
        fm_t S = 0, m = (fm_t)e->fm_min;
        for (int n = 0; n < HW_N; n++) {
            const int k = start + n < HW_N ? start + n : start + n - HW_N;
            softmax_update(e, &S, &m, sc[k], st, HW_OP_SOFTMAX);
        }
        const fm_t R = st_store(e, hw_recip_f(S, ff, fw), st, HW_OP_SOFTMAX);
        int64_t asum = 0;
        for (int k = 0; k < HW_N; k++) {
            fm_t arg = st_store(e, (int64_t)sc[k] - m, st, HW_OP_AV);
            a[k] = st_store(e, ((int64_t)hw_exp_f(arg, ff) * R) >> ff, st, HW_OP_AV);
            asum += a[k] < 0 ? -(int64_t)a[k] : a[k];
        }
        e->k->av(&e->qkv[0][2 * HW_D + h * HW_HEAD_DIM], 3 * HW_D, a, HW_N, ff, out);
        st->stores[HW_OP_AV] += HW_HEAD_DIM;
        /* |sum| <= max|v| sum|a| / 2^F + N: else count exactly */
        if (((e->vmax[h] * asum) >> ff) + HW_N > e->fm_max)
            for (int d = 0; d < HW_HEAD_DIM; d++) {
                int64_t acc = 0;
                for (int k = 0; k < HW_N; k++) acc += ((int64_t)e->qkv[k][2 * HW_D + h * HW_HEAD_DIM + d] * a[k]) >> ff;
                st->wraps[HW_OP_AV] += (uint64_t)wraps_fm(e, acc);
            }
        for (int d = 0; d < HW_HEAD_DIM; d++) e->attn[q][h * HW_HEAD_DIM + d] = wrap_fm(e, (int32_t)out[d]);
    }
}

/* Keys transposed per head for the QK kernel, and max |k|, |v| per head
 * (the wrap bounds). */
static void attn_prep(fxf *e)
{
    for (int h = 0; h < HW_HEADS; h++) {
        int64_t kmax = 0, vmax = 0;
        for (int i = 0; i < HW_HEAD_DIM; i++) {
            int32_t *row = e->kt[h][i];
            for (int k = 0; k < HW_N; k++) {
                const int32_t kv = e->qkv[k][HW_D + h * HW_HEAD_DIM + i], vv = e->qkv[k][2 * HW_D + h * HW_HEAD_DIM + i];
                const int64_t ka = kv < 0 ? -(int64_t)kv : kv, va = vv < 0 ? -(int64_t)vv : vv;
                row[k] = kv;
                if (ka > kmax) kmax = ka;
                if (va > vmax) vmax = va;
            }
            for (int k = HW_N; k < KT_LD; k++) row[k] = 0;
        }
        e->kmax[h] = kmax;
        e->vmax[h] = vmax;
    }
}

/* ---- gate: per token scores, softmax, top-2; queues in token order ---- */
static void gate_chunk(void *ctx, int t, int tid)
{
    void **a = ctx;
    fxf *e = a[0];
    const wt_t (*wg)[HW_D] = a[1];
    hw_route *route = a[2];
    hw_stats *st = &e->tst[tid];
    const int ff = e->fm_f, wf = e->wt_f;
    fm_t score[HW_E], S = 0, m = (fm_t)e->fm_min;
    for (int x = 0; x < HW_E; x++) {
        int64_t acc = 0;
        for (int i = 0; i < HW_D; i++) {
            int64_t p = ((int64_t)e->h[t][i] * wg[x][i]) >> wf;
            st->wraps[HW_OP_GATE] += (uint64_t)wraps_fm(e, p);
            acc += p;
        }
        score[x] = st_store(e, acc, st, HW_OP_GATE);
        softmax_update(e, &S, &m, score[x], st, HW_OP_GATE);
    }
    int i0 = 0, i1 = -1;   /* top-2, ties to the lower index (as hw's top2) */
    for (int x = 1; x < HW_E; x++) {
        if (score[x] > score[i0]) { i1 = i0; i0 = x; }
        else if (i1 < 0 || score[x] > score[i1]) i1 = x;
    }
    const int idx[2] = {i0, i1};
    for (int k = 0; k < HW_TOPK; k++) {
        fm_t arg = st_store(e, (int64_t)score[idx[k]] - m, st, HW_OP_GATE);
        route[t * HW_TOPK + k].expert = idx[k];
        route[t * HW_TOPK + k].g = st_store(e, hw_div_pos_f(hw_exp_f(arg, ff), S, ff), st, HW_OP_GATE);
    }
}

static void experts(fxf *e, int ml, hw_stats *st);

static void moe(fxf *e, int ml, int task, hw_stats *st)
{
    void *ctx[3] = {e, e->w->gate_w[ml][task], e->route[ml]};
    em_pool_run(e->pool, gate_chunk, ctx, HW_N);
    for (int x = 0; x < HW_E; x++) e->queue_len[x] = 0;
    for (int t = 0; t < HW_N; t++)
        for (int k = 0; k < HW_TOPK; k++) {
            const hw_route r = e->route[ml][t][k];
            e->queue_tok[r.expert][e->queue_len[r.expert]] = t;
            e->queue_g[r.expert][e->queue_len[r.expert]++] = r.g;
        }
    experts(e, ml, st);
}

/* The experts with a non-empty queue, ascending (the order fixes the
 * accumulation's wrap counts), on e->h and e->queue_*, into e->moe. */
static void experts(fxf *e, int ml, hw_stats *st)
{
    static const int ob1 = (HW_EH + LIN_OB - 1) / LIN_OB, ob2 = (HW_D + LIN_OB - 1) / LIN_OB;
    multi_job *m1 = &e->mj[0], *m2 = &e->mj[1];
    int off[HW_E], rows = 0;
    m1->n = m2->n = 0;
    /* fc1 (+GELU) of every used expert in one pass: expert x's rows at
     * hid[off[x]..] ([2N][EH] fits the [N][MLP] buffer) */
    for (int x = 0; x < HW_E; x++) {
        const int len = e->queue_len[x], nrb = (len + LIN_RB - 1) / LIN_RB;
        st->queue_len[ml][x] = len;
        off[x] = rows;
        if (!len) continue;
        lin_job j1 = {e, &e->h[0][0], &e->w->exp1_w[ml][x][0][0], e->exp1_wmax[ml][x], e->w->exp1_b[ml][x], e->b5_f,
                      len, HW_D, HW_EH, LIN_GATHER_IN | LIN_GELU, HW_OP_EXPERT1, nrb, ob1, e->queue_tok[x], NULL,
                      &e->hid[0][0] + (size_t)rows * HW_EH};
        lin_job j2 = {e, &e->hid[0][0] + (size_t)rows * HW_EH, &e->w->exp2_w[ml][x][0][0], e->exp2_wmax[ml][x],
                      e->w->exp2_b[ml][x], e->b5_f, len, HW_EH, HW_D, LIN_SCALE_OUT, HW_OP_EXPERT2, nrb, ob2, NULL,
                      e->queue_g[x], e->scb + (size_t)rows * HW_D};
        multi_add(m1, x, &j1);
        multi_add(m2, x, &j2);
        st->expert_weight_reads[ml][x] += 2u * HW_EH * HW_D;
        rows += len;
    }
    if (m1->n) em_pool_run(e->pool, multi_chunk, m1, m1->n);
    if (m2->n) em_pool_run(e->pool, multi_chunk, m2, m2->n);
    /* accumulation in the hardware's order (experts ascending): the wrap
     * count of a sum depends on which addend came first */
    memset(e->moe, 0, sizeof(fm_t) * HW_N * HW_D);
    for (int x = 0; x < HW_E; x++)
        for (int r = 0; r < e->queue_len[x]; r++) {
            fm_t *dst = e->moe[e->queue_tok[x][r]];
            const fm_t *sc = e->scb + (size_t)(off[x] + r) * HW_D;
            for (int o = 0; o < HW_D; o++) dst[o] = st_store(e, (int64_t)dst[o] + sc[o], st, HW_OP_EXPERT2);
        }
}

static void residual(fxf *e, fm_t (*y)[HW_D], hw_stats *st)
{
    for (int t = 0; t < HW_N; t++)
        for (int d = 0; d < HW_D; d++) e->x[t][d] = st_store(e, (int64_t)e->x[t][d] + y[t][d], st, HW_OP_RESID);
}

/* ---- the whole backbone, one task (as hw_edgemoe_top) ---- */
static void dequant(const fxf *e, const fm_t x[HW_N][HW_D], float *out)
{
    for (int t = 0; t < HW_N; t++)
        for (int d = 0; d < HW_D; d++) out[t * HW_D + d] = (float)fx_real(x[t][d], e->fm_f);
}

static void run_task(fxf *e, int task, hw_stats *st)
{
    const hw_weights *w = e->w;
    const int shape[2] = {HW_N, HW_D};
    char name[32];
    memset(e->tst, 0, sizeof(hw_stats) * e->nthr);
    patch_embed(e);
    if (e->trace) { dequant(e, e->x, e->deq); e->trace(e->trace_user, task, "embed", e->deq, 2, shape); }
    for (int L = 0; L < HW_DEPTH; L++) {
        layernorm(e, w->ln1_w[L], w->ln1_b[L]);
        linear(e, &e->h[0][0], &w->qkv_w[L][0][0], e->qkv_wmax[L], w->qkv_b[L], e->bqk_f, &e->qkv[0][0],
               HW_N, HW_D, 3 * HW_D, LIN_PLAIN, NULL, NULL, HW_OP_QKV);
        attn_prep(e);
        em_pool_run(e->pool, attn_chunk, e, HW_N);
        linear(e, &e->attn[0][0], &w->proj_w[L][0][0], e->proj_wmax[L], w->proj_b[L], e->bqk_f, &e->y[0][0],
               HW_N, HW_D, HW_D, LIN_PLAIN, NULL, NULL, HW_OP_PROJ);
        residual(e, e->y, st);
        layernorm(e, w->ln2_w[L], w->ln2_b[L]);
        if (!HW_IS_MOE(L)) {
            const int dl = HW_DENSE_INDEX(L);
            linear(e, &e->h[0][0], &w->fc1_w[dl][0][0], e->fc1_wmax[dl], w->fc1_b[dl], e->b5_f, &e->hid[0][0],
                   HW_N, HW_D, HW_MLP, LIN_GELU, NULL, NULL, HW_OP_FC1);
            linear(e, &e->hid[0][0], &w->fc2_w[dl][0][0], e->fc2_wmax[dl], w->fc2_b[dl], e->b5_f, &e->y[0][0],
                   HW_N, HW_MLP, HW_D, LIN_PLAIN, NULL, NULL, HW_OP_FC2);
            residual(e, e->y, st);
        } else {
            moe(e, HW_MOE_INDEX(L), task, st);
            residual(e, e->moe, st);
        }
        if (e->trace) {
            snprintf(name, sizeof name, "block%d", L);
            dequant(e, e->x, e->deq);
            e->trace(e->trace_user, task, name, e->deq, 2, shape);
        }
    }
    for (int i = 0; i < e->nthr; i++)
        for (int op = 0; op < HW_N_OPS; op++) {
            st->wraps[op] += e->tst[i].wraps[op];
            st->stores[op] += e->tst[i].stores[op];
        }
}

/* ---- engine interface ---- */
static void wmax_rows(const wt_t *w, int rows, int cols, int32_t *out)
{
    for (int r = 0; r < rows; r++) {
        int32_t mx = 0;
        for (int i = 0; i < cols; i++) {
            int32_t a = w[(size_t)r * cols + i] < 0 ? -(int32_t)w[(size_t)r * cols + i] : w[(size_t)r * cols + i];
            if (a > mx) mx = a;
        }
        out[r] = mx;
    }
}

static void fxf_destroy(void *p)
{
    fxf *e = p;
    if (!e) return;
    em_fast_head_free(e->head);
    em_pool_free(e->pool);
    free(e->w); free(e->qkv_wmax); free(e->proj_wmax); free(e->fc1_wmax); free(e->fc2_wmax);
    free(e->exp1_wmax); free(e->exp2_wmax);
    free(e->x); free(e->h); free(e->qkv); free(e->attn); free(e->y); free(e->hid); free(e->moe);
    free(e->xh); free(e->xl); free(e->l1); free(e->safe); free(e->sums); free(e->img); free(e->route);
    free(e->deq); free(e->tst); free(e->scb); free(e->mj);
    free(e);
}

/* The format set as the kernels and stores use it. */
static void set_formats(fxf *e, const em_formats *f)
{
    e->fmt = *f;
    e->fm_w = f->fm.w;
    e->fm_f = f->fm.w - f->fm.i;
    e->fm_sh = 32 - f->fm.w;
    e->fm_min = -((int64_t)1 << (f->fm.w - 1));
    e->fm_max = ((int64_t)1 << (f->fm.w - 1)) - 1;
    e->wt_f = f->wt.w - f->wt.i;
    e->bqk_f = f->bqk.w - f->bqk.i;
    e->b5_f = f->b5.w - f->b5.i;
    e->pix_w = f->pix.w;
    e->pix_f = f->pix.w - f->pix.i;
    e->emb_f = e->pix_f + (f->pw.w - f->pw.i) - e->fm_f;
    /* the products' sum (the bias is added apart, in 64 bits) */
    e->embed_exact = (((int64_t)HW_PATCH_K * (((int64_t)1 << f->pix.w) - 1) << (f->pw.w - 1)) >> e->emb_f) <
                     ((int64_t)1 << 31);
    e->ln_c = (fm_t)(((int64_t)1 << e->fm_f) / HW_D);
    e->ln_eps = (fm_t)(((int64_t)1 << e->fm_f) / 1000000);
}

static void *fxf_create(const em_model *m, const em_session_opts *o, em_err *err)
{
    if (em_fixed_check_config(&m->cfg, err)) return NULL;
    em_formats fmts;
    if (o->formats) fmts = *o->formats;
    else em_formats_original(&fmts);
    if (em_formats_check(&fmts, err)) return NULL;
    fxf *e = calloc(1, sizeof *e);
    if (!e) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    set_formats(e, &fmts);
    e->m = m;
    e->trace = o->trace;
    e->trace_user = o->trace_user;
    e->k = em_fxk_select();
    e->nthr = o->threads > 0 ? o->threads : em_cpu_count();
    if (e->nthr > MAXT) e->nthr = MAXT;
    e->pool = em_pool_new(e->nthr);
    e->w = calloc(1, sizeof *e->w);
    e->qkv_wmax = calloc(HW_DEPTH, sizeof *e->qkv_wmax);
    e->proj_wmax = calloc(HW_DEPTH, sizeof *e->proj_wmax);
    e->fc1_wmax = calloc(HW_NDENSE, sizeof *e->fc1_wmax);
    e->fc2_wmax = calloc(HW_NDENSE, sizeof *e->fc2_wmax);
    e->exp1_wmax = calloc(HW_NMOE, sizeof *e->exp1_wmax);
    e->exp2_wmax = calloc(HW_NMOE, sizeof *e->exp2_wmax);
    e->x = calloc(HW_N, sizeof *e->x); e->h = calloc(HW_N, sizeof *e->h);
    e->qkv = calloc(HW_N, sizeof *e->qkv); e->attn = calloc(HW_N, sizeof *e->attn);
    e->y = calloc(HW_N, sizeof *e->y); e->hid = calloc(HW_N, sizeof *e->hid); e->moe = calloc(HW_N, sizeof *e->moe);
    e->xh = calloc((size_t)e->nthr * LIN_RB * HW_PATCH_K, sizeof *e->xh);
    e->xl = calloc((size_t)e->nthr * LIN_RB * HW_PATCH_K, sizeof *e->xl);
    e->l1 = calloc((size_t)e->nthr * LIN_RB, sizeof *e->l1);
    e->safe = calloc((size_t)e->nthr * LIN_RB, 1);
    e->sums = calloc((size_t)e->nthr * LIN_RB * HW_MAX_OUT, sizeof *e->sums);
    e->img = calloc(HW_IMG_C, sizeof *e->img);
    e->route = calloc(HW_NMOE, sizeof *e->route);
    e->deq = malloc((size_t)HW_N * HW_D * sizeof(float));
    e->tst = calloc((size_t)e->nthr, sizeof *e->tst);
    e->scb = calloc((size_t)HW_TOPK * HW_N * HW_D, sizeof *e->scb);
    e->mj = calloc(2, sizeof *e->mj);
    if (!e->pool || !e->w || !e->qkv_wmax || !e->proj_wmax || !e->fc1_wmax || !e->fc2_wmax || !e->exp1_wmax ||
        !e->exp2_wmax || !e->x || !e->h || !e->qkv || !e->attn || !e->y || !e->hid || !e->moe || !e->xh || !e->xl ||
        !e->l1 || !e->safe || !e->sums || !e->img || !e->route || !e->deq || !e->tst || !e->scb || !e->mj) {
        fxf_destroy(e);
        em_error(err, EM_ENOMEM, "out of memory");
        return NULL;
    }
    /* the head runs on the host, in float: the fast head, on this pool */
    if (!o->skip_head &&
        !(e->head = em_fast_head_new(m, e->pool, em_fast_kern_select(), o->trace, o->trace_user, err))) {
        fxf_destroy(e);
        return NULL;
    }
    em_fixed_quantise(m, e->w, &e->fmt, &e->quant_wraps);
    hw_weights *w = e->w;
    for (int L = 0; L < HW_DEPTH; L++) {
        wmax_rows(&w->qkv_w[L][0][0], 3 * HW_D, HW_D, e->qkv_wmax[L]);
        wmax_rows(&w->proj_w[L][0][0], HW_D, HW_D, e->proj_wmax[L]);
    }
    for (int l = 0; l < HW_NDENSE; l++) {
        wmax_rows(&w->fc1_w[l][0][0], HW_MLP, HW_D, e->fc1_wmax[l]);
        wmax_rows(&w->fc2_w[l][0][0], HW_D, HW_MLP, e->fc2_wmax[l]);
    }
    for (int l = 0; l < HW_NMOE; l++)
        for (int x = 0; x < HW_E; x++) {
            wmax_rows(&w->exp1_w[l][x][0][0], HW_EH, HW_D, e->exp1_wmax[l][x]);
            wmax_rows(&w->exp2_w[l][x][0][0], HW_D, HW_EH, e->exp2_wmax[l][x]);
        }
    return e;
}

static int fxf_backbone(void *p, const float *image, unsigned mask, em_task_output *out, em_err *err)
{
    fxf *e = p;
    if (!(mask & ((1u << HW_TASKS) - 1))) return em_error(err, EM_EARG, "no task selected");
    for (int c = 0; c < HW_IMG_C; c++)
        for (int y = 0; y < HW_IMG_H; y++)
            for (int x = 0; x < HW_IMG_W; x++)
                e->img[c][y][x] = (pix_t)fx_quant(image[((size_t)c * HW_IMG_H + y) * HW_IMG_W + x], e->pix_w, e->pix_f, 1);
    for (int t = 0; t < HW_TASKS; t++) {
        if (!(mask >> t & 1)) continue;
        double t0 = em_now_ms();
        hw_stats *st = &e->stats[t];
        memset(st, 0, sizeof *st);
        run_task(e, t, st);
        e->ran[t] = 1;
        em_task_output *o = &out[t];
        dequant(e, e->x, o->features);
        memset(o->expert_tokens, 0, (size_t)HW_NMOE * HW_E * sizeof *o->expert_tokens);
        for (int l = 0; l < HW_NMOE; l++)
            for (int n = 0; n < HW_N; n++)
                for (int k = 0; k < HW_TOPK; k++) {
                    size_t i = ((size_t)l * HW_N + n) * HW_TOPK + k;
                    o->routing[i] = e->route[l][n][k].expert;
                    o->gate_prob[i] = (float)fx_real(e->route[l][n][k].g, e->fm_f);
                    o->expert_tokens[l * HW_E + e->route[l][n][k].expert]++;
                }
        o->shared_ms = 0;
        o->backbone_ms = em_now_ms() - t0;
    }
    return EM_OK;
}

void em_fixed_fast_experts(void *eng, int ml, const fm_t h[HW_N][HW_D], const int32_t tok[HW_E][HW_N],
                           const fm_t g[HW_E][HW_N], const int32_t len[HW_E], fm_t moe_out[HW_N][HW_D], hw_stats *st)
{
    fxf *e = eng;
    memcpy(e->h, h, sizeof(fm_t) * HW_N * HW_D);
    memcpy(e->queue_tok, tok, sizeof e->queue_tok);
    memcpy(e->queue_g, g, sizeof e->queue_g);
    memcpy(e->queue_len, len, sizeof e->queue_len);
    memset(e->tst, 0, sizeof(hw_stats) * e->nthr);
    experts(e, ml, st);
    for (int i = 0; i < e->nthr; i++)
        for (int op = 0; op < HW_N_OPS; op++) {
            st->wraps[op] += e->tst[i].wraps[op];
            st->stores[op] += e->tst[i].stores[op];
        }
    memcpy(moe_out, e->moe, sizeof(fm_t) * HW_N * HW_D);
}

const hw_stats *em_fixed_fast_stats(const void *eng, int task)
{
    const fxf *e = eng;
    if (!e || task < 0 || task >= HW_TASKS || !e->ran[task]) return NULL;
    return &e->stats[task];
}

uint64_t em_fixed_fast_quant_wraps(const void *eng) { return ((const fxf *)eng)->quant_wraps; }

const char *em_fixed_fast_isa(const void *eng) { return ((const fxf *)eng)->k->name; }

static int fxf_head(void *p, int task, em_task_output *out, em_err *err)
{
    fxf *e = p;
    if (!e->head) return em_error(err, EM_EARG, "fixed engine: created without a head (skip_head)");
    return em_fast_head_run(e->head, task, out->features, out->logits, err);
}

const em_engine_ops em_engine_fixed_fast = {"fixed", fxf_create, fxf_destroy, fxf_backbone, fxf_head};
