/* The decoder head (M3ViT "PUP"), float, as the host runs it:
 * tokens -> LN -> [D][gh][gw] -> 4 x (conv3x3 + BN + ReLU, x2 after the first
 * three) -> conv1x1 -> x2 -> [C][H][W]. */
#include <stdio.h>
#include <string.h>
#include "util.h"
#include "heads/heads.h"
#include "engine/ops.h"

/* Largest feature map of the head: the last 3x3 conv's output. */
static size_t head_map_floats(const em_config *c) {
    size_t big = (size_t)c->head_ch * (c->img_h / 2) * (c->img_w / 2);
    size_t in0 = (size_t)c->dim * c->n_tok;
    return in0 > big ? in0 : big;
}

static size_t class_map_floats(const em_config *c) {
    int cmax = 1;
    for (int t = 0; t < c->n_tasks; t++) if (c->task_channels[t] > cmax) cmax = c->task_channels[t];
    return (size_t)cmax * (c->img_h / 2) * (c->img_w / 2);
}

/* Two ping-pong maps of the largest stage, plus the class map. */
size_t em_head_scratch_floats(const em_config *c) { return 2 * head_map_floats(c) + class_map_floats(c); }

static void trace3(em_trace_fn trace, void *user, int task, const char *stage, const float *x,
                   int c, int h, int w) {
    if (!trace) return;
    int shape[3] = {c, h, w};
    trace(user, task, stage, x, 3, shape);
}

void em_head_ref(const em_model *m, int task, const float *features, float *logits,
                 float *scratch, em_trace_fn trace, void *user) {
    const em_config *c = &m->cfg;
    const em_head_weights *hw = &m->w.head[task];
    int D = c->dim, gh = c->grid_h, gw = c->grid_w, hc = c->head_ch, C = c->task_channels[task];
    size_t big = head_map_floats(c);
    float *a = scratch, *b = scratch + big, *cls = scratch + 2 * big;

    /* drop token 0, LN each token into b, then transpose into a = [D][gh][gw] */
    em_ref_layernorm(features + D, gh * gw, D, hw->norm_w, hw->norm_b, c->ln_eps, b);
    for (int p = 0; p < gh * gw; p++)
        for (int d = 0; d < D; d++) a[(size_t)d * gh * gw + p] = b[(size_t)p * D + d];
    trace3(trace, user, task, "head.ln", a, D, gh, gw);

    int h = gh, w = gw, cin = D;
    char name[32];
    for (int i = 0; i < 4; i++) {
        em_ref_conv3x3(a, cin, h, w, hw->conv_w[i], hw->conv_b[i], hc, b);
        em_ref_bn_relu(b, hc, h * w, hw->bn_w[i], hw->bn_b[i], hw->bn_mean[i], hw->bn_var[i], c->bn_eps);
        snprintf(name, sizeof name, "head.conv%d", i);
        trace3(trace, user, task, name, b, hc, h, w);
        cin = hc;
        if (i < 3) {
            em_ref_upsample2x(b, hc, h, w, a);
            h *= 2; w *= 2;
            snprintf(name, sizeof name, "head.up%d", i);
            trace3(trace, user, task, name, a, hc, h, w);
        } else {
            float *t = a; a = b; b = t;
        }
    }
    em_ref_conv1x1(a, hc, h * w, hw->cls_w, hw->cls_b, C, cls);
    trace3(trace, user, task, "head.cls", cls, C, h, w);
    em_ref_upsample2x(cls, C, h, w, logits);
    trace3(trace, user, task, "logits", logits, C, 2 * h, 2 * w);
}
