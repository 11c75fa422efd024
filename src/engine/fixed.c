/* Fixed engine: the Edge-MoE accelerator twin (src/hw) behind the engine
 * interface.  create() quantises the float weights into the accelerator's
 * DRAM image (floor then wrap, the formats of
 * docs/spec.md#2-number-formats); backbone() runs the hw top
 * function once per task (one image, one task per run, as the hardware does)
 * and dequantises features, routing and gate probabilities. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"
#include "engine/fixed.h"
#include "hw/hw_units.h"
#include "hw/hw_quant.h"

typedef struct {
    const em_model *m;
    em_trace_fn trace;
    void *trace_user;
    hw_weights *w;                                  /* DRAM: weights */
    hw_act *act;                                    /* DRAM: activations */
    fm_t (*tap)[HW_N][HW_D];                        /* [DEPTH+1] */
    hw_route (*route)[HW_N][HW_TOPK];               /* [NMOE] */
    pix_t (*img)[HW_IMG_H][HW_IMG_W];               /* [C] */
    float *deq;                                     /* [N][D] trace buffer */
    hw_stats stats[EM_MAX_TASKS];
    int ran[EM_MAX_TASKS];
    uint64_t quant_wraps;
} fixed_engine;

/* The accelerator's sizes are fixed at compile time: name the first
 * mismatch. */
int em_fixed_check_config(const em_config *c, em_err *err)
{
    struct { const char *name; int model, hw; } f[] = {
        {"img_c", c->img_c, HW_IMG_C}, {"img_h", c->img_h, HW_IMG_H}, {"img_w", c->img_w, HW_IMG_W},
        {"patch", c->patch, HW_PATCH}, {"grid_h", c->grid_h, HW_GRID_H}, {"grid_w", c->grid_w, HW_GRID_W},
        {"n_tok", c->n_tok, HW_N}, {"dim", c->dim, HW_D}, {"depth", c->depth, HW_DEPTH},
        {"n_heads", c->n_heads, HW_HEADS}, {"head_dim", c->head_dim, HW_HEAD_DIM},
        {"mlp_hidden", c->mlp_hidden, HW_MLP}, {"n_experts", c->n_experts, HW_E},
        {"expert_hidden", c->expert_hidden, HW_EH}, {"top_k", c->top_k, HW_TOPK},
        {"n_tasks", c->n_tasks, HW_TASKS},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].model != f[i].hw)
            return em_error(err, EM_EARG, "fixed engine: model %s = %d but the accelerator is built for %s = %d",
                            f[i].name, f[i].model, f[i].name, f[i].hw);
    for (int L = 0; L < c->depth; L++)
        if (em_is_moe(c, L) != HW_IS_MOE(L))   /* the accelerator's rule (hw_config.h): odd blocks are MoE */
            return em_error(err, EM_EARG, "fixed engine: model block %d is %s but the accelerator is built with MoE in the odd blocks",
                            L, em_is_moe(c, L) ? "MoE" : "dense");
    if (c->ln_eps < 0.99e-6f || c->ln_eps > 1.01e-6f)
        return em_error(err, EM_EARG, "fixed engine: model ln_eps = %g but the accelerator is built for ln_eps = 1e-06",
                        (double)c->ln_eps);
    return EM_OK;
}

/* float array -> <W,I> values in int16 storage */
static void quant16(int16_t *dst, const float *src, size_t n, em_fxfmt q, uint64_t *wraps)
{
    for (size_t i = 0; i < n; i++) {
        int wr = 0;
        dst[i] = (int16_t)fx_quant_w(src[i], q.w, q.w - q.i, 0, &wr);
        *wraps += (uint64_t)wr;
    }
}

void em_fixed_quantise(const em_model *m, hw_weights *w, const em_formats *f, uint64_t *q)
{
    const em_weights *s = &m->w;
#define Q16(field, src, fmt) quant16((int16_t *)w->field, (src), sizeof w->field / sizeof(int16_t), f->fmt, q)
    Q16(patch_w, s->patch_w, pw);
    Q16(patch_b, s->patch_b, b5);
    for (int i = 0; i < HW_N * HW_D; i++) {
        int wr = 0;
        ((fm_t *)w->pos)[i] = (fm_t)fx_quant_w(s->pos_embed[i], f->fm.w, f->fm.w - f->fm.i, 0, &wr);
        *q += (uint64_t)wr;
    }
    Q16(ln1_w, s->ln1_w, b5); Q16(ln1_b, s->ln1_b, b5);
    Q16(ln2_w, s->ln2_w, b5); Q16(ln2_b, s->ln2_b, b5);
    Q16(qkv_w, s->qkv_w, wt); Q16(qkv_b, s->qkv_b, bqk);
    Q16(proj_w, s->proj_w, wt); Q16(proj_b, s->proj_b, bqk);
    Q16(fc1_w, s->fc1_w, wt); Q16(fc1_b, s->fc1_b, b5);
    Q16(fc2_w, s->fc2_w, wt); Q16(fc2_b, s->fc2_b, b5);
    Q16(gate_w, s->gate_w, wt);
    Q16(exp1_w, s->exp1_w, wt); Q16(exp1_b, s->exp1_b, b5);
    Q16(exp2_w, s->exp2_w, wt); Q16(exp2_b, s->exp2_b, b5);
#undef Q16
}

void em_fixed_compiled_formats(em_formats *f)
{
    em_formats_original(f);
    f->fm = (em_fxfmt){HW_FM_W, HW_FM_I};
    f->wt = (em_fxfmt){HW_WT_W, HW_WT_I};
    f->bqk = (em_fxfmt){HW_BQK_W, HW_BQK_I};
    f->b5 = (em_fxfmt){HW_B5_W, HW_B5_I};
    f->pw = (em_fxfmt){HW_PW_W, HW_PW_I};
    f->pix = (em_fxfmt){HW_PIX_W, HW_PIX_I};
    em_formats o;
    em_formats_original(&o);
    if (!em_formats_equal(f, &o)) snprintf(f->name, sizeof f->name, "compiled");
}

static void fixed_destroy(void *p)
{
    fixed_engine *e = p;
    if (!e) return;
    free(e->w); free(e->act); free(e->tap); free(e->route); free(e->img); free(e->deq);
    free(e);
}

static void *fixed_create(const em_model *m, const em_session_opts *o, em_err *err)
{
    if (em_fixed_check_config(&m->cfg, err)) return NULL;
    em_formats hwf;
    em_fixed_compiled_formats(&hwf);
    if (o->formats && !em_formats_equal(o->formats, &hwf)) {
        char want[160], have[160];
        em_formats_describe(o->formats, want, sizeof want);
        em_formats_describe(&hwf, have, sizeof have);
        em_error(err, EM_EARG, "hw engine: src/hw is compiled for %s, not %s (formats %s; the fixed engine takes any set)",
                 have, want, o->formats->name);
        return NULL;
    }
    fixed_engine *e = calloc(1, sizeof *e);
    if (!e) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    e->m = m;
    e->trace = o->trace;
    e->trace_user = o->trace_user;
    e->w = calloc(1, sizeof *e->w);
    e->act = calloc(1, sizeof *e->act);
    e->tap = calloc(HW_DEPTH + 1, sizeof *e->tap);
    e->route = calloc(HW_NMOE, sizeof *e->route);
    e->img = calloc(HW_IMG_C, sizeof *e->img);
    e->deq = malloc((size_t)HW_N * HW_D * sizeof(float));
    if (!e->w || !e->act || !e->tap || !e->route || !e->img || !e->deq) {
        fixed_destroy(e);
        em_error(err, EM_ENOMEM, "out of memory");
        return NULL;
    }
    em_fixed_quantise(m, e->w, &hwf, &e->quant_wraps);
    return e;
}

static void dequant_tokens(const fm_t x[HW_N][HW_D], float *out)
{
    for (int t = 0; t < HW_N; t++)
        for (int d = 0; d < HW_D; d++) out[t * HW_D + d] = (float)fm_real(x[t][d]);
}

static int fixed_backbone(void *p, const float *image, unsigned mask, em_task_output *out, em_err *err)
{
    fixed_engine *e = p;
    const int shape[2] = {HW_N, HW_D};
    /* pixels: <u8,0> by floor then wrap (k/256 -> k) */
    for (int c = 0; c < HW_IMG_C; c++)
        for (int y = 0; y < HW_IMG_H; y++)
            for (int x = 0; x < HW_IMG_W; x++)
                e->img[c][y][x] = q_pix(image[((size_t)c * HW_IMG_H + y) * HW_IMG_W + x]);
    if (!(mask & ((1u << HW_TASKS) - 1)))
        return em_error(err, EM_EARG, "no task selected");
    for (int t = 0; t < HW_TASKS; t++) {
        if (!(mask >> t & 1)) continue;
        double t0 = em_now_ms();
        hw_stats *st = &e->stats[t];
        memset(st, 0, sizeof *st);
        hw_edgemoe_top(e->w, (const pix_t (*)[HW_IMG_H][HW_IMG_W])e->img, t, e->act, e->tap, e->route, st);
        e->ran[t] = 1;
        em_task_output *o = &out[t];
        dequant_tokens(e->tap[HW_DEPTH], o->features);
        /* expert token counts from the routing (the host's view: the
         * accelerator's queue lengths are simulation-only statistics) */
        memset(o->expert_tokens, 0, (size_t)HW_NMOE * HW_E * sizeof *o->expert_tokens);
        for (int l = 0; l < HW_NMOE; l++)
            for (int n = 0; n < HW_N; n++)
                for (int k = 0; k < HW_TOPK; k++) {
                    size_t i = ((size_t)l * HW_N + n) * HW_TOPK + k;
                    o->routing[i] = e->route[l][n][k].expert;
                    o->gate_prob[i] = (float)fm_real(e->route[l][n][k].g);
                    o->expert_tokens[l * HW_E + e->route[l][n][k].expert]++;
                }
        o->shared_ms = 0;   /* the hardware runs every task from the image */
        o->backbone_ms = em_now_ms() - t0;
        if (e->trace) {
            char name[32];
            dequant_tokens(e->tap[0], e->deq);
            e->trace(e->trace_user, t, "embed", e->deq, 2, shape);
            for (int L = 0; L < HW_DEPTH; L++) {
                snprintf(name, sizeof name, "block%d", L);
                dequant_tokens(e->tap[L + 1], e->deq);
                e->trace(e->trace_user, t, name, e->deq, 2, shape);
            }
        }
    }
    return EM_OK;
}

const hw_stats *em_fixed_stats(const void *eng, int task)
{
    const fixed_engine *e = eng;
    if (!e || task < 0 || task >= HW_TASKS || !e->ran[task]) return NULL;
    return &e->stats[task];
}

uint64_t em_fixed_quant_wraps(const void *eng) { return ((const fixed_engine *)eng)->quant_wraps; }

const em_engine_ops em_engine_fixed = {"fixed", fixed_create, fixed_destroy, fixed_backbone, NULL};
