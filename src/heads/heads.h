/* The decoder heads (M3ViT "PUP"): features [N][D] -> logits [C][H][W].
 * - The reference head is head.c (plain C on the reference ops of
 *   src/engine/ops_ref.c, the numeric oracle); the ref and hw engines use it.
 * - The fast head is head_fast.c (Winograd convs with BatchNorm folded, on the
 *   fast engine's kernels and thread pool, docs/fast.md); the fast engine
 *   (src/engine/fast.c) and the fast fixed-point twin (src/engine/fixed_fast.c)
 *   each own one.  tests/test_fast.c checks it against the reference head.
 * Internal: not part of the public API. */
#ifndef EM_HEADS_H
#define EM_HEADS_H
#include "edgemoe.h"

/* scratch: em_head_scratch_floats(cfg) floats. */
size_t em_head_scratch_floats(const em_config *c);
void em_head_ref(const em_model *m, int task, const float *features, float *logits,
                 float *scratch, em_trace_fn trace, void *trace_user);

/* The fast head: packed weights for every task of m and its scratch, planned
 * here (m must outlive it); runs its work on pool with kernel set k
 * (src/engine/fast_threads.h, fast_kern.h; both outlive it).  trace (may be
 * NULL) gets head.ln, head.conv0..3, head.up0..2, head.cls and logits, as
 * from em_head_ref.  NULL on error (err set). */
typedef struct em_fast_head em_fast_head;
struct em_pool;
struct em_fast_kern;
em_fast_head *em_fast_head_new(const em_model *m, struct em_pool *pool, const struct em_fast_kern *k,
                               em_trace_fn trace, void *trace_user, em_err *err);
void em_fast_head_free(em_fast_head *h);
/* logits [C][img_h][img_w] of task from features [n_tok][dim] (token 0
 * dropped); allocates nothing.  One run at a time per head. */
int em_fast_head_run(em_fast_head *h, int task, const float *features, float *logits, em_err *err);
#endif
