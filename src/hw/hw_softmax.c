/* Single-pass (online) softmax update (idea 2), shared by the attention
 * rows and the 16-way MoE gate.  State (S, m) starts at S = 0, m = FM_MIN.
 * For each score s:
 *   s > m:  S = fm(S * E(fm(m - s))) + 1,  m = s
 *   else:   S = S + E(fm(s - m))
 * At the end R = fm(1/S) and m; the normalisation E(fm(s - m)) * R is applied
 * by the consumer (A.V, or the gate's g_k), so scores are never rescaled in
 * memory. */
#include "hw_units.h"
#include "hw_math.h"

void hw_softmax_update(fm_t *S, fm_t *m, fm_t s, hw_stats *st, int op)
{
#pragma HLS inline
    if (s > *m) {
        /* at the first key S = 0 and m = FM_MIN: the argument (which may
         * wrap) is moot, so it is not counted as a wrap */
        fm_t arg = *S == 0 ? fx_wrap_fm((int64_t)*m - s) : hw_store((int64_t)*m - s, st, op);
        fm_t sc = hw_store(((int64_t)*S * hw_exp(arg)) >> FM_F, st, op);
        *S = hw_store((int64_t)sc + FM_ONE, st, op);
        *m = s;
    } else {
        fm_t arg = hw_store((int64_t)s - *m, st, op);
        *S = hw_store((int64_t)*S + hw_exp(arg), st, op);
    }
}
