/* Internals of the fixed engine shared with em_compare and the tests: the
 * accelerator's statistics (wrap counters, DRAM traffic) of the last run. */
#ifndef EM_ENGINE_FIXED_H
#define EM_ENGINE_FIXED_H
#include "engine/engine.h"
#include "hw/hw_units.h"

/* Stats of the last run of task t on a fixed engine (NULL if not run). */
const hw_stats *em_fixed_stats(const void *eng, int task);
/* Weight values that wrapped when the float model was quantised. */
uint64_t em_fixed_quant_wraps(const void *eng);
/* Shared with the fast twin (fixed_fast.c): the accelerator's sizes against
 * the model's (EM_EARG naming the first mismatch), and the host-side
 * quantisation of the float model into the accelerator's DRAM image
 * (*wraps += weights that wrapped). */
int em_fixed_check_config(const em_config *c, em_err *err);
void em_fixed_quantise(const em_model *m, hw_weights *w, const em_formats *f, uint64_t *wraps);
/* The formats src/hw was compiled for (HW_*_W, HW_*_I; the original by default). */
void em_fixed_compiled_formats(em_formats *f);
#endif
