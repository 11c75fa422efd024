/* LayerNorm unit (docs/spec.md#22-where-each-result-is-stored), per token over D = 192 values:
 *   c = fm(1/192); mean = sum fm(x_i c); msq = sum fm(x_i fm(x_i c));
 *   var = msq - fm(mean^2) + fm(1e-6); r = fm(1 / fm(sqrt(var)));
 *   y_i = fm(fm(fm(x_i - mean) r) w_i) + b_i. */
#include "hw_units.h"
#include "hw_math.h"

#define LN_C   ((fm_t)(FM_ONE / HW_D))   /* fm(1/192) = floor(2^22/192) = 21845 */
#define LN_EPS ((fm_t)(((int64_t)1 << FM_F) / 1000000))   /* fm(1e-6): floor(4.19) = 4 lsb at F = 22 */

void hw_layernorm(fm_t x[HW_N][HW_D], const b5_t gamma[HW_D], const b5_t beta[HW_D],
                  fm_t y[HW_N][HW_D], hw_stats *st)
{
    int t, i;
    for (t = 0; t < HW_N; t++) {
        int64_t sum = 0, sq = 0;
        fm_t mean, msq, mm, var, r;
        HW_TRIP(st, HW_OP_LN, HW_TRIP_LN_TOK);
        for (i = 0; i < HW_D; i++) {
#pragma HLS pipeline II=1
            fm_t xc = fm_mul(x[t][i], LN_C);    /* |x c| < 2^9: no wrap */
            HW_TRIP_N(st, HW_OP_LN, HW_TRIP_LN_ACC, i % HW_BLK == 0);
            sum += xc;
            sq += ((int64_t)x[t][i] * xc) >> FM_F;
        }
        mean = hw_store(sum, st, HW_OP_LN);
        msq = hw_store(sq, st, HW_OP_LN);
        mm = hw_store(((int64_t)mean * mean) >> FM_F, st, HW_OP_LN);
        var = hw_store((int64_t)msq - mm + LN_EPS, st, HW_OP_LN);
        r = hw_store(hw_recip(hw_sqrt(var)), st, HW_OP_LN);
        for (i = 0; i < HW_D; i++) {
#pragma HLS pipeline II=1
            fm_t d = hw_store((int64_t)x[t][i] - mean, st, HW_OP_LN);
            HW_TRIP_N(st, HW_OP_LN, HW_TRIP_LN_OUT, i % HW_BLK == 0);
            fm_t n = hw_store(((int64_t)d * r) >> FM_F, st, HW_OP_LN);
            fm_t s = hw_store(((int64_t)n * gamma[i]) >> B5_F, st, HW_OP_LN);
            y[t][i] = hw_store((int64_t)s + fx_align(beta[i], B5_F, FM_F), st, HW_OP_LN);
        }
    }
}
