/* Performance model of the Edge-MoE accelerator (issue 5, docs/sim.md).
 *
 * The backbone is modelled at the level of its pipelined loops, following
 * the dataflow of the accelerator twin in src/hw: a loop invocation costs
 * trips x II + depth cycles (II and depth from SPEC 4, overridable); loops
 * of one dataflow region overlap (the slowest sets the pace, every depth is
 * paid once); each phase is then limited by DRAM (bytes per AXI port at
 * axi_bits/8 x clock, all ports together at dram_gbps, plus burst latency).
 * The linear unit's weight tiles are loaded into ping-pong buffers: after
 * the first load, a tile step costs max(load of tile t+1, compute of tile
 * t).  MoE costs follow the real expert queues (tokens per expert).
 *
 * Trip counts are kept per op in the units of the hw twin's counters
 * (HW_TRIP_* in hw/hw_stats.h) so that tests/test_sim_trips.c can compare
 * them with an instrumented run of src/hw. */
#ifndef EM_SIM_H
#define EM_SIM_H
#include <stdint.h>
#include <stdio.h>
#include "edgemoe.h"
#include "hw/hw_stats.h"

/* Pipelined loops with an II and a depth (SPEC 4 unless noted). */
enum {
    EM_SIM_L_EMBED = 0,   /* patch-embed accumulate             3 / 33 */
    EM_SIM_L_LN_ACC,      /* LN accumulate                      1 / 80 */
    EM_SIM_L_LN_OUT,      /* LN output                          1 / 154 */
    EM_SIM_L_SQRT,        /* sqrt unit                          1 / 23 */
    EM_SIM_L_EXP,         /* exp unit                           1 / 19 */
    EM_SIM_L_RECIP,       /* 1/x unit                           1 / 50 */
    EM_SIM_L_GELU,        /* GELU unit                          1 / 6 */
    EM_SIM_L_WLOAD,       /* weight load per beat               1 / 5 */
    EM_SIM_L_BLOAD,       /* bias load per beat                 1 / 3 */
    EM_SIM_L_LIN_STEP,    /* linear tile step                   1 / 16 */
    EM_SIM_L_LIN_IN,      /* linear input direct                1 / 3 */
    EM_SIM_L_LIN_IN_G,    /* linear input gathered              1 / 79 */
    EM_SIM_L_LIN_OUT,     /* linear output direct               1 / 5 */
    EM_SIM_L_LIN_OUT_GS,  /* linear output gathered+scaled      1 / 148 */
    EM_SIM_L_KV,          /* K or V stream                      1 / 73 */
    EM_SIM_L_QK_STEP,     /* QK^T step                          1 / 15 */
    EM_SIM_L_SOFTMAX,     /* softmax update                     3 / 78 */
    EM_SIM_L_AV_STEP,     /* A.V step                           1 / 29 */
    EM_SIM_L_RESID,       /* residual add                       1 / 142 */
    EM_SIM_L_GATE_SM,     /* gate softmax update                3 / 24 */
    EM_SIM_L_GATE_DOT,    /* gate scores (not in SPEC 4: assumed 1 / 20) */
    EM_SIM_NLOOPS
};
extern const char *const em_sim_loop_names[EM_SIM_NLOOPS];

/* Ops of the backbone, in execution order within a block. */
enum {
    EM_SIM_OP_EMBED = 0, EM_SIM_OP_LN1, EM_SIM_OP_QKV, EM_SIM_OP_QK, EM_SIM_OP_AV,
    EM_SIM_OP_PROJ, EM_SIM_OP_ADD1, EM_SIM_OP_LN2, EM_SIM_OP_FC1, EM_SIM_OP_FC2,
    EM_SIM_OP_GATE, EM_SIM_OP_EXP1, EM_SIM_OP_EXP2, EM_SIM_OP_ADD2, EM_SIM_NOPS
};
extern const char *const em_sim_op_names[EM_SIM_NOPS];
/* The hw twin's op (HW_OP_*) whose trip counters an op's trips are added to. */
int em_sim_op_hw(int op);

/* AXI masters (logical roles; the original has five). */
enum { EM_SIM_PORT_W = 0, EM_SIM_PORT_IN, EM_SIM_PORT_OUT, EM_SIM_PORT_IN2, EM_SIM_PORT_MISC, EM_SIM_NPORTS };

typedef struct { int ii, depth; } em_sim_loop;

typedef struct {
    /* architecture */
    double clock_mhz;        /* 300 */
    int attn_p;              /* queries per group, 4 */
    int tile_in, tile_out;   /* linear tile, 16 x 16 */
    int axi_bits;            /* 256 */
    /* memory */
    double dram_gbps;        /* all ports together, 19.2 (ZCU102 PS DDR4-2400 x64 peak) */
    double port_gbps;        /* extra cap per port (0: axi_bits/8 x clock only) */
    double dram_latency_ns;  /* per burst, 150 */
    int burst_beats;         /* beats per burst, 16 */
    int outstanding;         /* bursts in flight per port, 16 */
    /* dataflow choices */
    int ln_token_overlap;    /* 1: LN accumulate of token t+1 overlaps output of t */
    int linear_input_buffered; /* 0: input re-read per output tile (hw twin); 1: once per call */
    int embed_weights_resident; /* 1: patch-embed weights loaded once, kept on chip */
    em_sim_loop loop[EM_SIM_NLOOPS];
    /* resource model (docs/sim.md) */
    double dsp_mul_32x16, dsp_mul_32x32, dsp_mul_8x16;
    double dsp_exp, dsp_recip, dsp_sqrt, dsp_gelu, dsp_div;
    int gate_lanes;          /* gate inputs per cycle (all experts in parallel): 8 */
    int lutram_max_depth;    /* banks this shallow go to LUTRAM, not BRAM: 32 */
    int dsp_budget, bram_budget; /* ZCU102: 2520, 1824 */
    double fmax_mhz;         /* estimated Fmax of the original synthesis (SPEC 4): 275;
                                the sweep flags clocks above it */
} em_sim_params;

void em_sim_params_default(em_sim_params *p);
/* Reads a JSON object of overrides (any key of em_sim_params by name, and
 * "loops": {"linear_step": {"ii": 1, "depth": 16}, ...}).  Unknown keys are
 * an error. */
int em_sim_params_load_json(em_sim_params *p, const char *path, em_err *err);
int em_sim_params_check(const em_sim_params *p, em_err *err);

typedef struct {
    double cycles;          /* modelled cycles (compute and memory overlapped) */
    double compute_cycles;  /* the same phases with DRAM taken as infinitely fast */
    double bytes_w;         /* weights read from DRAM */
    double bytes_act;       /* activations read and written */
} em_sim_cost;

typedef struct {
    em_sim_cost op[EM_SIM_NOPS];
    em_sim_cost total;
    int moe;                /* MoE block */
    int experts_used;       /* MoE: non-empty queues */
} em_sim_layer;

/* Cost of the MoE part (gate + experts) of all MoE blocks under three
 * schedules, for the savings report. */
typedef struct {
    double cycles, bytes;   /* as modelled: queues, used experts only */
    double dense_cycles, dense_bytes;       /* every expert on every token */
    double noqueue_cycles, noqueue_bytes;   /* top-k, but each token loads its experts */
} em_sim_moe;

typedef struct {
    double dsp, bram18k;
    double dsp_part[8], bram_part[8];
    const char *part_name[8];
    int n_parts;
} em_sim_res;

typedef struct {
    int n_layers;
    em_sim_cost embed;
    em_sim_layer layer[EM_MAX_LAYERS];
    em_sim_cost op_total[EM_SIM_NOPS];  /* per op over all layers */
    double cycles, latency_ms, fps;
    double bytes_weights, bytes_act;
    em_sim_moe moe;
    em_sim_res res;
    uint64_t trips[EM_SIM_NOPS][HW_NTRIPS];
} em_sim_result;

/* Models one image of one task.  expert_tokens: [n_moe][n_experts] queue
 * lengths of that task (em_task_output.expert_tokens). */
int em_sim_run(const em_sim_params *p, const em_config *c, const int32_t *expert_tokens,
               em_sim_result *r, em_err *err);
/* DSP and BRAM18K estimates alone. */
void em_sim_resources(const em_sim_params *p, const em_config *c, em_sim_res *r);

/* Design-space sweep: attn_p x tiles x clocks. */
typedef struct {
    int attn_p, tile_in, tile_out;
    double clock_mhz, latency_ms, dsp, bram18k;
    int fits, pareto, original;
} em_sim_point;
/* Fills pts (up to max) and returns how many; marks fits (within the DSP and
 * BRAM budgets), pareto (fits and no other fitting point is at least as
 * good in latency, DSP and BRAM and better in one) and original (P = 4,
 * 16 x 16, 300 MHz). */
int em_sim_sweep(const em_sim_params *base, const em_config *c, const int32_t *expert_tokens,
                 em_sim_point *pts, int max, em_err *err);

/* Reports (sim_report.c). */
void em_sim_print(FILE *f, const em_sim_params *p, const em_config *c, const em_sim_result *r);
/* One JSON object (caller frees). */
char *em_sim_json(const em_sim_params *p, const em_config *c, const em_sim_result *r, const char *task,
                  const char *routing_engine);
int em_sim_write_svg(const char *path, const em_config *c, const em_sim_result *r, const char *title,
                     em_err *err);
#endif
