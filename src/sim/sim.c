/* Performance model of the Edge-MoE accelerator: loop trips from the hw
 * twin's dataflow, II/depth from docs/spec.md#4-schedule-facts, ping-pong
 * weight tiles, memory
 * through master -> PS port -> DDR controller, resources, energy.  See
 * sim.h for the model and docs/sim.md for its assumptions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"
#include "sim/sim.h"

const char *const em_sim_loop_names[EM_SIM_NLOOPS] = {
    "embed", "ln_acc", "ln_out", "sqrt", "exp", "recip", "gelu", "weight_load", "bias_load",
    "linear_step", "linear_in", "linear_in_gathered", "linear_out", "linear_out_scaled",
    "kv_stream", "qk_step", "softmax", "av_step", "residual", "gate_softmax", "gate_dot"};

const char *const em_sim_master_names[EM_SIM_NMASTERS] = {"inout1", "inout2", "inout3", "inout4", "weights"};
const char *const em_sim_bound_names[EM_SIM_NBOUND] = {"compute", "port", "ddr", "latency"};

const char *const em_sim_op_names[EM_SIM_NOPS] = {
    "embed", "ln1", "qkv", "qk", "av", "proj", "add1", "ln2", "fc1", "fc2",
    "gate", "expert1", "expert2", "add2"};

int em_sim_op_hw(int op)
{
    static const int map[EM_SIM_NOPS] = {
        HW_OP_EMBED, HW_OP_LN, HW_OP_QKV, HW_OP_QK, HW_OP_AV, HW_OP_PROJ, HW_OP_RESID,
        HW_OP_LN, HW_OP_FC1, HW_OP_FC2, HW_OP_GATE, HW_OP_EXPERT1, HW_OP_EXPERT2, HW_OP_RESID};
    return op >= 0 && op < EM_SIM_NOPS ? map[op] : -1;
}

void em_sim_params_default(em_sim_params *p)
{
    static const em_sim_loop spec4[EM_SIM_NLOOPS] = {
        [EM_SIM_L_EMBED] = {3, 33},     [EM_SIM_L_LN_ACC] = {1, 80},   [EM_SIM_L_LN_OUT] = {1, 154},
        [EM_SIM_L_SQRT] = {1, 23},      [EM_SIM_L_EXP] = {1, 19},      [EM_SIM_L_RECIP] = {1, 50},
        [EM_SIM_L_GELU] = {1, 6},       [EM_SIM_L_WLOAD] = {1, 5},     [EM_SIM_L_BLOAD] = {1, 3},
        [EM_SIM_L_LIN_STEP] = {1, 16},  [EM_SIM_L_LIN_IN] = {1, 3},    [EM_SIM_L_LIN_IN_G] = {1, 79},
        [EM_SIM_L_LIN_OUT] = {1, 5},    [EM_SIM_L_LIN_OUT_GS] = {1, 148},
        [EM_SIM_L_KV] = {1, 73},        [EM_SIM_L_QK_STEP] = {1, 15},  [EM_SIM_L_SOFTMAX] = {3, 78},
        [EM_SIM_L_AV_STEP] = {1, 29},   [EM_SIM_L_RESID] = {1, 142},   [EM_SIM_L_GATE_SM] = {3, 24},
        [EM_SIM_L_GATE_DOT] = {1, 20},
    };
    memset(p, 0, sizeof *p);
    /* ZCU102 as the original was built (boards/zcu102.json: the sources) */
    snprintf(p->board, sizeof p->board, "zcu102");
    snprintf(p->part, sizeof p->part, "xczu9eg-ffvb1156-2-e");
    p->clock_mhz = 300;
    p->attn_p = 4;
    p->tile_in = p->tile_out = 16;
    p->axi_bits = 256;
    /* vivado.tcl: inout1 -> HPC1, inout2/3/4 -> HP0/1/2, weights -> HPC0,
     * each through a SmartConnect (256 -> 128 bits), all clocked by pl_clk0 */
    static const char *const port_of[EM_SIM_NMASTERS] = {"HPC1_FPD", "HP0_FPD", "HP1_FPD", "HP2_FPD", "HPC0_FPD"};
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        em_sim_port *q = &p->port[i];
        snprintf(q->name, sizeof q->name, "%s", port_of[i]);
        q->bits = 128;
        q->clock_mhz = 0;
        q->efficiency = 0.9;
        q->latency_ns = strncmp(port_of[i], "HPC", 3) ? 200 : 250;   /* HPC: through the CCI-400 */
    }
    p->dram_gbps = 19.2;
    p->dram_efficiency = 0.75;
    p->dram_activate_ns = 7.5;
    p->port_gbps = 0;
    p->dram_latency_ns = 200;
    p->burst_beats = 16;
    p->outstanding = 16;
    p->ln_token_overlap = 1;
    p->linear_input_buffered = 0;
    p->embed_weights_resident = 1;
    memcpy(p->loop, spec4, sizeof spec4);
    p->dsp_mul_32x16 = 2;   /* 32-bit operand split over two 27x18 multipliers */
    p->dsp_mul_32x32 = 4;
    p->dsp_mul_8x16 = 1;
    p->dsp_exp = 8;         /* range reduction + polynomial: ~2 wide products */
    p->dsp_recip = 12;      /* Newton-Raphson, 3 wide products */
    p->dsp_sqrt = 8;
    p->dsp_gelu = 1;        /* one multiply-add: slope x fraction */
    p->dsp_div = 12;
    p->fm_bits = 32;        /* the datapath's widths: em_sim_params_set_formats */
    p->wt_bits = 16;
    p->bqk_bits = 16;
    p->b5_bits = 16;
    p->pw_bits = 16;
    p->pix_bits = 8;
    p->gate_lanes = 8;
    p->lutram_max_depth = 32;
    p->dsp_budget = 2520;
    p->bram_budget = 1824;
    p->uram_budget = 0;
    p->lut_budget = 274080;
    p->fmax_mhz = 275;
    p->static_w = 3.5;
    p->pj_dsp_op = 2.5;
    p->pj_bram_access = 5;
    p->pj_uram_access = 15;
    p->pj_dram_byte = 150;
    p->pj_fabric_cycle = 5000;
}

int em_sim_params_check(const em_sim_params *p, em_err *err)
{
    if (!(p->clock_mhz > 0 && p->clock_mhz < 2000)) return em_error(err, EM_EARG, "sim: clock %g MHz out of range (0, 2000)", p->clock_mhz);
    if (p->attn_p < 1 || p->attn_p > 128) return em_error(err, EM_EARG, "sim: attn-p %d out of range 1..128", p->attn_p);
    if (p->tile_in < 1 || p->tile_out < 1 || p->tile_in > 256 || p->tile_out > 256)
        return em_error(err, EM_EARG, "sim: tile %dx%d out of range (1..256 each)", p->tile_in, p->tile_out);
    if (p->axi_bits < 32 || p->axi_bits > 1024 || (p->axi_bits & (p->axi_bits - 1)))
        return em_error(err, EM_EARG, "sim: axi-bits %d must be a power of two in 32..1024", p->axi_bits);
    if (!(p->dram_gbps > 0 && p->dram_gbps < 1e4)) return em_error(err, EM_EARG, "sim: dram_gbps %g out of range (0, 10000)", p->dram_gbps);
    if (!(p->dram_efficiency > 0 && p->dram_efficiency <= 1))
        return em_error(err, EM_EARG, "sim: dram_efficiency %g out of range (0, 1]", p->dram_efficiency);
    if (!(p->port_gbps >= 0 && p->dram_latency_ns >= 0 && p->dram_latency_ns < 1e6 && p->dram_activate_ns >= 0 && p->dram_activate_ns < 1e6))
        return em_error(err, EM_EARG, "sim: port_gbps, dram_latency_ns and dram_activate_ns must be >= 0 (and sane)");
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        const em_sim_port *q = &p->port[i];
        if (!q->name[0]) return em_error(err, EM_EARG, "sim: master %s has no PS port", em_sim_master_names[i]);
        if (q->bits < 8 || q->bits > 1024 || (q->bits & (q->bits - 1)))
            return em_error(err, EM_EARG, "sim: port %s: bits %d must be a power of two in 8..1024", q->name, q->bits);
        if (!(q->clock_mhz >= 0 && q->clock_mhz < 2000)) return em_error(err, EM_EARG, "sim: port %s: clock %g MHz out of range [0, 2000)", q->name, q->clock_mhz);
        if (!(q->efficiency > 0 && q->efficiency <= 1)) return em_error(err, EM_EARG, "sim: port %s: efficiency %g out of range (0, 1]", q->name, q->efficiency);
        if (!(q->latency_ns >= 0 && q->latency_ns < 1e6)) return em_error(err, EM_EARG, "sim: port %s: latency_ns %g out of range", q->name, q->latency_ns);
    }
    const int bits[] = {p->fm_bits, p->wt_bits, p->bqk_bits, p->b5_bits, p->pw_bits, p->pix_bits};
    for (int i = 0; i < 6; i++)
        if (bits[i] < 1 || bits[i] > 64) return em_error(err, EM_EARG, "sim: datapath widths must be 1..64 bits");
    if (p->dsp_budget < 1 || p->bram_budget < 0 || p->uram_budget < 0 || p->lut_budget < 0)
        return em_error(err, EM_EARG, "sim: budgets must be >= 0 (DSP >= 1)");
    const double en[] = {p->static_w, p->pj_dsp_op, p->pj_bram_access, p->pj_uram_access, p->pj_dram_byte, p->pj_fabric_cycle};
    for (size_t i = 0; i < sizeof en / sizeof *en; i++)
        if (!(en[i] >= 0 && en[i] < 1e9)) return em_error(err, EM_EARG, "sim: energy coefficients must be >= 0 and finite");
    if (p->burst_beats < 1 || p->outstanding < 1) return em_error(err, EM_EARG, "sim: burst_beats and outstanding must be >= 1");
    if (p->gate_lanes < 1) return em_error(err, EM_EARG, "sim: gate_lanes must be >= 1");
    for (int i = 0; i < EM_SIM_NLOOPS; i++)
        if (p->loop[i].ii < 1 || p->loop[i].depth < 0)
            return em_error(err, EM_EARG, "sim: loop %s: II must be >= 1 and depth >= 0", em_sim_loop_names[i]);
    return EM_OK;
}

/* ---- DRAM: master -> PS port -> DDR controller ---- */

enum { RD = 0, WR = 1 };
/* bytes read and written per master in one phase, bursts and contiguous
 * segments (each segment that does not follow the previous one opens a DDR
 * row) */
typedef struct { double b[2][EM_SIM_NMASTERS], bursts[EM_SIM_NMASTERS], segs[EM_SIM_NMASTERS]; } mem_t;

static double cdiv(double a, double b) { return ceil(a / b); }
static double dmax(double a, double b) { return a > b ? a : b; }

/* n segments of seg bytes each (each contiguous) read or written by a master */
static void mem_add(const em_sim_params *p, mem_t *m, int master, int dir, double n, double seg)
{
    if (n <= 0 || seg <= 0) return;
    m->b[dir][master] += n * seg;
    m->bursts[master] += n * cdiv(seg, (double)p->burst_beats * p->axi_bits / 8);
    m->segs[master] += n;
}

static void mem_merge(mem_t *a, const mem_t *b)
{
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        a->b[RD][i] += b->b[RD][i]; a->b[WR][i] += b->b[WR][i];
        a->bursts[i] += b->bursts[i]; a->segs[i] += b->segs[i];
    }
}

static double port_clock_hz(const em_sim_params *p, const em_sim_port *q)
{
    return (q->clock_mhz > 0 ? q->clock_mhz : p->clock_mhz) * 1e6;
}
static double port_latency_s(const em_sim_params *p, const em_sim_port *q)
{
    return (q->latency_ns > 0 ? q->latency_ns : p->dram_latency_ns) * 1e-9;
}
/* sustained bytes/s of a PS port */
static double port_bw(const em_sim_params *p, const em_sim_port *q)
{
    double bw = q->bits / 8.0 * port_clock_hz(p, q) * q->efficiency;
    if (p->port_gbps > 0 && p->port_gbps * 1e9 < bw) bw = p->port_gbps * 1e9;
    return bw;
}

/* Seconds to move m, and what limits it: the kernel's masters (axi_bits per
 * cycle each way: AXI reads and writes have separate channels), the PS ports
 * (the masters on one port share its bits x clock x efficiency, each way),
 * the DDR controller (reads and writes together at dram_gbps x efficiency,
 * plus dram_activate_ns per scattered segment), latency (a master keeps
 * `outstanding` bursts in flight).  The round trip of the slowest port is
 * paid once per phase. */
static double mem_seconds(const em_sim_params *p, const mem_t *m, int *bound, int *bound_master)
{
    const double kbw = p->axi_bits / 8.0 * p->clock_mhz * 1e6;
    double t = 0, total = 0, segs = 0, lat = 0;
    int any = 0;
    *bound = EM_SIM_B_COMPUTE; *bound_master = -1;
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        const double rd = m->b[RD][i], wr = m->b[WR][i];
        if (rd + wr <= 0) continue;
        any = 1;
        total += rd + wr;
        segs += m->segs[i];
        const double li = port_latency_s(p, &p->port[i]);
        lat = dmax(lat, li);
        const double tk = dmax(rd, wr) / kbw;
        if (tk > t) { t = tk; *bound = EM_SIM_B_PORT; *bound_master = i; }
        const double tl = m->bursts[i] * li / p->outstanding;
        if (tl > t) { t = tl; *bound = EM_SIM_B_LATENCY; *bound_master = i; }
        /* the PS port, shared with the other masters that name it */
        double prd = 0, pwr = 0;
        int first = 1;
        for (int j = 0; j < EM_SIM_NMASTERS; j++) {
            if (strcmp(p->port[j].name, p->port[i].name)) continue;
            if (j < i && m->b[RD][j] + m->b[WR][j] > 0) first = 0;   /* counted with that master */
            prd += m->b[RD][j]; pwr += m->b[WR][j];
        }
        if (!first) continue;
        const double tp = dmax(prd, pwr) / port_bw(p, &p->port[i]);
        if (tp > t) { t = tp; *bound = EM_SIM_B_PORT; *bound_master = i; }
    }
    if (!any) return 0;
    const double td = total / (p->dram_gbps * 1e9 * p->dram_efficiency) + segs * p->dram_activate_ns * 1e-9;
    if (td > t) { t = td; *bound = EM_SIM_B_DDR; *bound_master = -1; }
    return t + lat;
}

/* One phase: compute and its DRAM traffic overlap. */
static void phase(const em_sim_params *p, em_sim_cost *c, double compute, const mem_t *m)
{
    int bound = EM_SIM_B_COMPUTE, bm = -1;
    const double mc = m ? mem_seconds(p, m, &bound, &bm) * p->clock_mhz * 1e6 : 0;
    const double cyc = dmax(compute, mc);
    c->compute_cycles += compute;
    c->cycles += cyc;
    c->phases += 1;
    if (mc <= compute) bound = EM_SIM_B_COMPUTE;
    c->bound[bound] += cyc;
    if (bound == EM_SIM_B_PORT) { c->port_bound[bm] += cyc; c->port_bound_phases += 1; }
    if (m) {
        for (int i = 0; i < EM_SIM_NMASTERS; i++) {
            c->bytes_rd[i] += m->b[RD][i];
            c->bytes_wr[i] += m->b[WR][i];
            if (i == EM_SIM_M_WEIGHTS) c->bytes_w += m->b[RD][i] + m->b[WR][i];
            else c->bytes_act += m->b[RD][i] + m->b[WR][i];
        }
    }
}

static void cost_add(em_sim_cost *a, const em_sim_cost *b)
{
    a->cycles += b->cycles; a->compute_cycles += b->compute_cycles;
    a->bytes_w += b->bytes_w; a->bytes_act += b->bytes_act;
    for (int i = 0; i < EM_SIM_NMASTERS; i++) {
        a->bytes_rd[i] += b->bytes_rd[i]; a->bytes_wr[i] += b->bytes_wr[i];
        a->port_bound[i] += b->port_bound[i];
    }
    for (int i = 0; i < EM_SIM_NBOUND; i++) a->bound[i] += b->bound[i];
    a->phases += b->phases; a->port_bound_phases += b->port_bound_phases;
}

#define II(id) ((double)p->loop[id].ii)
#define DP(id) ((double)p->loop[id].depth)
/* a loop over 8-value blocks moving through a kernel master narrower than
 * 256 bits needs 256/axi_bits beats per block */
static double blk_ii(const em_sim_params *p, int id)
{
    double beats = p->axi_bits >= 256 ? 1 : 256.0 / p->axi_bits;
    return dmax(II(id), beats);
}

/* bytes of one fm value in DRAM (4 at the original <32,10>; narrower sets
 * are packed), and the bits of a bias as the linear unit loads it */
#define FMB(p) ((p)->fm_bits / 8.0)
static int bias_bits(const em_sim_params *p) { return p->bqk_bits > p->b5_bits ? p->bqk_bits : p->b5_bits; }

typedef uint64_t trips_t[HW_NTRIPS];
static void trip(trips_t *t, int loop, double n) { if (t) (*t)[loop] += (uint64_t)llround(n); }

/* the original's buffers on its masters (sim.h) */
enum { M_TMP1 = EM_SIM_M_INOUT1, M_SCORES = EM_SIM_M_INOUT1, M_IMAGE = EM_SIM_M_INOUT1,
       M_X = EM_SIM_M_INOUT2, M_TMP2 = EM_SIM_M_INOUT2, M_TMP3 = EM_SIM_M_INOUT3,
       M_HIDDEN = EM_SIM_M_INOUT4, M_SMINFO = EM_SIM_M_INOUT4, M_W = EM_SIM_M_WEIGHTS };

/* ---- ops ---- */

static void op_embed(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8);
    double T = (double)c->img_c * c->img_h * cdiv(c->grid_w, 2) * DB;
    trip(t, HW_TRIP_EMBED, T);
    mem_t m = {0};
    mem_add(p, &m, M_IMAGE, RD, c->img_c, (double)c->img_h * c->img_w * p->pix_bits / 8.0);   /* pixels */
    mem_add(p, &m, M_W, RD, 1, N * D * FMB(p));                                      /* pos_embed */
    if (!p->embed_weights_resident)
        mem_add(p, &m, M_W, RD, 1, D * c->img_c * c->patch * c->patch * p->pw_bits / 8.0 + D * p->b5_bits / 8.0);
    mem_add(p, &m, M_X, WR, 1, N * D * FMB(p));
    phase(p, k, T * II(EM_SIM_L_EMBED) + DP(EM_SIM_L_EMBED), &m);
}

static void op_ln(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8);
    double a = DB * blk_ii(p, EM_SIM_L_LN_ACC) + DP(EM_SIM_L_LN_ACC);
    double b = DP(EM_SIM_L_SQRT) + DP(EM_SIM_L_RECIP) + DB * II(EM_SIM_L_LN_OUT) + DP(EM_SIM_L_LN_OUT);
    double cyc = p->ln_token_overlap ? a + b + (N - 1) * dmax(a, b) : N * (a + b);
    trip(t, HW_TRIP_LN_ACC, N * DB);
    trip(t, HW_TRIP_LN_TOK, N);
    trip(t, HW_TRIP_LN_OUT, N * DB);
    mem_t m = {0};
    mem_add(p, &m, M_X, RD, 1, N * D * FMB(p));
    mem_add(p, &m, M_TMP1, WR, 1, N * D * FMB(p));
    mem_add(p, &m, M_W, RD, 2, D * p->b5_bits / 8.0);
    phase(p, k, cyc, &m);
}

enum { LF_GELU = 1, LF_GATHER = 2, LF_SCALE = 4, LF_QKV = 8 };

/* One call of the unified linear unit: R rows, I inputs, O outputs, input
 * on master in_m, output on out_m (LF_QKV: the k third of the columns on
 * tmp3, as the original writes k there). */
static void op_linear(const em_sim_params *p, double R, double I, double O, int flags, int in_m, int out_m,
                      em_sim_cost *k, trips_t *t)
{
    if (R <= 0) return;
    const double TI = p->tile_in, TO = p->tile_out, n_ot = cdiv(O, TO), n_it = cdiv(I, TI);
    const double in_blk = cdiv(I, 8);
    const double d_in = DP((flags & LF_GATHER) ? EM_SIM_L_LIN_IN_G : EM_SIM_L_LIN_IN);
    const double ii_in = blk_ii(p, (flags & LF_GATHER) ? EM_SIM_L_LIN_IN_G : EM_SIM_L_LIN_IN);
    const int out_id = (flags & LF_SCALE) ? EM_SIM_L_LIN_OUT_GS : EM_SIM_L_LIN_OUT;
    const double d_out = DP(out_id) + ((flags & LF_GELU) ? DP(EM_SIM_L_GELU) : 0);
    const double ii_out = blk_ii(p, out_id);
    /* input rows as DRAM segments: gathered rows are scattered */
    const double in_seg_n = (flags & LF_GATHER) ? R : 1, in_seg = (flags & LF_GATHER) ? I * FMB(p) : R * I * FMB(p);

    if (p->linear_input_buffered) {    /* input read once into an on-chip buffer */
        mem_t m = {0};
        mem_add(p, &m, in_m, RD, in_seg_n, in_seg);
        phase(p, k, R * in_blk * ii_in + d_in, &m);
        trip(t, HW_TRIP_LIN_IN, R * in_blk);
    }
    double prev_load = 0;
    mem_t prev_m = {0};
    for (double ot = 0; ot < n_ot; ot++) {
        const double o_t = fmin(TO, O - ot * TO);
        const double wbeats = cdiv(o_t * I * p->wt_bits, p->axi_bits), bbeats = cdiv(o_t * bias_bits(p), p->axi_bits);
        const double load = wbeats * II(EM_SIM_L_WLOAD) + DP(EM_SIM_L_WLOAD) + bbeats * II(EM_SIM_L_BLOAD) +
                            DP(EM_SIM_L_BLOAD);
        mem_t lm = {0};
        mem_add(p, &lm, M_W, RD, 1, o_t * I * p->wt_bits / 8.0);
        mem_add(p, &lm, M_W, RD, 1, o_t * bias_bits(p) / 8.0);
        trip(t, HW_TRIP_WLOAD, wbeats);
        trip(t, HW_TRIP_BLOAD, bbeats);
        if (ot == 0) phase(p, k, load, &lm);           /* the first load is exposed */
        else {                                         /* load of tile ot || compute of ot-1 */
            mem_merge(&prev_m, &lm);
            phase(p, k, dmax(prev_load, load), &prev_m);
        }
        /* compute of tile ot: input stream || tile steps || output stream */
        const double steps = R * n_it, out_blk = R * cdiv(o_t, 8);
        double in_tr = p->linear_input_buffered ? 0 : R * in_blk;
        double comp = dmax(dmax(in_tr * ii_in, steps * II(EM_SIM_L_LIN_STEP)), out_blk * ii_out) +
                      (p->linear_input_buffered ? 0 : d_in) + DP(EM_SIM_L_LIN_STEP) + d_out;
        trip(t, HW_TRIP_LIN_IN, in_tr);
        trip(t, HW_TRIP_LIN_STEP, steps);
        trip(t, HW_TRIP_LIN_OUT, out_blk);
        const double col = ot * TO, D3 = O / 3;
        const int om = (flags & LF_QKV) && col >= D3 && col < 2 * D3 ? M_TMP3 : out_m;
        memset(&prev_m, 0, sizeof prev_m);
        if (!p->linear_input_buffered) mem_add(p, &prev_m, in_m, RD, in_seg_n, in_seg);
        mem_add(p, &prev_m, om, WR, R, o_t * FMB(p));                      /* a TO-wide column slice per row */
        if (flags & LF_SCALE) mem_add(p, &prev_m, om, RD, R, o_t * FMB(p));  /* read-modify-write */
        prev_load = comp;
    }
    phase(p, k, prev_load, &prev_m);                   /* compute of the last tile */
}

/* QK^T with the online softmax: ceil(N/P) passes, each N + P - 1 key rows
 * of D/8 steps; K rows 0..P-2 are kept on chip for the wrap rows. */
static void op_qk(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8), H = c->n_heads, P = p->attn_p;
    const double rows = N + P - 1;
    for (double q0 = 0; q0 < N; q0 += P) {
        const double qv = fmin(P, N - q0);
        double steps = rows * DB * dmax(II(EM_SIM_L_QK_STEP), blk_ii(p, EM_SIM_L_KV));
        double sm = rows * P * II(EM_SIM_L_SOFTMAX);
        double cyc = dmax(steps, sm) + DP(EM_SIM_L_KV) + DP(EM_SIM_L_QK_STEP) + DP(EM_SIM_L_SOFTMAX) +
                     H * qv * II(EM_SIM_L_RECIP) + DP(EM_SIM_L_RECIP);
        mem_t m = {0};
        mem_add(p, &m, M_TMP3, RD, N, D * FMB(p));          /* K rows (stride 3D) */
        mem_add(p, &m, M_TMP2, RD, qv, D * FMB(p));         /* the group's queries */
        mem_add(p, &m, M_SCORES, WR, H * qv, N * FMB(p));   /* raw scores */
        mem_add(p, &m, M_SMINFO, WR, 1, qv * H * 2 * FMB(p)); /* R, m */
        phase(p, k, cyc, &m);
        trip(t, HW_TRIP_Q, qv * DB);
        trip(t, HW_TRIP_KV, N * DB);
        trip(t, HW_TRIP_ATTN_STEP, rows * DB);
        trip(t, HW_TRIP_SOFTMAX, rows * P);
        trip(t, HW_TRIP_RECIP, H * qv);
    }
}

static void op_av(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8), H = c->n_heads, P = p->attn_p;
    const double rows = N + P - 1;
    for (double q0 = 0; q0 < N; q0 += P) {
        const double qv = fmin(P, N - q0);
        double cyc = rows * DB * dmax(II(EM_SIM_L_AV_STEP), blk_ii(p, EM_SIM_L_KV)) + DP(EM_SIM_L_KV) +
                     DP(EM_SIM_L_EXP) + DP(EM_SIM_L_AV_STEP) + qv * DB * blk_ii(p, EM_SIM_L_LIN_OUT) +
                     DP(EM_SIM_L_LIN_OUT);
        mem_t m = {0};
        mem_add(p, &m, M_TMP2, RD, N, D * FMB(p));            /* V rows */
        mem_add(p, &m, M_SCORES, RD, H * qv, N * FMB(p));     /* scores */
        mem_add(p, &m, M_SMINFO, RD, 1, qv * H * 2 * FMB(p)); /* R, m */
        mem_add(p, &m, M_TMP1, WR, 1, qv * D * FMB(p));       /* outputs */
        phase(p, k, cyc, &m);
        trip(t, HW_TRIP_KV, N * DB);
        trip(t, HW_TRIP_ATTN_STEP, rows * DB);
    }
}

static void op_add(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8);
    mem_t m = {0};
    mem_add(p, &m, M_X, RD, 1, N * D * FMB(p));
    mem_add(p, &m, M_TMP3, RD, 1, N * D * FMB(p));
    mem_add(p, &m, M_X, WR, 1, N * D * FMB(p));
    phase(p, k, N * DB * blk_ii(p, EM_SIM_L_RESID) + DP(EM_SIM_L_RESID), &m);
    trip(t, HW_TRIP_RESID, N * DB);
}

static void op_gate(const em_sim_params *p, const em_config *c, em_sim_cost *k, trips_t *t)
{
    const double N = c->n_tok, D = c->dim, E = c->n_experts, K = c->top_k;
    const double wbeats = cdiv(E * D * p->wt_bits, p->axi_bits);
    mem_t lm = {0};
    mem_add(p, &lm, M_W, RD, 1, E * D * p->wt_bits / 8.0);
    phase(p, k, wbeats * II(EM_SIM_L_WLOAD) + DP(EM_SIM_L_WLOAD), &lm);
    trip(t, HW_TRIP_WLOAD, wbeats);
    const double dot = N * cdiv(D, p->gate_lanes);
    double cyc = dmax(dot * II(EM_SIM_L_GATE_DOT), N * E * II(EM_SIM_L_GATE_SM)) + DP(EM_SIM_L_GATE_DOT) +
                 DP(EM_SIM_L_GATE_SM) + DP(EM_SIM_L_EXP) + DP(EM_SIM_L_RECIP);
    mem_t m = {0};
    mem_add(p, &m, M_TMP1, RD, 1, N * D * FMB(p));
    mem_add(p, &m, M_HIDDEN, WR, E, N * K * (4 + FMB(p)) / E);    /* queues: token index + g_k */
    phase(p, k, cyc, &m);
    trip(t, HW_TRIP_GATE_DOT, dot);
    trip(t, HW_TRIP_GATE_SM, N * E);
}

/* The experts of one MoE block on their queues; returns experts used. */
static int op_experts(const em_sim_params *p, const em_config *c, const int32_t *tokens,
                      em_sim_cost *k1, em_sim_cost *k2, trips_t *t1, trips_t *t2)
{
    const double N = c->n_tok, D = c->dim, DB = cdiv(D, 8), EH = c->expert_hidden;
    int used = 0;
    mem_t zm = {0};                                      /* zero the MoE output buffer */
    mem_add(p, &zm, M_TMP3, WR, 1, N * D * FMB(p));
    phase(p, k2, N * DB * blk_ii(p, EM_SIM_L_LIN_OUT) + DP(EM_SIM_L_LIN_OUT), &zm);
    for (int e = 0; e < c->n_experts; e++) {
        if (tokens[e] <= 0) continue;
        used++;
        op_linear(p, tokens[e], D, EH, LF_GELU | LF_GATHER, M_TMP1, M_HIDDEN, k1, t1);
        op_linear(p, tokens[e], EH, D, LF_SCALE, M_HIDDEN, M_TMP3, k2, t2);
    }
    return used;
}

/* ---- resources ---- */

/* Weights per word of the linear unit's weight buffers: 32-bit words, two
 * <16,*> weights at the original, 32 / wt_bits narrower ones. */
static double weights_per_word(const em_sim_params *p) { return p->wt_bits >= 32 ? 1 : floor(32.0 / p->wt_bits); }

/* DSP48E2 slices for a signed a x b-bit product.  A slice multiplies 27 x 18
 * bits, two's complement (UG579, "DSP48E2 slice": 27 x 18 multiplier, 48-bit
 * accumulator); a wider operand is split into a signed top part and
 * unsigned lower parts of port - 1 bits (one bit of each signed port goes to
 * the sign), whose partial products are summed in the slices' adders and
 * cascade.  The better of the two orientations: 32 x 16 -> 2, 32 x 32 -> 4,
 * 24 x 24 -> 2, 24 x 16 -> 1, 16 x 16 -> 1, 8 x 16 -> 1. */
static double chunks(int n, int port) { return n <= port ? 1 : 1 + cdiv(n - port, port - 1); }
static double dsp_tiles(int a, int b)
{
    const double x = chunks(a, 27) * chunks(b, 18), y = chunks(a, 18) * chunks(b, 27);
    return x < y ? x : y;
}

/* DSPs per multiplier of each kind at the set's widths: the configured
 * count for the original widths (dsp_mul_32x16, ...) scaled by the tiling
 * rule, so that the original reproduces the configured figures exactly; the
 * elementary units (exp, 1/x, sqrt, division: wide products of fm values)
 * scale as an fm x fm product. */
typedef struct { double fw, ff, fb, pp, exp, recip, sqrt, div; } mults;
static void mults_of(const em_sim_params *p, mults *m)
{
    const int F = p->fm_bits;
    const double s = dsp_tiles(F, F) / dsp_tiles(32, 32);
    m->fw = p->dsp_mul_32x16 * dsp_tiles(F, p->wt_bits) / dsp_tiles(32, 16);   /* fm x weight */
    m->fb = p->dsp_mul_32x16 * dsp_tiles(F, p->b5_bits) / dsp_tiles(32, 16);   /* fm x LN gamma */
    m->ff = p->dsp_mul_32x32 * s;                                                /* fm x fm */
    m->pp = p->dsp_mul_8x16 * dsp_tiles(p->pix_bits + 1, p->pw_bits) / dsp_tiles(9, 16); /* unsigned pixel */
    m->exp = p->dsp_exp * s;
    m->recip = p->dsp_recip * s;
    m->sqrt = p->dsp_sqrt * s;
    m->div = p->dsp_div * s;
}

/* BRAM18K for `banks` memories of depth x width bits: the best aspect ratio
 * of a BRAM18K (16Kx1 .. 512x36); small buffers whose banks are at most
 * lutram_max_depth deep go to LUTRAM when lutram_ok. */
static double bram_any(const em_sim_params *p, double banks, double depth, double width, int lutram_ok)
{
    static const double cfg[6][2] = {{1, 16384}, {2, 8192}, {4, 4096}, {9, 2048}, {18, 1024}, {36, 512}};
    if (banks <= 0 || depth <= 0 || (lutram_ok && depth <= p->lutram_max_depth)) return 0;
    double best = 1e300;
    for (int i = 0; i < 6; i++) {
        double n = cdiv(width, cfg[i][0]) * cdiv(depth, cfg[i][1]);
        if (n < best) best = n;
    }
    return banks * best;
}
static double bram_banks(const em_sim_params *p, double banks, double depth, double width)
{
    return bram_any(p, banks, depth, width, 1);
}
/* URAM288 (4K x 72, fixed shape) for deep buffers on parts that have it */
static double uram_banks(double banks, double depth, double width)
{
    return banks <= 0 || depth <= 0 ? 0 : banks * cdiv(width, 72) * cdiv(depth, 4096);
}

int em_sim_fits(const em_sim_params *p, const em_sim_res *r)
{
    return r->dsp <= p->dsp_budget && r->bram18k <= p->bram_budget && r->uram <= p->uram_budget;
}

void em_sim_resources(const em_sim_params *p, const em_config *c, em_sim_res *r)
{
    const double TI = p->tile_in, TO = p->tile_out, P = p->attn_p, D = c->dim, DB = cdiv(D, 8);
    const double H = c->n_heads, N = c->n_tok, E = c->n_experts;
    double max_in = D;
    if (c->mlp_hidden > max_in) max_in = c->mlp_hidden;
    if (c->expert_hidden > max_in) max_in = c->expert_hidden;
    memset(r, 0, sizeof *r);
    mults mu;
    mults_of(p, &mu);
    const double FB = p->fm_bits;   /* buffer widths follow the formats */
    const double wpw = weights_per_word(p);
    int i = 0;
    /* unified linear unit: TI x TO MACs of fm x weight, a GELU per output
     * lane, 8 multipliers for y * g_k; two weight buffers (ping-pong), each
     * read TI x TO weights a cycle: TI*TO/2 banks of 32-bit words (two
     * weights; 32 / wt_bits of narrower ones) max_in/TI deep; optionally the
     * N x max_in input buffer */
    r->part_name[i] = "linear";
    r->dsp_part[i] = TI * TO * mu.fw + TO * p->dsp_gelu + 8 * mu.ff;
    r->bram_part[i] = 2 * bram_any(p, cdiv(TI * TO, wpw), cdiv(max_in, TI), wpw * p->wt_bits, 0);   /* always BRAM: 400 kbit */
    if (p->linear_input_buffered) {     /* deep: URAM where the part has it */
        if (p->uram_budget > 0) r->uram_part[i] += uram_banks(TI, N * cdiv(max_in, TI), FB);
        else r->bram_part[i] += bram_banks(p, TI, N * cdiv(max_in, TI), FB);
    }
    i++;
    /* attention: P x 8 multipliers in QK^T and in A.V (fm x fm); one
     * softmax unit (exp, S*E, 1/S) shared by the 3 heads (II 3) and by the
     * gate; the P x H weights a = E * R of A.V are needed once per key row
     * (DB cycles): ceil(P H / DB) exp + multiply units.  K/V wrap rows:
     * (P-1) x DB blocks of 256 bits each */
    r->part_name[i] = "attention";
    r->dsp_part[i] = 2 * P * 8 * mu.ff + mu.exp + mu.recip + mu.ff + cdiv(P * H, DB) * (mu.exp + mu.ff);
    r->bram_part[i] = 2 * bram_banks(p, 1, (P - 1) * DB, 8 * FB) + bram_banks(p, P, DB, 8 * FB);
    i++;
    /* LayerNorm, 8 lanes: x*c and x*(x*c) in accumulate, (x-mean)*r and
     * *gamma in output; mean^2, sqrt, 1/x per token.  Token buffer (PIPO)
     * and gamma/beta, reshaped by 8 */
    r->part_name[i] = "layernorm";
    r->dsp_part[i] = 8 * (2 * mu.ff) + 8 * (mu.ff + mu.fb) + mu.ff + mu.sqrt + mu.recip;
    r->bram_part[i] = bram_banks(p, 2, DB, 8 * FB) + bram_banks(p, 4, DB, 8.0 * p->b5_bits);
    i++;
    /* patch embed: an iteration makes 2 patches x 8 dims x 16 pixels
     * products of pixel x <16,0>, shared over II cycles; weights resident:
     * 8 banks (one per dim lane) of 16-weight rows */
    r->part_name[i] = "patch_embed";
    r->dsp_part[i] = cdiv(2 * 8 * c->patch, p->loop[EM_SIM_L_EMBED].ii) * mu.pp;
    if (p->embed_weights_resident) {
        if (p->uram_budget > 0) r->uram_part[i] = uram_banks(8, DB * c->img_c * c->patch, (double)p->pw_bits * c->patch);
        else r->bram_part[i] = bram_banks(p, 8, DB * c->img_c * c->patch, (double)p->pw_bits * c->patch);
    }
    i++;
    /* gate: all experts x gate_lanes products a cycle, g_k = E / S by a
     * divider; weights E banks, D / lanes deep; token queues on chip:
     * E x N token indices and g_k */
    r->part_name[i] = "gate+queues";
    r->dsp_part[i] = E * p->gate_lanes * mu.fw + mu.exp + mu.div;
    r->bram_part[i] = bram_banks(p, E, cdiv(D, p->gate_lanes), (double)p->gate_lanes * p->wt_bits) +
                      bram_banks(p, 1, E * N, ceil(log2(N + 1))) + bram_banks(p, 1, E * N, FB);
    i++;
    /* AXI masters: a read and a write buffer per port, outstanding x burst
     * beats of axi_bits (the HLS m_axi adapter) */
    r->part_name[i] = "axi";
    r->dsp_part[i] = 0;
    r->bram_part[i] = EM_SIM_NMASTERS * 2 * bram_banks(p, 1, (double)p->outstanding * p->burst_beats, p->axi_bits);
    i++;
    r->n_parts = i;
    for (int j = 0; j < i; j++) { r->dsp += r->dsp_part[j]; r->bram18k += r->bram_part[j]; r->uram += r->uram_part[j]; }
}

/* ---- energy (an estimate; docs/sim.md) ---- */

/* Activity from the trip counts: DSP operations (a DSP48E2 doing a useful
 * multiply or multiply-add, in the units of the resource model), BRAM and
 * URAM accesses of the big buffers and the AXI adapters, DRAM bytes, fabric
 * cycles; each times its coefficient. */
static void energy(const em_sim_params *p, const em_config *c, em_sim_result *r)
{
    double T[HW_NTRIPS] = {0};
    for (int op = 0; op < EM_SIM_NOPS; op++)
        for (int l = 0; l < HW_NTRIPS; l++) T[l] += (double)r->trips[op][l];
    const double TI = p->tile_in, TO = p->tile_out, P = p->attn_p, E = c->n_experts;
    em_sim_energy *e = &r->energy;
    memset(e, 0, sizeof *e);
    mults mu;
    mults_of(p, &mu);
    double d = T[HW_TRIP_LIN_STEP] * TI * TO * mu.fw;
    d += (double)(r->trips[EM_SIM_OP_FC1][HW_TRIP_LIN_OUT] + r->trips[EM_SIM_OP_EXP1][HW_TRIP_LIN_OUT]) * 8 * p->dsp_gelu;
    d += (double)r->trips[EM_SIM_OP_EXP2][HW_TRIP_LIN_OUT] * 8 * mu.ff;        /* y * g_k */
    d += T[HW_TRIP_ATTN_STEP] * P * 8 * mu.ff;
    d += T[HW_TRIP_SOFTMAX] * (mu.exp + mu.ff) + T[HW_TRIP_RECIP] * mu.recip;
    d += T[HW_TRIP_EMBED] * 2 * 8 * c->patch * mu.pp;
    d += T[HW_TRIP_LN_ACC] * 8 * 2 * mu.ff + T[HW_TRIP_LN_OUT] * 8 * (mu.ff + mu.fb) +
         T[HW_TRIP_LN_TOK] * (mu.sqrt + mu.recip + mu.ff);
    d += T[HW_TRIP_GATE_DOT] * E * p->gate_lanes * mu.fw + T[HW_TRIP_GATE_SM] * (mu.exp + mu.ff);
    e->dsp_ops = d;
    /* weight buffers: every tile step reads TI x TO / 2 banks, every weight
     * beat writes axi_bits / 32 words; attention: P query rows + K/V wrap
     * rows a step; AXI adapters: a write and a read of ceil(axi_bits/36)
     * BRAMs per beat moved; buffered input and patch-embed weights: BRAM or
     * URAM as the resource model placed them */
    const double beats = (r->bytes_weights + r->bytes_act) / (p->axi_bits / 8.0);
    double bram = T[HW_TRIP_LIN_STEP] * cdiv(TI * TO, weights_per_word(p)) + T[HW_TRIP_WLOAD] * p->axi_bits / 32.0 +
                  T[HW_TRIP_ATTN_STEP] * (P + 2) + beats * 2 * cdiv(p->axi_bits, 36);
    double deep = T[HW_TRIP_EMBED] * 8 + (p->linear_input_buffered ? T[HW_TRIP_LIN_IN] + T[HW_TRIP_LIN_STEP] * TI : 0);
    if (p->uram_budget > 0) e->uram_accesses = deep;
    else bram += deep;
    e->bram_accesses = bram;
    e->dram_bytes = r->bytes_weights + r->bytes_act;
    e->fabric_cycles = r->cycles;
    const double sec = r->latency_ms * 1e-3;
    e->static_j = p->static_w * sec;
    e->dsp_j = e->dsp_ops * p->pj_dsp_op * 1e-12;
    e->bram_j = (e->bram_accesses * p->pj_bram_access + e->uram_accesses * p->pj_uram_access) * 1e-12;
    e->dram_j = e->dram_bytes * p->pj_dram_byte * 1e-12;
    e->fabric_j = e->fabric_cycles * p->pj_fabric_cycle * 1e-12;
    e->total_j = e->static_j + e->dsp_j + e->bram_j + e->dram_j + e->fabric_j;
    e->images_per_j = e->total_j > 0 ? 1 / e->total_j : 0;
    e->avg_w = sec > 0 ? e->total_j / sec : 0;
}

/* ---- the whole backbone ---- */

int em_sim_run(const em_sim_params *p, const em_config *c, const int32_t *expert_tokens,
               em_sim_result *r, em_err *err)
{
    int rc;
    if ((rc = em_sim_params_check(p, err))) return rc;
    if (c->depth > EM_MAX_LAYERS) return em_error(err, EM_EARG, "sim: %d layers (max %d)", c->depth, EM_MAX_LAYERS);
    const int E = c->n_experts, K = c->top_k, N = c->n_tok;
    for (int l = 0; l < em_n_moe_layers(c); l++) {
        long sum = 0;
        for (int e = 0; e < E; e++) {
            int32_t v = expert_tokens[l * E + e];
            if (v < 0 || v > N) return em_error(err, EM_EVALUE, "sim: MoE block %d expert %d has %d tokens (0..%d)", l, e, v, N);
            sum += v;
        }
        if (sum != (long)N * K)
            return em_error(err, EM_EVALUE, "sim: MoE block %d queues hold %ld tokens, expected N x top_k = %d", l, sum, N * K);
    }
    memset(r, 0, sizeof *r);
    r->n_layers = c->depth;
    op_embed(p, c, &r->embed, &r->trips[EM_SIM_OP_EMBED]);
    r->op_total[EM_SIM_OP_EMBED] = r->embed;
    const double D = c->dim, MLP = c->mlp_hidden, EH = c->expert_hidden;
    int ml = 0;
    for (int L = 0; L < c->depth; L++) {
        em_sim_layer *ly = &r->layer[L];
        em_sim_cost *o = ly->op;
#define T(op) (&r->trips[op])
        op_ln(p, c, &o[EM_SIM_OP_LN1], T(EM_SIM_OP_LN1));
        op_linear(p, N, D, 3 * D, LF_QKV, M_TMP1, M_TMP2, &o[EM_SIM_OP_QKV], T(EM_SIM_OP_QKV));
        op_qk(p, c, &o[EM_SIM_OP_QK], T(EM_SIM_OP_QK));
        op_av(p, c, &o[EM_SIM_OP_AV], T(EM_SIM_OP_AV));
        op_linear(p, N, D, D, 0, M_TMP1, M_TMP3, &o[EM_SIM_OP_PROJ], T(EM_SIM_OP_PROJ));
        op_add(p, c, &o[EM_SIM_OP_ADD1], T(EM_SIM_OP_ADD1));
        op_ln(p, c, &o[EM_SIM_OP_LN2], T(EM_SIM_OP_LN2));
        if (!em_is_moe(c, L)) {
            op_linear(p, N, D, MLP, LF_GELU, M_TMP1, M_HIDDEN, &o[EM_SIM_OP_FC1], T(EM_SIM_OP_FC1));
            op_linear(p, N, MLP, D, 0, M_HIDDEN, M_TMP3, &o[EM_SIM_OP_FC2], T(EM_SIM_OP_FC2));
        } else {
            const int32_t *tok = expert_tokens + (size_t)ml * E;
            ly->moe = 1;
            op_gate(p, c, &o[EM_SIM_OP_GATE], T(EM_SIM_OP_GATE));
            ly->experts_used = op_experts(p, c, tok, &o[EM_SIM_OP_EXP1], &o[EM_SIM_OP_EXP2],
                                          T(EM_SIM_OP_EXP1), T(EM_SIM_OP_EXP2));
            /* savings: the same block with every expert on every token, and
             * with top-k routing but no queues (each token loads its experts) */
            em_sim_cost g = o[EM_SIM_OP_GATE], dense = g, noq = g, one = {0};
            for (int e = 0; e < E; e++) {
                op_linear(p, N, D, EH, LF_GELU, M_TMP1, M_HIDDEN, &dense, NULL);
                op_linear(p, N, EH, D, LF_SCALE, M_HIDDEN, M_TMP3, &dense, NULL);
            }
            op_linear(p, 1, D, EH, LF_GELU | LF_GATHER, M_TMP1, M_HIDDEN, &one, NULL);
            op_linear(p, 1, EH, D, LF_SCALE, M_HIDDEN, M_TMP3, &one, NULL);
            noq.cycles += (double)N * K * one.cycles;
            noq.bytes_w += (double)N * K * one.bytes_w;
            noq.bytes_act += (double)N * K * one.bytes_act;
            em_sim_cost act = g;
            cost_add(&act, &o[EM_SIM_OP_EXP1]);
            cost_add(&act, &o[EM_SIM_OP_EXP2]);
            r->moe.cycles += act.cycles;
            r->moe.bytes += act.bytes_w + act.bytes_act;
            r->moe.dense_cycles += dense.cycles;
            r->moe.dense_bytes += dense.bytes_w + dense.bytes_act;
            r->moe.noqueue_cycles += noq.cycles;
            r->moe.noqueue_bytes += noq.bytes_w + noq.bytes_act;
            ml++;
        }
        op_add(p, c, &o[EM_SIM_OP_ADD2], T(EM_SIM_OP_ADD2));
#undef T
        for (int i = 0; i < EM_SIM_NOPS; i++) {
            cost_add(&ly->total, &o[i]);
            cost_add(&r->op_total[i], &o[i]);
        }
    }
    r->all = r->embed;
    for (int L = 0; L < c->depth; L++) cost_add(&r->all, &r->layer[L].total);
    r->cycles = r->all.cycles;
    r->bytes_weights = r->all.bytes_w;
    r->bytes_act = r->all.bytes_act;
    r->latency_ms = r->cycles / (p->clock_mhz * 1e3);
    r->fps = r->latency_ms > 0 ? 1000.0 / r->latency_ms : 0;
    em_sim_resources(p, c, &r->res);
    energy(p, c, r);
    return EM_OK;
}

int em_sim_sweep(const em_sim_params *base, const em_config *c, const int32_t *expert_tokens,
                 em_sim_point *pts, int max, em_err *err)
{
    static const int ps[] = {1, 2, 4, 8, 16};
    static const int tiles[][2] = {{8, 8}, {8, 16}, {16, 16}, {32, 16}, {16, 32}, {32, 32}};
    static const double clocks[] = {200, 250, 300};
    int n = 0, rc;
    em_sim_result *r = malloc(sizeof *r);
    if (!r) return em_error(err, EM_ENOMEM, "out of memory");
    for (int buf = 0; buf < 2; buf++)
        for (size_t a = 0; a < sizeof ps / sizeof *ps; a++)
            for (size_t b = 0; b < sizeof tiles / sizeof *tiles; b++)
                for (size_t k = 0; k < sizeof clocks / sizeof *clocks; k++) {
                    if (n >= max) { free(r); return em_error(err, EM_EARG, "sim: sweep needs more than %d points", max); }
                    em_sim_params p = *base;
                    p.attn_p = ps[a]; p.tile_in = tiles[b][0]; p.tile_out = tiles[b][1]; p.clock_mhz = clocks[k];
                    p.linear_input_buffered = buf;
                    if ((rc = em_sim_run(&p, c, expert_tokens, r, err))) { free(r); return rc; }
                    em_sim_point *q = &pts[n++];
                    memset(q, 0, sizeof *q);
                    q->attn_p = p.attn_p; q->tile_in = p.tile_in; q->tile_out = p.tile_out; q->clock_mhz = p.clock_mhz;
                    q->input_buffered = buf;
                    q->latency_ms = r->latency_ms; q->dsp = r->res.dsp; q->bram18k = r->res.bram18k; q->uram = r->res.uram;
                    q->energy_mj = r->energy.total_j * 1e3;
                    q->port_bound_frac = r->cycles > 0 ? r->all.bound[EM_SIM_B_PORT] / r->cycles : 0;
                    q->fits = em_sim_fits(&p, &r->res);
                    q->original = p.attn_p == 4 && p.tile_in == 16 && p.tile_out == 16 && p.clock_mhz == 300 && !buf;
                }
    free(r);
    for (int i = 0; i < n; i++) {
        if (!pts[i].fits) continue;
        int dominated = 0;
        for (int j = 0; j < n && !dominated; j++) {
            if (j == i || !pts[j].fits) continue;
            const em_sim_point *a = &pts[j], *b = &pts[i];
            if (a->latency_ms <= b->latency_ms && a->dsp <= b->dsp && a->bram18k <= b->bram18k && a->uram <= b->uram &&
                (a->latency_ms < b->latency_ms || a->dsp < b->dsp || a->bram18k < b->bram18k || a->uram < b->uram))
                dominated = 1;
        }
        pts[i].pareto = !dominated;
    }
    return n;
}

void em_sim_params_set_formats(em_sim_params *p, const em_formats *f)
{
    p->fm_bits = f->fm.w;
    p->wt_bits = f->wt.w;
    p->bqk_bits = f->bqk.w;
    p->b5_bits = f->b5.w;
    p->pw_bits = f->pw.w;
    p->pix_bits = f->pix.w;
}
