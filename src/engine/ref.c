/* Reference engine: the model of docs/spec.md#1-the-model in plain C.
 * Clarity beats speed: it is the numeric oracle for the fast and fixed
 * engines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/engine.h"
#include "engine/ops.h"

typedef struct {
    const em_model *m;
    em_trace_fn trace;
    void *trace_user;
    /* activations, sized once at create() */
    float *x;       /* [N][D] residual stream */
    float *h;       /* [N][D] LayerNorm output */
    float *qkv;     /* [N][3D] */
    float *att;     /* [N][D] attention output before proj */
    float *tmp;     /* [N][D] */
    float *hidden;  /* [max(H, He)] one token's MLP hidden */
    float *scores;  /* [max(N, E)] */
    float *prefix;  /* [N][D] x after the task-independent prefix */
} ref_engine;

static void *ref_create(const em_model *m, const em_session_opts *o, em_err *err) {
    const em_config *c = &m->cfg;
    ref_engine *e = calloc(1, sizeof *e);
    if (!e) { em_error(err, EM_ENOMEM, "out of memory"); return NULL; }
    e->m = m;
    e->trace = o->trace;
    e->trace_user = o->trace_user;
    size_t ND = (size_t)c->n_tok * c->dim;
    int hid = c->mlp_hidden > c->expert_hidden ? c->mlp_hidden : c->expert_hidden;
    int sc = c->n_tok > c->n_experts ? c->n_tok : c->n_experts;
    e->x = malloc(ND * sizeof(float));
    e->h = malloc(ND * sizeof(float));
    e->qkv = malloc(3 * ND * sizeof(float));
    e->att = malloc(ND * sizeof(float));
    e->tmp = malloc(ND * sizeof(float));
    e->prefix = malloc(ND * sizeof(float));
    e->hidden = malloc((size_t)hid * sizeof(float));
    e->scores = malloc((size_t)sc * sizeof(float));
    if (!e->x || !e->h || !e->qkv || !e->att || !e->tmp || !e->prefix || !e->hidden || !e->scores) {
        em_engine_ref.destroy(e);
        em_error(err, EM_ENOMEM, "out of memory");
        return NULL;
    }
    return e;
}

static void ref_destroy(void *p) {
    ref_engine *e = p;
    if (!e) return;
    free(e->x); free(e->h); free(e->qkv); free(e->att); free(e->tmp);
    free(e->prefix); free(e->hidden); free(e->scores);
    free(e);
}

/* token p+1 = conv16x16(patch p) + bias; token 0 = 0; then + pos_embed */
static void patch_embed(ref_engine *e, const float *img) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int D = c->dim, P = c->patch;
    memset(e->x, 0, (size_t)D * sizeof(float));
    for (int py = 0; py < c->grid_h; py++)
        for (int px = 0; px < c->grid_w; px++) {
            float *tok = e->x + (size_t)(1 + py * c->grid_w + px) * D;
            for (int d = 0; d < D; d++) {
                double acc = w->patch_b[d];
                for (int ch = 0; ch < c->img_c; ch++)
                    for (int y = 0; y < P; y++)
                        for (int x = 0; x < P; x++)
                            acc += (double)w->patch_w[(((size_t)d * c->img_c + ch) * P + y) * P + x] *
                                   img[((size_t)ch * c->img_h + py * P + y) * c->img_w + px * P + x];
                tok[d] = (float)acc;
            }
        }
    for (size_t i = 0; i < (size_t)c->n_tok * D; i++) e->x[i] += w->pos_embed[i];
}

static void attention_part(ref_engine *e, int L) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int N = c->n_tok, D = c->dim;
    em_ref_layernorm(e->x, N, D, w->ln1_w + (size_t)L * D, w->ln1_b + (size_t)L * D, c->ln_eps, e->h);
    em_ref_linear(e->h, N, D, w->qkv_w + (size_t)L * 3 * D * D, w->qkv_b + (size_t)L * 3 * D, 3 * D, e->qkv);
    em_ref_attention(e->qkv, N, c->n_heads, c->head_dim, e->att, e->scores);
    em_ref_linear(e->att, N, D, w->proj_w + (size_t)L * D * D, w->proj_b + (size_t)L * D, D, e->tmp);
    for (size_t i = 0; i < (size_t)N * D; i++) e->x[i] += e->tmp[i];
}

static void dense_mlp(ref_engine *e, int L) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int N = c->n_tok, D = c->dim, H = c->mlp_hidden, i = em_dense_index(c, L);
    for (int t = 0; t < N; t++) {
        float *xt = e->x + (size_t)t * D;
        em_ref_linear(e->h + (size_t)t * D, 1, D, w->fc1_w + (size_t)i * H * D, w->fc1_b + (size_t)i * H, H, e->hidden);
        for (int j = 0; j < H; j++) e->hidden[j] = em_ref_gelu(e->hidden[j]);
        em_ref_linear(e->hidden, 1, H, w->fc2_w + (size_t)i * D * H, w->fc2_b + (size_t)i * D, D, e->tmp);
        for (int d = 0; d < D; d++) xt[d] += e->tmp[d];
    }
}

/* Token by token: gate softmax over all experts, top-k, weighted sum of the
 * chosen experts' MLPs (no renormalisation of the k probabilities). */
static void moe_mlp(ref_engine *e, int L, int task, em_task_output *out) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    int N = c->n_tok, D = c->dim, E = c->n_experts, He = c->expert_hidden, K = c->top_k;
    int i = em_moe_index(c, L);
    const float *gate = w->gate_w + ((size_t)i * c->n_tasks + task) * E * D;
    int32_t *route = out->routing + (size_t)i * N * K;
    float *gprob = out->gate_prob + (size_t)i * N * K;
    int32_t *count = out->expert_tokens + (size_t)i * E;
    memset(count, 0, (size_t)E * sizeof *count);
    for (int t = 0; t < N; t++) {
        const float *ht = e->h + (size_t)t * D;
        em_ref_linear(ht, 1, D, gate, NULL, E, e->scores);
        em_ref_softmax(e->scores, E);
        int idx[EM_MAX_TOPK];
        em_ref_topk(e->scores, E, K, idx);
        float *sum = e->tmp;  /* [D] for this token */
        memset(sum, 0, (size_t)D * sizeof(float));
        for (int k = 0; k < K; k++) {
            int ex = idx[k];
            float g = e->scores[ex];
            route[t * K + k] = ex;
            gprob[t * K + k] = g;
            count[ex]++;
            em_ref_linear(ht, 1, D, w->exp1_w + ((size_t)i * E + ex) * He * D,
                          w->exp1_b + ((size_t)i * E + ex) * He, He, e->hidden);
            for (int j = 0; j < He; j++) e->hidden[j] = em_ref_gelu(e->hidden[j]);
            for (int d = 0; d < D; d++) {
                const float *wr = w->exp2_w + (((size_t)i * E + ex) * D + d) * He;
                double o = w->exp2_b[((size_t)i * E + ex) * D + d];
                for (int j = 0; j < He; j++) o += (double)wr[j] * e->hidden[j];
                sum[d] += (float)(g * o);
            }
        }
        float *xt = e->x + (size_t)t * D;
        for (int d = 0; d < D; d++) xt[d] += sum[d];
    }
}

static void mlp_part(ref_engine *e, int L, int task, em_task_output *out) {
    const em_config *c = &e->m->cfg;
    const em_weights *w = &e->m->w;
    em_ref_layernorm(e->x, c->n_tok, c->dim, w->ln2_w + (size_t)L * c->dim, w->ln2_b + (size_t)L * c->dim,
                     c->ln_eps, e->h);
    if (em_is_moe(c, L)) moe_mlp(e, L, task, out);
    else dense_mlp(e, L);
}

static void step_embed(void *e, const float *image) { patch_embed(e, image); }
static void step_attention(void *e, int L) { attention_part(e, L); }
static void step_mlp(void *e, int L, int task, em_task_output *out) { mlp_part(e, L, task, out); }

static int ref_backbone(void *p, const float *image, unsigned mask, em_task_output *out, em_err *err) {
    ref_engine *e = p;
    em_backbone_steps steps = {&e->m->cfg, e, e->x, e->prefix, step_embed, step_attention, step_mlp,
                               e->trace, e->trace_user};
    return em_backbone_run(&steps, image, mask, out, err);
}

const em_engine_ops em_engine_ref = {"ref", ref_create, ref_destroy, ref_backbone, NULL};
