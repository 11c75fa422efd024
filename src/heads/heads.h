/* The decoder heads (M3ViT "PUP"): features [N][D] -> logits [C][H][W].
 * The reference head is head.c (plain C on the reference ops of
 * src/engine/ops_ref.c, the numeric oracle); the fast engine's head is
 * its own (src/engine/fast.c), checked against this one by tests/test_fast.c. */
#ifndef EM_HEADS_H
#define EM_HEADS_H
#include "edgemoe.h"

/* scratch: em_head_scratch_floats(cfg) floats. */
size_t em_head_scratch_floats(const em_config *c);
void em_head_ref(const em_model *m, int task, const float *features, float *logits,
                 float *scratch, em_trace_fn trace, void *trace_user);
#endif
