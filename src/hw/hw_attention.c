/* Attention (ideas 1 and 2): QK^T with the online softmax, then A.V.
 *
 * Queries are taken in groups of P = ATTN_P.  For each group (one "pass")
 * the keys stream from DRAM once, one 8-value block per step (24 steps per
 * key row), and every block is used by all P queries: raising P cuts the
 * passes over K and V, never the bandwidth.  Query o of the group is loaded
 * at row o, so it sees the keys in the rotated order o, o+1, .., N-1, 0, ..,
 * o-1; a pass runs N + P - 1 rows.  Rows N .. N+P-2 revisit keys 0 .. P-2,
 * which were kept on chip when first read, so each pass reads every key
 * block exactly once: passes x N x 24 blocks in all.
 *
 * Scores: per head, dims in blocks of 8,
 *   s = sum over blocks of fm(fm(sum of 8 fm(q_d k_d)) * 0.125).
 * QK^T writes the raw scores and (R, m) per row and head; A.V re-reads them:
 *   a = fm(E(fm(s - m)) * R),  out_d = sum_k fm(v_kd * a). */
#include "hw_units.h"
#include "hw_math.h"

#define Q_OFF 0
#define K_OFF HW_D
#define V_OFF (2 * HW_D)

/* Score of one (query, key, head): 8 blocks of 8 dims. */
static fm_t score_head(const fm_t *q, const fm_t *k, hw_stats *st)
{
    int64_t s = 0;
    int b, j;
    for (b = 0; b < HW_HEAD_DIM / HW_BLK; b++) {
#pragma HLS pipeline II=1
        int64_t blk = 0;
        fm_t blk_fm;
        for (j = 0; j < HW_BLK; j++) {
#pragma HLS unroll
            int64_t p = ((int64_t)q[b * HW_BLK + j] * k[b * HW_BLK + j]) >> FM_F;
            HW_STAT(st->wraps[HW_OP_QK] += (uint64_t)fx_wraps_fm(p));
            blk += p;
        }
        blk_fm = hw_store(blk, st, HW_OP_QK);
        s += fm_mul_pow2neg(blk_fm, 3);      /* * 0.125, floored */
    }
    return hw_store(s, st, HW_OP_QK);
}

void hw_attn_qk(fm_t qkv[HW_N][3 * HW_D], fm_t scores[HW_HEADS][HW_N][HW_N],
                fm_t rm[HW_N][HW_HEADS][2], hw_stats *st, int layer)
{
    fm_t qreg[ATTN_P][HW_D];                 /* the group's queries */
    fm_t kwrap[ATTN_P][HW_D];                /* keys 0..P-2, kept for rows >= N */
    fm_t krow[HW_D];
    fm_t S[ATTN_P][HW_HEADS], m[ATTN_P][HW_HEADS];
#pragma HLS array_partition variable=qreg dim=1 complete
    int g, t, o, h, d;
    for (g = 0; g < HW_NGROUPS; g++) {
        const int q0 = g * ATTN_P;
        HW_STAT(st->attn_passes[layer]++);
        for (t = 0; t < HW_N + ATTN_P - 1; t++) {
            const int kk = t < HW_N ? t : t - HW_N;   /* key of this row */
            HW_TRIP_N(st, HW_OP_QK, HW_TRIP_ATTN_STEP, HW_DBLK);
            /* query load, interleaved: query o at row o */
            if (t < ATTN_P && q0 + t < HW_N) {
                for (d = 0; d < HW_D; d++) qreg[t][d] = qkv[q0 + t][Q_OFF + d];
                HW_STAT(st->q_block_reads[layer] += HW_DBLK);
                HW_TRIP_N(st, HW_OP_QK, HW_TRIP_Q, HW_DBLK);
                for (h = 0; h < HW_HEADS; h++) { S[t][h] = 0; m[t][h] = FM_MIN; }
            }
            /* key row: from DRAM the first time in this pass, else on chip */
            if (t < HW_N) {
                for (d = 0; d < HW_D; d++) krow[d] = qkv[t][K_OFF + d];
                /* one key row (HW_DBLK blocks) per step: the most any step reads */
                HW_STAT(st->k_block_reads[layer] += HW_DBLK;
                        if (st->max_blocks_per_step < 1) st->max_blocks_per_step = 1);
                HW_TRIP_N(st, HW_OP_QK, HW_TRIP_KV, HW_DBLK);
                if (t < ATTN_P - 1)
                    for (d = 0; d < HW_D; d++) kwrap[t][d] = krow[d];
            } else {
                for (d = 0; d < HW_D; d++) krow[d] = kwrap[kk][d];
            }
            /* every query of the group uses the key row */
            for (o = 0; o < ATTN_P; o++) {
#pragma HLS unroll
                const int q = q0 + o;
                HW_TRIP(st, HW_OP_QK, HW_TRIP_SOFTMAX);   /* every lane's slot, used or not */
                if (q >= HW_N || t < o || t >= o + HW_N) continue;
                for (h = 0; h < HW_HEADS; h++) {
                    fm_t s = score_head(&qreg[o][h * HW_HEAD_DIM], &krow[h * HW_HEAD_DIM], st);
                    scores[h][q][kk] = s;
                    hw_softmax_update(&S[o][h], &m[o][h], s, st, HW_OP_SOFTMAX);
                }
            }
        }
        for (o = 0; o < ATTN_P; o++) {
            if (q0 + o >= HW_N) continue;
            for (h = 0; h < HW_HEADS; h++) {
                rm[q0 + o][h][0] = hw_store(hw_recip(S[o][h]), st, HW_OP_SOFTMAX);
                HW_TRIP(st, HW_OP_QK, HW_TRIP_RECIP);
                rm[q0 + o][h][1] = m[o][h];
            }
        }
    }
}

void hw_attn_av(fm_t qkv[HW_N][3 * HW_D], fm_t scores[HW_HEADS][HW_N][HW_N],
                fm_t rm[HW_N][HW_HEADS][2], fm_t out[HW_N][HW_D], hw_stats *st, int layer)
{
    int64_t acc[ATTN_P][HW_D];               /* output accumulators */
    fm_t vwrap[ATTN_P][HW_D];
    fm_t vrow[HW_D];
#pragma HLS array_partition variable=acc dim=1 complete
    int g, t, o, h, d;
    for (g = 0; g < HW_NGROUPS; g++) {
        const int q0 = g * ATTN_P;
        for (o = 0; o < ATTN_P; o++)
            for (d = 0; d < HW_D; d++) acc[o][d] = 0;
        for (t = 0; t < HW_N + ATTN_P - 1; t++) {
            const int kk = t < HW_N ? t : t - HW_N;
            HW_TRIP_N(st, HW_OP_AV, HW_TRIP_ATTN_STEP, HW_DBLK);
            if (t < HW_N) {
                for (d = 0; d < HW_D; d++) vrow[d] = qkv[t][V_OFF + d];
                HW_STAT(st->v_block_reads[layer] += HW_DBLK);
                HW_TRIP_N(st, HW_OP_AV, HW_TRIP_KV, HW_DBLK);
                if (t < ATTN_P - 1)
                    for (d = 0; d < HW_D; d++) vwrap[t][d] = vrow[d];
            } else {
                for (d = 0; d < HW_D; d++) vrow[d] = vwrap[kk][d];
            }
            for (o = 0; o < ATTN_P; o++) {
#pragma HLS unroll
                const int q = q0 + o;
                if (q >= HW_N || t < o || t >= o + HW_N) continue;
                for (h = 0; h < HW_HEADS; h++) {
                    const fm_t R = rm[q][h][0], mx = rm[q][h][1];
                    fm_t arg = hw_store((int64_t)scores[h][q][kk] - mx, st, HW_OP_AV);
                    fm_t a = hw_store(((int64_t)hw_exp(arg) * R) >> FM_F, st, HW_OP_AV);
                    int64_t *ac = &acc[o][h * HW_HEAD_DIM];
                    const fm_t *v = &vrow[h * HW_HEAD_DIM];
                    for (d = 0; d < HW_HEAD_DIM; d++) {
#pragma HLS pipeline II=1
                        int64_t p = ((int64_t)v[d] * a) >> FM_F;
                        ac[d] += p;
                    }
                }
            }
        }
        for (o = 0; o < ATTN_P; o++) {
            if (q0 + o >= HW_N) continue;
            for (d = 0; d < HW_D; d++)
                out[q0 + o][d] = hw_store(acc[o][d], st, HW_OP_AV);
        }
    }
}
