/* Performance model of the Edge-MoE accelerator and of the boards it runs
 * on (docs/sim.md; board profiles in boards/).
 *
 * The backbone is modelled at the level of its pipelined loops, following
 * the dataflow of the accelerator twin in src/hw: a loop invocation costs
 * trips x II + depth cycles (II and depth from
 * docs/spec.md#4-schedule-facts, overridable); loops
 * of one dataflow region overlap (the slowest sets the pace, every depth is
 * paid once).  Each such phase is then limited by memory on a board
 * (boards/NAME.json): the kernel's five AXI masters (axi_bits x clock each
 * way), the PS slave port each reaches (its bits x clock x efficiency,
 * shared by the masters on it), the shared DDR controller (sustained
 * bandwidth + a row activation per scattered segment) and the round trip;
 * what set the pace is recorded per phase.  The linear unit's weight tiles
 * are loaded into ping-pong buffers: after the first load, a tile step costs
 * max(load of tile t+1, compute of tile t).  MoE costs follow the real
 * expert queues (tokens per expert).  Energy per image is an estimate from
 * activity counts and per-board coefficients.
 *
 * Trip counts are kept per op in the units of the hw twin's counters
 * (HW_TRIP_* in hw/hw_stats.h) so that tests/check_sim_trips.c can compare
 * them with an instrumented run of src/hw. */
#ifndef EM_SIM_H
#define EM_SIM_H
#include <stdint.h>
#include <stdio.h>
#include "edgemoe.h"
#include "hw/hw_stats.h"

/* Pipelined loops with an II and a depth (docs/spec.md#4-schedule-facts
 * unless noted). */
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
    EM_SIM_L_GATE_DOT,    /* gate scores (not in the synthesis report: assumed 1 / 20) */
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

/* The kernel's five AXI masters, as the original bundles its buffers
 * (HLS interface pragmas of the authors' kernel): inout1 = tmp1, attention
 * scores, image; inout2 = tmp2 (q, v), x; inout3 = tmp3 (k, projections,
 * MoE output); inout4 = tmp_hidden, softmax (R, m); weights = every weight. */
enum { EM_SIM_M_INOUT1 = 0, EM_SIM_M_INOUT2, EM_SIM_M_INOUT3, EM_SIM_M_INOUT4, EM_SIM_M_WEIGHTS, EM_SIM_NMASTERS };
extern const char *const em_sim_master_names[EM_SIM_NMASTERS];

/* What set the pace of a phase (one overlapped region). */
enum {
    EM_SIM_B_COMPUTE = 0, /* the loops */
    EM_SIM_B_PORT,        /* a PS slave port (width x clock, shared by the masters on it) or a kernel master */
    EM_SIM_B_DDR,         /* the shared DDR controller (sustained bandwidth + row activations) */
    EM_SIM_B_LATENCY,     /* too few bursts in flight to hide the round trip */
    EM_SIM_NBOUND
};
extern const char *const em_sim_bound_names[EM_SIM_NBOUND];

typedef struct { int ii, depth; } em_sim_loop;

/* The PS slave port a kernel master reaches (through a SmartConnect that
 * converts the width).  Masters naming the same port share it. */
typedef struct {
    char name[24];           /* e.g. "HP0_FPD" */
    int bits;                /* data width at the PS: 128 on ZynqMP (UG1085) */
    double clock_mhz;        /* 0: the fabric clock (saxi*_aclk tied to pl_clk0) */
    double efficiency;       /* sustained fraction of bits x clock */
    double latency_ns;       /* read round trip to DDR through this port */
} em_sim_port;

typedef struct {
    /* board (boards/NAME.json) */
    char board[32];          /* profile name, "zcu102" */
    char part[48];           /* "xczu9eg-ffvb1156-2-e" */
    /* architecture */
    double clock_mhz;        /* fabric clock, 300 */
    int attn_p;              /* queries per group, 4 */
    int tile_in, tile_out;   /* linear tile, 16 x 16 */
    int axi_bits;            /* kernel master width, 256 */
    /* memory: master -> PS port -> DDR controller */
    em_sim_port port[EM_SIM_NMASTERS]; /* the PS port of each master (EM_SIM_M_*) */
    double dram_gbps;        /* DDR peak, 19.2 (PS DDR4-2400 x64) */
    double dram_efficiency;  /* sustained fraction of the peak for this traffic, 0.75 */
    double dram_activate_ns; /* cost of one scattered segment (a row activation, tFAW/4), 7.5 */
    double port_gbps;        /* extra cap on every PS port (0: none) */
    double dram_latency_ns;  /* per burst, where a port gives none (latency_ns 0) */
    int burst_beats;         /* beats per burst, 16 */
    int outstanding;         /* bursts in flight per master, 16 */
    /* dataflow choices */
    int ln_token_overlap;    /* 1: LN accumulate of token t+1 overlaps output of t */
    int linear_input_buffered; /* 0: input re-read per output tile (hw twin); 1: once per call */
    int embed_weights_resident; /* 1: patch-embed weights loaded once, kept on chip */
    em_sim_loop loop[EM_SIM_NLOOPS];
    /* resource model (docs/sim.md) */
    double dsp_mul_32x16, dsp_mul_32x32, dsp_mul_8x16;
    double dsp_exp, dsp_recip, dsp_sqrt, dsp_gelu, dsp_div;
    int gate_lanes;          /* gate inputs per cycle (all experts in parallel): 8 */
    /* datapath widths in bits (em_sim_params_set_formats; the original: fm
     * 32, weights 16, biases 16, patch weights 16, pixels 8): DSPs per
     * multiplier, on-chip buffer widths and DRAM bytes follow them; the
     * dsp_mul_* above are the counts at the original widths */
    int fm_bits, wt_bits, bqk_bits, b5_bits, pw_bits, pix_bits;
    int lutram_max_depth;    /* banks this shallow go to LUTRAM, not BRAM: 32 */
    int dsp_budget, bram_budget, uram_budget, lut_budget; /* ZCU102: 2520, 1824, 0, 274080 */
    double fmax_mhz;         /* estimated Fmax of the original synthesis
                                (docs/spec.md#4-schedule-facts): 275;
                                the sweep flags clocks above it */
    /* energy model (docs/sim.md): an estimate, every coefficient a config key */
    double static_w;         /* board power whether or not the kernel works */
    double pj_dsp_op;        /* one DSP48E2 doing a useful multiply(-add) */
    double pj_bram_access;   /* one BRAM18K read or write */
    double pj_uram_access;   /* one URAM288 read or write */
    double pj_dram_byte;     /* one byte to or from DDR: PS interconnect, controller, PHY, DRAM */
    double pj_fabric_cycle;  /* clock tree, LUTs, FFs, routing of the kernel per cycle */
} em_sim_params;

/* The ZCU102 as the original was built (boards/zcu102.json holds the same
 * figures with their sources; tests/test_sim_board.c checks they agree). */
void em_sim_params_default(em_sim_params *p);
/* Reads a JSON object of overrides: any key of em_sim_params by name, in
 * the object or in a group ("resources", "clock", "dram", "energy",
 * "dataflow", "architecture"); "loops": {"linear_step": {"ii": 1, "depth": 16}, ...};
 * "ports": {"HP0_FPD": {"bits": 128, ...}}; "masters": {"inout1": "HPC1_FPD", ...};
 * "board", "part" (strings); "description", "source", "sources", "note",
 * "notes" and keys ending in "_source" are documentation (strings or arrays
 * of strings).  Unknown keys are an error. */
int em_sim_params_load_json(em_sim_params *p, const char *path, em_err *err);
/* A board profile: the same format, starting from nothing; the keys every
 * board must give (budgets, clock, DDR, every master's port, energy) are
 * required. */
int em_sim_board_load(em_sim_params *p, const char *path, em_err *err);
/* NAME (a file NAME.json in the boards folder) or a path (contains '/' or
 * ends in .json) -> path of the profile.  The boards folder: $EDGEMOE_BOARDS,
 * else ../boards and ../share/edgemoe/boards next to the executable (exe_dir),
 * else the compile-time EM_BOARDS_DIR (the source tree's boards/). */
int em_sim_board_path(const char *name, const char *exe_dir, char *path, size_t cap, em_err *err);
int em_sim_params_check(const em_sim_params *p, em_err *err);
/* The datapath widths of a format set (docs/formats.md#cost). */
void em_sim_params_set_formats(em_sim_params *p, const em_formats *f);

typedef struct {
    double cycles;          /* modelled cycles (compute and memory overlapped) */
    double compute_cycles;  /* the same phases with DRAM taken as infinitely fast */
    double bytes_w;         /* weights read from DRAM */
    double bytes_act;       /* activations read and written */
    double bytes_rd[EM_SIM_NMASTERS], bytes_wr[EM_SIM_NMASTERS]; /* per master */
    double bound[EM_SIM_NBOUND];            /* cycles by what set the pace */
    double port_bound[EM_SIM_NMASTERS];     /* port-bound cycles by the master whose port limited */
    double phases, port_bound_phases;       /* phases, and those a port limited */
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
    double dsp, bram18k, uram;
    double dsp_part[8], bram_part[8], uram_part[8];
    const char *part_name[8];
    int n_parts;
} em_sim_res;
/* within the board's DSP, BRAM18K and URAM budgets */
int em_sim_fits(const em_sim_params *p, const em_sim_res *r);

/* Energy of one image (an estimate: em_sim_params coefficients).  The parts
 * add up to total_j. */
typedef struct {
    double dsp_ops, bram_accesses, uram_accesses, dram_bytes, fabric_cycles; /* activity */
    double static_j, dsp_j, bram_j, dram_j, fabric_j;                        /* parts */
    double total_j, images_per_j, avg_w;
} em_sim_energy;

typedef struct {
    int n_layers;
    em_sim_cost embed;
    em_sim_layer layer[EM_MAX_LAYERS];
    em_sim_cost op_total[EM_SIM_NOPS];  /* per op over all layers */
    double cycles, latency_ms, fps;
    double bytes_weights, bytes_act;
    em_sim_moe moe;
    em_sim_res res;
    em_sim_energy energy;
    em_sim_cost all;        /* every phase of the image (bound, bytes per master) */
    uint64_t trips[EM_SIM_NOPS][HW_NTRIPS];
} em_sim_result;

/* Models one image of one task.  expert_tokens: [n_moe][n_experts] queue
 * lengths of that task (em_task_output.expert_tokens). */
int em_sim_run(const em_sim_params *p, const em_config *c, const int32_t *expert_tokens,
               em_sim_result *r, em_err *err);
/* DSP and BRAM18K estimates alone. */
void em_sim_resources(const em_sim_params *p, const em_config *c, em_sim_res *r);

/* Design-space sweep: attn_p x tiles x clocks x linear input (re-read per
 * output tile, or kept on chip). */
typedef struct {
    int attn_p, tile_in, tile_out, input_buffered;
    double clock_mhz, latency_ms, dsp, bram18k, uram, energy_mj;
    double port_bound_frac;  /* share of the cycles a PS port set the pace */
    int fits, pareto, original;
} em_sim_point;
#define EM_SIM_SWEEP_MAX 256
/* Fills pts (up to max) and returns how many; marks fits (within the DSP,
 * BRAM and URAM budgets), pareto (fits and no other fitting point is at
 * least as good in latency, DSP, BRAM and URAM and better in one) and
 * original (P = 4, 16 x 16, 300 MHz, input re-read per tile). */
int em_sim_sweep(const em_sim_params *base, const em_config *c, const int32_t *expert_tokens,
                 em_sim_point *pts, int max, em_err *err);

/* Reports (sim_report.c). */
/* Chrome trace-event JSON (Perfetto, chrome://tracing): a span per layer
 * and op (bound and bytes in args), bandwidth per port as counters.
 * Written to a temporary name and renamed. */
int em_sim_write_trace(const char *path, const em_sim_params *p, const em_config *c, const em_sim_result *r,
                       const char *task, em_err *err);
void em_sim_print(FILE *f, const em_sim_params *p, const em_config *c, const em_sim_result *r);
/* One JSON object (caller frees). */
char *em_sim_json(const em_sim_params *p, const em_config *c, const em_sim_result *r, const char *task,
                  const char *routing_engine);
int em_sim_write_svg(const char *path, const em_config *c, const em_sim_result *r, const char *title,
                     em_err *err);
#endif
