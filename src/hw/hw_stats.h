/* Instrumentation of the accelerator model (not datapath): wrap counters
 * per op (how many stored values did not fit their format and wrapped),
 * and DRAM traffic counters used by the tests of the five ideas.  The top
 * function fills one hw_stats per run; the fixed engine and em_compare
 * read it. */
#ifndef HW_STATS_H
#define HW_STATS_H
#include <stdint.h>
#include "hw_config.h"
#include "hw_fixed.h"

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

/* Modelled loops (docs/spec.md#4-schedule-facts); units of the trip counters below. */
enum {
    HW_TRIP_EMBED = 0, /* patch-embed accumulate: (channel, row, 2 patches, 8 dims) */
    HW_TRIP_LN_ACC,    /* LayerNorm accumulate, per token and 8-block */
    HW_TRIP_LN_TOK,    /* LayerNorm sqrt + 1/x, per token */
    HW_TRIP_LN_OUT,    /* LayerNorm output, per token and 8-block */
    HW_TRIP_WLOAD,     /* linear weight load, per 256-bit beat */
    HW_TRIP_BLOAD,     /* linear bias load, per 256-bit beat */
    HW_TRIP_LIN_IN,    /* linear input, per 8-block read (direct or gathered) */
    HW_TRIP_LIN_STEP,  /* linear tile step (16 inputs x 16 outputs) */
    HW_TRIP_LIN_OUT,   /* linear output, per 8-block written (direct or scaled) */
    HW_TRIP_Q,         /* attention: query 8-blocks loaded */
    HW_TRIP_KV,        /* attention: K or V 8-blocks streamed from DRAM */
    HW_TRIP_ATTN_STEP, /* QK^T or A.V step, per 8-block of a key row (N + P - 1 rows a pass) */
    HW_TRIP_SOFTMAX,   /* softmax update, per key row and query lane of the group */
    HW_TRIP_RECIP,     /* attention 1/S, per query and head */
    HW_TRIP_GATE_DOT,  /* gate scores, per token and 8-block (all experts at once) */
    HW_TRIP_GATE_SM,   /* gate softmax update, per token and expert */
    HW_TRIP_RESID,     /* residual add, per 8-block */
    HW_NTRIPS
};

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
    /* loop trips per op (HW_TRIP_*), filled only when HW_COUNT_TRIPS */
    uint64_t trips[HW_N_OPS][HW_NTRIPS];
} hw_stats;

/* Loop-trip counters for the performance model's cross-check (src/sim,
 * tests/check_sim_trips.c).  HW_TRIP(st, op, loop) in the body of a loop
 * counts one iteration of the modelled pipelined loop `loop` (docs/spec.md#4-schedule-facts);
 * HW_TRIP_N adds n of them where one C loop body stands for several.
 * Both compile to nothing unless HW_COUNT_TRIPS is defined, so the
 * datapath build is unchanged (the array above stays zero). */
#if defined(HW_COUNT_TRIPS) && !defined(__SYNTHESIS__)
#define HW_TRIP_N(st, op, loop, n) ((st)->trips[(op)][(loop)] += (uint64_t)(n))
#else
#define HW_TRIP_N(st, op, loop, n) ((void)0)
#endif
#define HW_TRIP(st, op, loop) HW_TRIP_N(st, op, loop, 1)

/* The synthesis view: an HLS tool defines __SYNTHESIS__, and then every
 * statistic (wrap and store counters, DRAM traffic, queue lengths) and
 * every simulation-only check compiles to nothing; the datapath is the same
 * code in both views.  HW_STAT(statements) runs them in simulation only. */
#ifdef __SYNTHESIS__
#define HW_SIM 0
#define HW_STAT(...) ((void)0)
#else
#define HW_SIM 1
#define HW_STAT(...) do { __VA_ARGS__; } while (0)
#endif

/* store a wide value into fm (keep the low FM_W bits), counting the wrap in
 * simulation */
static inline int32_t hw_store(int64_t v, hw_stats *st, int op)
{
    HW_STAT(st->stores[op]++; if (fx_wraps_fm(v)) st->wraps[op]++);
    return fx_wrap_fm(v);
}

#endif
