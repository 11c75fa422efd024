/* The fast fixed-point twin (fixed_fast.c): bit-identical to src/hw. */
#ifndef EM_ENGINE_FIXED_FAST_H
#define EM_ENGINE_FIXED_FAST_H
#include "engine/engine.h"
#include "hw/hw_stats.h"

extern const em_engine_ops em_engine_fixed_fast;
/* Counters of the last run of task t (wraps and stores per op, queue
 * lengths, expert weight reads), equal to src/hw's; NULL if not run. */
const hw_stats *em_fixed_fast_stats(const void *eng, int task);
/* Kernel set in use: "c", "gvec" or "avx2". */
const char *em_fixed_fast_isa(const void *eng);
#endif
