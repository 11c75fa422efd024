/* MoE (idea 5, patch reordering): the gate writes, per expert, the queue of
 * tokens routed to it (ascending token order) with their g_k; the experts
 * with a non-empty queue then run one after another (ascending index), each
 * on exactly its queued tokens, so each used expert's weights are read from
 * DRAM once per layer and unused experts never.  Every queue length 0..N
 * takes the same path (the original hangs when one expert gets all N
 * tokens: its input side took an "all tokens" path while its output side
 * waited for a token list). */
#include "hw_units.h"
#include "hw_math.h"

/* Top-2 over the 16 scores, ties to the lower index.  The original's code
 * left a slot unset when a score neither entered nor shifted the list; here
 * such a score keeps the previous entry. */
static void top2(fm_t score[HW_E], int idx[HW_TOPK])
{
    int e, i0 = 0, i1 = -1;
    for (e = 1; e < HW_E; e++) {
#pragma HLS pipeline II=1
        if (score[e] > score[i0]) {              /* new best: shift */
            i1 = i0;
            i0 = e;
        } else if (i1 < 0 || score[e] > score[i1]) {
            i1 = e;                              /* enters slot 1 */
        }                                        /* else: keep both */
    }
    idx[0] = i0;
    idx[1] = i1;
}

void hw_gate(fm_t h[HW_N][HW_D], const wt_t wg[HW_E][HW_D], hw_act *a,
             hw_route route[HW_N][HW_TOPK], hw_stats *st)
{
    wt_t wbuf[HW_E][HW_D];                       /* gate weights, on chip */
    fm_t score[HW_E];
    int t, e, i, k;
    for (e = 0; e < HW_E; e++) {
        HW_TRIP_N(st, HW_OP_GATE, HW_TRIP_WLOAD, HW_D * 16 / 256);   /* 256-bit beats */
        for (i = 0; i < HW_D; i++) wbuf[e][i] = wg[e][i];
    }
    for (e = 0; e < HW_E; e++) a->queue_len[e] = 0;
    for (t = 0; t < HW_N; t++) {
        fm_t S = 0, m = FM_MIN;
        int idx[HW_TOPK];
        HW_TRIP_N(st, HW_OP_GATE, HW_TRIP_GATE_DOT, HW_DBLK);
        for (e = 0; e < HW_E; e++) {
            int64_t acc = 0;
            for (i = 0; i < HW_D; i++) {
#pragma HLS pipeline II=1
                int64_t p = ((int64_t)h[t][i] * wbuf[e][i]) >> WT_F;
                HW_STAT(st->wraps[HW_OP_GATE] += (uint64_t)fx_wraps_fm(p));
                acc += p;
            }
            score[e] = hw_store(acc, st, HW_OP_GATE);
            HW_TRIP(st, HW_OP_GATE, HW_TRIP_GATE_SM);
            hw_softmax_update(&S, &m, score[e], st, HW_OP_GATE);
        }
        top2(score, idx);
        for (k = 0; k < HW_TOPK; k++) {
            const int ex = idx[k];
            fm_t arg = hw_store((int64_t)score[ex] - m, st, HW_OP_GATE);
            fm_t g = hw_store(hw_div_pos(hw_exp(arg), S), st, HW_OP_GATE);
            route[t][k].expert = ex;
            route[t][k].g = g;
            a->queue_tok[ex][a->queue_len[ex]] = t;  /* ascending tokens */
            a->queue_g[ex][a->queue_len[ex]] = g;
            a->queue_len[ex]++;
        }
    }
}

void hw_experts(const hw_weights *w, int ml, hw_act *a, hw_stats *st)
{
    int e, t, d;
    for (t = 0; t < HW_N; t++)
        for (d = 0; d < HW_D; d++) a->moe[t][d] = 0;
    for (e = 0; e < HW_E; e++) {
        const int len = a->queue_len[e];
#if HW_SIM
        const uint64_t reads0 = st->linear_weight_reads;
#endif
        HW_STAT(st->queue_len[ml][e] = len);
        if (len == 0) continue;                  /* unused: never read */
        /* expert fc1 (+GELU) on the gathered tokens -> hid[0..len-1] */
        hw_linear((fm_t *)a->h, (const wt_t *)w->exp1_w[ml][e], w->exp1_b[ml][e], B5_F,
                  (fm_t *)a->hid, len, HW_D, HW_EH, LIN_GATHER_IN | LIN_GELU,
                  a->queue_tok[e], 0, st, HW_OP_EXPERT1);
        /* expert fc2, scaled by g_k, accumulated into moe[token] */
        hw_linear((fm_t *)a->hid, (const wt_t *)w->exp2_w[ml][e], w->exp2_b[ml][e], B5_F,
                  (fm_t *)a->moe, len, HW_EH, HW_D, LIN_SCALE_ACC,
                  a->queue_tok[e], a->queue_g[e], st, HW_OP_EXPERT2);
        HW_STAT(st->expert_weight_reads[ml][e] += st->linear_weight_reads - reads0);
    }
}

void hw_residual(fm_t x[HW_N][HW_D], fm_t y[HW_N][HW_D], hw_stats *st)
{
    int t, d;
    for (t = 0; t < HW_N; t++)
        for (d = 0; d < HW_D; d++) {
#pragma HLS pipeline II=1
            HW_TRIP_N(st, HW_OP_RESID, HW_TRIP_RESID, d % HW_BLK == 0);
            x[t][d] = hw_store((int64_t)x[t][d] + y[t][d], st, HW_OP_RESID);
        }
}
