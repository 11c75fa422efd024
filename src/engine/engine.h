/* Internal engine interface.  An engine computes the backbone (features,
 * routing) for the tasks of a mask; heads are float and shared (src/heads). */
#ifndef EM_ENGINE_H
#define EM_ENGINE_H
#include "edgemoe.h"
#include "util.h"
#include "heads/heads.h"

typedef struct {
    const char *name;
    void *(*create)(const em_model *m, const em_session_opts *o, em_err *err);
    void (*destroy)(void *eng);
    /* Fills features, routing, gate_prob, expert_tokens and the backbone_ms /
     * shared_ms timings of out[t] for every t in task_mask. */
    int (*backbone)(void *eng, const float *image, unsigned task_mask,
                    em_task_output *out, em_err *err);
    /* Optional: the engine's own float head (NULL: em_head_ref).  Fills
     * out->logits from out->features and sets out->head_ms. */
    int (*head)(void *eng, int task, em_task_output *out, em_err *err);
} em_engine_ops;

extern const em_engine_ops em_engine_ref;
extern const em_engine_ops em_engine_fast;   /* src/engine/fast.c (docs/fast.md) */
extern const em_engine_ops em_engine_fixed;  /* src/engine/fixed.c: src/hw, `--engine hw` (docs/fixed.md) */
extern const em_engine_ops em_engine_fixed_fast; /* src/engine/fixed_fast.c: the fast twin, `--engine fixed` (docs/fixed.md) */

/* Shared float head: src/heads/heads.h */

/* The block schedule of a float engine (src/engine/backbone.c): the steps
 * act on the engine's residual stream x [N][D]; prefix [N][D] holds x after
 * the task-independent prefix. */
typedef struct {
    const em_config *cfg;
    void *eng;
    float *x, *prefix;
    void (*embed)(void *eng, const float *image);
    void (*attention)(void *eng, int layer);                               /* x += attn(LN1(x)) */
    void (*mlp)(void *eng, int layer, int task, em_task_output *out);      /* x += MLP(LN2(x)), routing */
    em_trace_fn trace;
    void *trace_user;
} em_backbone_steps;
int em_backbone_run(const em_backbone_steps *s, const float *image, unsigned mask,
                    em_task_output *out, em_err *err);

#endif
