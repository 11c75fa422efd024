/* The backbone schedule shared by the float engines, with task-level
 * sparsity: everything before the first gate (patch embed, the dense blocks
 * before it, the first MoE block's attention) runs once per image; from the
 * first gate on, each task of the mask runs its own copy of the residual. */
#include <stdio.h>
#include <string.h>
#include "engine/engine.h"

static void trace_tokens(const em_backbone_steps *s, int task, const char *stage) {
    if (!s->trace) return;
    int shape[2] = {s->cfg->n_tok, s->cfg->dim};
    s->trace(s->trace_user, task, stage, s->x, 2, shape);
}

int em_backbone_run(const em_backbone_steps *s, const float *image, unsigned mask,
                    em_task_output *out, em_err *err) {
    const em_config *c = s->cfg;
    size_t ND = (size_t)c->n_tok * c->dim;
    int first = -1;
    for (int t = 0; t < c->n_tasks; t++) if (mask >> t & 1) { first = t; break; }
    if (first < 0) return em_error(err, EM_EARG, "no task selected");

    double t0 = em_now_ms();
    int Lg = 0;
    while (Lg < c->depth && !em_is_moe(c, Lg)) Lg++;
    char name[32];
    s->embed(s->eng, image);
    trace_tokens(s, first, "embed");
    for (int L = 0; L < Lg; L++) {
        s->attention(s->eng, L);
        s->mlp(s->eng, L, first, &out[first]);
        snprintf(name, sizeof name, "block%d", L);
        trace_tokens(s, first, name);
    }
    if (Lg < c->depth) s->attention(s->eng, Lg);
    memcpy(s->prefix, s->x, ND * sizeof(float));
    double shared = em_now_ms() - t0;

    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        double t1 = em_now_ms();
        memcpy(s->x, s->prefix, ND * sizeof(float));
        for (int L = Lg; L < c->depth; L++) {
            if (L > Lg) s->attention(s->eng, L);
            s->mlp(s->eng, L, t, &out[t]);
            snprintf(name, sizeof name, "block%d", L);
            trace_tokens(s, t, name);
        }
        memcpy(out[t].features, s->x, ND * sizeof(float));
        out[t].shared_ms = shared;
        out[t].backbone_ms = shared + (em_now_ms() - t1);
    }
    return EM_OK;
}
