/* Attention unit check, built once per query-group size P (mk/hw.mk builds
 * it with -DATTN_P=1,2,4,8; tests/hw_attn_test.sh runs them).  Checks:
 *  1. bit-exact against a direct, ungrouped model of the arithmetic of
 *     docs/spec.md#22-where-each-result-is-stored in which row q
 *     sees the keys in the rotated order o, o+1, .., N-1, 0, .., o-1
 *     (o = q mod P);
 *  2. close to exact double-precision softmax attention (error printed);
 *  3. the single-pass softmax's probabilities against an exact softmax;
 *  4. K and V block reads = ceil(N/P) passes (one per query group) x N x
 *     24 blocks: the P - 1 wrapped rows of a pass come from chip.  (One key
 *     block per step is checked from loop trips, N + P - 1 rows of 24 steps
 *     a pass against the blocks streamed, by tests/test_sim.c and
 *     tests/check_sim_trips.c.) */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "test_util.h"
#include "hw/hw_units.h"
#include "hw/hw_math.h"
#include "hw/hw_quant.h"

static fm_t qkv[HW_N][3 * HW_D];
static fm_t scores[HW_HEADS][HW_N][HW_N];
static fm_t rm[HW_N][HW_HEADS][2];
static fm_t out[HW_N][HW_D];
static fm_t ref_out[HW_N][HW_D];
static fm_t ref_s[HW_HEADS][HW_N][HW_N];
static fm_t ref_rm[HW_N][HW_HEADS][2];

static uint64_t rs = 0x2545F4914F6CDD1Dull;
static double urand(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return (double)(rs >> 11) / 9007199254740992.0; }

/* direct model of docs/spec.md#22-where-each-result-is-stored for row q,
 * head h, with the rotated key order */
static void direct_row(int q, int h, int P, hw_stats *dummy) {
    const int o = q % P;
    fm_t S = 0, m = FM_MIN;
    for (int j = 0; j < HW_N; j++) {
        int k = (o + j) % HW_N;
        int64_t s = 0;
        for (int b = 0; b < 8; b++) {
            fm_t blk = 0;
            for (int i = 0; i < 8; i++) {
                int d = h * 64 + b * 8 + i;
                blk = fm_add(blk, fm_mul(qkv[q][d], qkv[k][HW_D + d]));
            }
            s += fm_mul_pow2neg(blk, 3);
        }
        fm_t sc = fx_wrap32(s);
        ref_s[h][q][k] = sc;
        if (sc > m) { S = fm_add(fm_mul(S, hw_exp(fm_sub(m, sc))), FM_ONE); m = sc; }
        else S = fm_add(S, hw_exp(fm_sub(sc, m)));
    }
    fm_t R = fx_wrap32(hw_recip(S));
    ref_rm[q][h][0] = R; ref_rm[q][h][1] = m;
    for (int d = 0; d < 64; d++) {
        fm_t acc = 0;
        for (int k = 0; k < HW_N; k++) {
            fm_t a = fm_mul(hw_exp(fm_sub(ref_s[h][q][k], m)), R);
            acc = fm_add(acc, fm_mul(qkv[k][2 * HW_D + h * 64 + d], a));
        }
        ref_out[q][h * 64 + d] = acc;
    }
    (void)dummy;
}

int main(void) {
    const int P = ATTN_P;
    static hw_stats st;
    printf("attention unit with ATTN_P = %d\n", P);
    /* q, k ~ U(-2, 2), v ~ U(-3, 3): scores spread over a few units */
    for (int t = 0; t < HW_N; t++)
        for (int d = 0; d < 3 * HW_D; d++)
            qkv[t][d] = q_fm((urand() * 2 - 1) * (d < 2 * HW_D ? 2.0 : 3.0));
    memset(&st, 0, sizeof st);
    hw_attn_qk(qkv, scores, rm, &st, 0);
    hw_attn_av(qkv, scores, rm, out, &st, 0);

    for (int q = 0; q < HW_N; q++) for (int h = 0; h < HW_HEADS; h++) direct_row(q, h, P, &st);
    CHECK(memcmp(scores, ref_s, sizeof scores) == 0 && memcmp(rm, ref_rm, sizeof rm) == 0,
          "P=%d: scores and (R, m) bit-exact vs the direct model of docs/spec.md (rotated key order)", P);
    CHECK(memcmp(out, ref_out, sizeof out) == 0, "P=%d: A.V output bit-exact vs the direct model of docs/spec.md", P);

    /* against exact attention in double precision on the quantised q, k, v */
    double maxerr = 0, maxp = 0, sump = 0; long np = 0;
    for (int q = 0; q < HW_N; q++)
        for (int h = 0; h < HW_HEADS; h++) {
            double s[HW_N], mx = -1e300, Z = 0;
            for (int k = 0; k < HW_N; k++) {
                double a = 0;
                for (int d = 0; d < 64; d++) a += fm_real(qkv[q][h * 64 + d]) * fm_real(qkv[k][HW_D + h * 64 + d]);
                s[k] = a * 0.125;
                if (s[k] > mx) mx = s[k];
            }
            for (int k = 0; k < HW_N; k++) { s[k] = exp(s[k] - mx); Z += s[k]; }
            for (int k = 0; k < HW_N; k++) {
                double p = s[k] / Z;
                /* the single-pass softmax's probability: a = fm(E(s - m) * R) */
                double a = fm_real(fm_mul(hw_exp(fm_sub(scores[h][q][k], rm[q][h][1])), rm[q][h][0]));
                double e = fabs(a - p);
                if (e > maxp) maxp = e;
                sump += e; np++;
            }
            for (int d = 0; d < 64; d++) {
                double o = 0;
                for (int k = 0; k < HW_N; k++) o += s[k] / Z * fm_real(qkv[k][2 * HW_D + h * 64 + d]);
                double e = fabs(fm_real(out[q][h * 64 + d]) - o);
                if (e > maxerr) maxerr = e;
            }
        }
    printf("single-pass softmax vs exact softmax: max |p_hw - p| = %.3g, mean %.3g\n", maxp, sump / np);
    CHECK(maxp < 1e-5, "P=%d: single-pass softmax probabilities within 1e-5 (42 ulp) of the exact softmax (max %.3g)", P, maxp);
    CHECK(maxerr < 1e-4, "P=%d: attention output within 1e-4 of exact double attention (max %.3g)", P, maxerr);

    /* bandwidth: one pass per query group of P, i.e. ceil(N/P) passes, each
     * streaming the N key rows (24 blocks each) once */
    const uint64_t passes = ((uint64_t)HW_N + (uint64_t)P - 1) / (uint64_t)P;   /* ceil(N/P) */
    const uint64_t want = passes * HW_N * HW_DBLK;
    CHECK(st.attn_passes[0] == passes, "P=%d: %llu passes over K = ceil(N/P) = ceil(%d/%d) = %llu", P,
          (unsigned long long)st.attn_passes[0], HW_N, P, (unsigned long long)passes);
    CHECK(st.k_block_reads[0] == want && st.v_block_reads[0] == want,
          "P=%d: K block reads %llu, V block reads %llu = %llu passes x %d x %d", P,
          (unsigned long long)st.k_block_reads[0], (unsigned long long)st.v_block_reads[0],
          (unsigned long long)passes, HW_N, HW_DBLK);
    CHECK(st.q_block_reads[0] == (uint64_t)HW_N * HW_DBLK, "P=%d: each query read once (%llu blocks)", P,
          (unsigned long long)st.q_block_reads[0]);
    TEST_MAIN_END();
}
