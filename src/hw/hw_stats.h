/* Instrumentation of the accelerator model (not datapath): wrap counters
 * per op (how many stored values did not fit their format and wrapped),
 * and DRAM traffic counters used by the tests of the five ideas.  The top
 * function fills one hw_stats per run; the fixed engine and em_compare
 * read it. */
#ifndef HW_STATS_H
#define HW_STATS_H
#include <stdint.h>
#include "hw_config.h"

enum {
    HW_OP_EMBED = 0,   /* patch products, token sums, + pos_embed */
    HW_OP_LN,          /* LayerNorm: mean, msq, var, sqrt, 1/x, outputs */
    HW_OP_QKV,         /* q, k, v linear (products and sums) */
    HW_OP_QK,          /* q.k products, 8-sums, scaled scores */
    HW_OP_SOFTMAX,     /* online S, m, exp arguments, R */
    HW_OP_AV,          /* a = E * R, v * a products, outputs */
    HW_OP_PROJ,        /* attention projection */
    HW_OP_FC1,         /* dense fc1 (before GELU) */
    HW_OP_GELU,        /* GELU outputs */
    HW_OP_FC2,         /* dense fc2 */
    HW_OP_GATE,        /* gate scores, softmax, g_k */
    HW_OP_EXPERT1,     /* expert htoh4 */
    HW_OP_EXPERT2,     /* expert h4toh, y * g_k, accumulation */
    HW_OP_RESID,       /* residual adds x += ... */
    HW_N_OPS
};

extern const char *const hw_op_names[HW_N_OPS];

typedef struct {
    uint64_t wraps[HW_N_OPS];          /* values that wrapped on store */
    uint64_t stores[HW_N_OPS];         /* values stored (for the ratio) */
    /* attention: 8-value blocks of K and V read from DRAM, per block */
    uint64_t k_block_reads[HW_DEPTH];
    uint64_t v_block_reads[HW_DEPTH];
    uint64_t q_block_reads[HW_DEPTH];
    uint64_t attn_passes[HW_DEPTH];    /* query-group passes over K (QK^T) */
    uint64_t max_blocks_per_step;      /* most K/V blocks read in one step */
    /* MoE: weight values (wt_t) read from DRAM per MoE layer and expert */
    uint64_t expert_weight_reads[HW_NMOE][HW_E];
    int32_t  queue_len[HW_NMOE][HW_E];
    /* linear unit: weight tiles loaded, and loads overlapped with compute
     * (ping-pong: the next tile loads while the current one computes) */
    uint64_t weight_tiles;
    uint64_t weight_tiles_overlapped;
    uint64_t linear_weight_reads;      /* all linear weights, every layer */
} hw_stats;

/* store a wide value into fm, counting the wrap */
static inline int32_t hw_store(int64_t v, hw_stats *st, int op)
{
    st->stores[op]++;
    if (v < -2147483647LL - 1 || v > 2147483647LL) st->wraps[op]++;
    return (int32_t)(uint32_t)(uint64_t)v;
}

#endif
