/* The fast fixed-point twin (fixed_fast.c): bit-identical to src/hw. */
#ifndef EM_ENGINE_FIXED_FAST_H
#define EM_ENGINE_FIXED_FAST_H
#include "engine/engine.h"
#include "hw/hw_units.h"

extern const em_engine_ops em_engine_fixed_fast;
/* Counters of the last run of task t (wraps and stores per op, queue
 * lengths, expert weight reads), equal to src/hw's; NULL if not run. */
const hw_stats *em_fixed_fast_stats(const void *eng, int task);
/* For tests: the twin's experts of MoE layer ml on h with the given queues
 * (expert x: tokens tok[x][0..len[x]-1] with g values), as hw_experts;
 * writes the summed expert outputs to moe_out and adds counters to st. */
void em_fixed_fast_experts(void *eng, int ml, const fm_t h[HW_N][HW_D], const int32_t tok[HW_E][HW_N],
                           const fm_t g[HW_E][HW_N], const int32_t len[HW_E], fm_t moe_out[HW_N][HW_D], hw_stats *st);
/* Weight values that wrapped when the float model was quantised. */
uint64_t em_fixed_fast_quant_wraps(const void *eng);
/* Kernel set in use: "c", "gvec" or "avx2". */
const char *em_fixed_fast_isa(const void *eng);
#endif
