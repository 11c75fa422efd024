/* Top function: one image, one task, over memory buffers (the original's
 * kernel).  The backbone's ops run one after another and exchange tensors
 * through DRAM (hw_act).  tap[0] receives the patch-embed output and
 * tap[L+1] the output of block L (a debug port: the final features are
 * tap[HW_DEPTH]); route receives the gate decisions of every MoE block. */
#include "hw_units.h"

static void copy_tokens(fm_t dst[HW_N][HW_D], fm_t src[HW_N][HW_D])
{
    int t, d;
    for (t = 0; t < HW_N; t++)
        for (d = 0; d < HW_D; d++) {
#pragma HLS pipeline II=1
            dst[t][d] = src[t][d];
        }
}

void hw_edgemoe_top(const hw_weights *w, const pix_t image[HW_IMG_C][HW_IMG_H][HW_IMG_W],
                    int task, hw_act *a, fm_t tap[HW_DEPTH + 1][HW_N][HW_D],
                    hw_route route[HW_NMOE][HW_N][HW_TOPK], hw_stats *st)
{
#pragma HLS interface m_axi port=w bundle=gmem0
#pragma HLS interface m_axi port=image bundle=gmem1
#pragma HLS interface m_axi port=a bundle=gmem2
#pragma HLS interface m_axi port=tap bundle=gmem3
#pragma HLS interface m_axi port=route bundle=gmem4
#pragma HLS interface s_axilite port=task
#pragma HLS interface s_axilite port=return
    /* st: simulation-only statistics, never touched in the synthesis view
     * (hw_stats.h), so it has no interface */
    int L;
    hw_patch_embed(image, w, a->x, st);
    copy_tokens(tap[0], a->x);
    for (L = 0; L < HW_DEPTH; L++) {
        /* attention half */
        hw_layernorm(a->x, w->ln1_w[L], w->ln1_b[L], a->h, st);
        hw_linear((fm_t *)a->h, (const wt_t *)w->qkv_w[L], w->qkv_b[L], BQK_F, (fm_t *)a->qkv,
                  HW_N, HW_D, 3 * HW_D, LIN_PLAIN, 0, 0, st, HW_OP_QKV);
        hw_attn_qk(a->qkv, a->scores, a->rm, st, L);
        hw_attn_av(a->qkv, a->scores, a->rm, a->attn, st, L);
        hw_linear((fm_t *)a->attn, (const wt_t *)w->proj_w[L], w->proj_b[L], BQK_F, (fm_t *)a->y,
                  HW_N, HW_D, HW_D, LIN_PLAIN, 0, 0, st, HW_OP_PROJ);
        hw_residual(a->x, a->y, st);
        /* MLP half */
        hw_layernorm(a->x, w->ln2_w[L], w->ln2_b[L], a->h, st);
        if (!HW_IS_MOE(L)) {
            const int dl = HW_DENSE_INDEX(L);
            hw_linear((fm_t *)a->h, (const wt_t *)w->fc1_w[dl], w->fc1_b[dl], B5_F, (fm_t *)a->hid,
                      HW_N, HW_D, HW_MLP, LIN_GELU, 0, 0, st, HW_OP_FC1);
            hw_linear((fm_t *)a->hid, (const wt_t *)w->fc2_w[dl], w->fc2_b[dl], B5_F, (fm_t *)a->y,
                      HW_N, HW_MLP, HW_D, LIN_PLAIN, 0, 0, st, HW_OP_FC2);
            hw_residual(a->x, a->y, st);
        } else {
            const int ml = HW_MOE_INDEX(L);
            hw_gate(a->h, w->gate_w[ml][task], a, route[ml], st);
            hw_experts(w, ml, a, st);
            hw_residual(a->x, a->moe, st);
        }
        copy_tokens(tap[L + 1], a->x);
    }
}
