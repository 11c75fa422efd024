/* The Edge-MoE accelerator's hardware units and its DRAM layout.
 *
 * Everything the accelerator reads or writes lives in two memory regions
 * reached through AXI masters: hw_weights (read-only, filled by the host)
 * and hw_act (activations between ops, as in the original: the backbone's
 * ops exchange tensors through DRAM).  Vectors move as 8-value blocks.
 * Each unit below is one hardware block; hw_top.c chains them. */
#ifndef HW_UNITS_H
#define HW_UNITS_H
#include <stdint.h>
#include "hw_config.h"
#include "hw_fixed.h"
#include "hw_stats.h"

/* ---- DRAM: weights (quantised once by the host) ---- */
typedef struct {
    pw_t  patch_w[HW_D][HW_PATCH_K];          /* <16,0>  [D][C*16*16] */
    b5_t  patch_b[HW_D];                      /* <16,5> */
    fm_t  pos[HW_N][HW_D];                    /* fm; row 0: class token folded in */
    b5_t  ln1_w[HW_DEPTH][HW_D], ln1_b[HW_DEPTH][HW_D];   /* <16,5> */
    b5_t  ln2_w[HW_DEPTH][HW_D], ln2_b[HW_DEPTH][HW_D];
    wt_t  qkv_w[HW_DEPTH][3 * HW_D][HW_D];    /* <16,2> */
    bqk_t qkv_b[HW_DEPTH][3 * HW_D];          /* <16,7> */
    wt_t  proj_w[HW_DEPTH][HW_D][HW_D];
    bqk_t proj_b[HW_DEPTH][HW_D];
    wt_t  fc1_w[HW_NDENSE][HW_MLP][HW_D];
    b5_t  fc1_b[HW_NDENSE][HW_MLP];
    wt_t  fc2_w[HW_NDENSE][HW_D][HW_MLP];
    b5_t  fc2_b[HW_NDENSE][HW_D];
    wt_t  gate_w[HW_NMOE][HW_TASKS][HW_E][HW_D];
    wt_t  exp1_w[HW_NMOE][HW_E][HW_EH][HW_D]; /* htoh4 */
    b5_t  exp1_b[HW_NMOE][HW_E][HW_EH];
    wt_t  exp2_w[HW_NMOE][HW_E][HW_D][HW_EH]; /* h4toh */
    b5_t  exp2_b[HW_NMOE][HW_E][HW_D];
} hw_weights;

/* ---- DRAM: activations ---- */
typedef struct {
    fm_t x[HW_N][HW_D];                       /* residual stream */
    fm_t h[HW_N][HW_D];                       /* LayerNorm output */
    fm_t qkv[HW_N][3 * HW_D];                 /* q | k | v per token */
    fm_t scores[HW_HEADS][HW_N][HW_N];        /* raw scores s(q, k) */
    fm_t rm[HW_N][HW_HEADS][2];               /* per row and head: R = 1/S, m */
    fm_t attn[HW_N][HW_D];                    /* A.V, heads concatenated */
    fm_t y[HW_N][HW_D];                       /* proj / fc2 output */
    fm_t hid[HW_N][HW_MLP];                   /* fc1 or expert fc1 output */
    fm_t moe[HW_N][HW_D];                     /* expert outputs, summed */
    int32_t queue_tok[HW_E][HW_N];            /* expert queues: tokens ... */
    fm_t    queue_g[HW_E][HW_N];              /* ... and their g_k */
    int32_t queue_len[HW_E];
} hw_act;

/* Per MoE layer, token and slot: chosen expert and its g_k (slot 0 = top). */
typedef struct { int32_t expert; fm_t g; } hw_route;

/* ---- units ---- */
void hw_patch_embed(const pix_t image[HW_IMG_C][HW_IMG_H][HW_IMG_W],
                    const hw_weights *w, fm_t x[HW_N][HW_D], hw_stats *st);

void hw_layernorm(fm_t x[HW_N][HW_D], const b5_t gamma[HW_D], const b5_t beta[HW_D],
                  fm_t y[HW_N][HW_D], hw_stats *st);

/* Unified linear unit: out_o = bias_o + sum_i fm(in_i * W_oi), W [out_dim][in_dim].
 * Modes (or-ed): */
#define LIN_PLAIN     0
#define LIN_GELU      1   /* fm GELU on the output (fc1, expert fc1) */
#define LIN_GATHER_IN 2   /* input row r is row list[r] of in (expert fc1) */
#define LIN_SCALE_ACC 4   /* out[list[r]] += fm(y * scale[r]) (expert fc2) */
/* bias: <16,7> (bias_f = 9) or <16,5> (bias_f = 11).  Each weight is read
 * from DRAM exactly once (counted in st->linear_weight_reads). */
void hw_linear(const fm_t *in, const wt_t *w, const int16_t *bias, int bias_f,
               fm_t *out, int n_rows, int in_dim, int out_dim, int mode,
               const int32_t *list, const fm_t *scale, hw_stats *st, int op);

/* Online softmax update (docs/spec.md#32-idea-2-single-pass-softmax), shared by attention and the gate. */
void hw_softmax_update(fm_t *S, fm_t *m, fm_t s, hw_stats *st, int op);

/* QK^T with the online softmax, query groups of ATTN_P; then A.V. */
void hw_attn_qk(fm_t qkv[HW_N][3 * HW_D], fm_t scores[HW_HEADS][HW_N][HW_N],
                fm_t rm[HW_N][HW_HEADS][2], hw_stats *st, int layer);
void hw_attn_av(fm_t qkv[HW_N][3 * HW_D], fm_t scores[HW_HEADS][HW_N][HW_N],
                fm_t rm[HW_N][HW_HEADS][2], fm_t out[HW_N][HW_D], hw_stats *st, int layer);

/* Gate of one task: scores, online softmax, top-2, expert queues. */
void hw_gate(fm_t h[HW_N][HW_D], const wt_t wg[HW_E][HW_D], hw_act *a,
             hw_route route[HW_N][HW_TOPK], hw_stats *st);
/* Experts with a non-empty queue, ascending; each one's weights read once.
 * Writes the summed expert outputs into a->moe. */
void hw_experts(const hw_weights *w, int moe_layer, hw_act *a, hw_stats *st);

/* x += y, elementwise over the N x D residual stream. */
void hw_residual(fm_t x[HW_N][HW_D], fm_t y[HW_N][HW_D], hw_stats *st);

/* ---- top: one image, one task ---- */
void hw_edgemoe_top(const hw_weights *w, const pix_t image[HW_IMG_C][HW_IMG_H][HW_IMG_W],
                    int task, hw_act *a, fm_t tap[HW_DEPTH + 1][HW_N][HW_D],
                    hw_route route[HW_NMOE][HW_N][HW_TOPK], hw_stats *st);

#endif
