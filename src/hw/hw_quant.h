/* Host-side quantisation (not part of the accelerator): real -> <W,F>
 * by floor(x * 2^F) then wrap to W bits, as docs/spec.md#21-types-and-quantisation defines float -> fixed.
 * Used by the fixed engine to fill the accelerator's DRAM buffers, and by
 * the tests.  No libm. */
#ifndef HW_QUANT_H
#define HW_QUANT_H
#include <stdint.h>
#include "hw_fixed.h"

/* 2^e, exact, |e| <= 63 */
static inline double fx_pow2(int e)
{
    return e >= 0 ? (double)((uint64_t)1 << e) : 1.0 / (double)((uint64_t)1 << -e);
}

/* floor of a double whose magnitude is below 2^62 */
static inline int64_t fx_floor_i64(double t)
{
    int64_t i = (int64_t)t;          /* truncates toward zero */
    if ((double)i > t) i -= 1;
    return i;
}

/* Raw integer of floor(x * 2^f) wrapped to w bits (signed, or unsigned when
 * is_unsigned), and *wrapped = 1 (when wrapped is not NULL) if the wrap
 * changed the value.  x must be finite.  1 <= w <= 32, 0 <= f <= 60.
 * Inline: the fixed engine quantises every weight of a model with it, and
 * 2^f is then computed once per tensor, not once per weight. */
static inline int64_t fx_quant_w(double x, int w, int f, int is_unsigned, int *wrapped)
{
    const double two62 = 4611686018427387904.0;
    double t = x * fx_pow2(f);       /* exact: scaling by a power of two */
    if (t >= two62 || t <= -two62) {
        /* reduce modulo 2^w first: t = k*2^w + rem, all steps exact */
        double q = t * fx_pow2(-w);
        double k = (q >= 9.2e18 || q <= -9.2e18) ? q : (double)(int64_t)q;
        t = t - k * fx_pow2(w);
        if (wrapped) *wrapped = 1;
        return fx_wrap(fx_floor_i64(t), w, is_unsigned);
    }
    int64_t fl = fx_floor_i64(t), r = fx_wrap(fl, w, is_unsigned);
    if (wrapped) *wrapped = (r != fl);
    return r;
}
static inline int64_t fx_quant(double x, int w, int f, int is_unsigned) { return fx_quant_w(x, w, f, is_unsigned, 0); }
/* raw * 2^-f */
static inline double fx_real(int64_t raw, int f) { return (double)raw * fx_pow2(-f); }

static inline fm_t  q_fm(double x)  { return (fm_t)fx_quant(x, FM_W, FM_F, 0); }
static inline wt_t  q_wt(double x)  { return (wt_t)fx_quant(x, WT_W, WT_F, 0); }
static inline bqk_t q_bqk(double x) { return (bqk_t)fx_quant(x, BQK_W, BQK_F, 0); }
static inline b5_t  q_b5(double x)  { return (b5_t)fx_quant(x, B5_W, B5_F, 0); }
static inline pw_t  q_pw(double x)  { return (pw_t)fx_quant(x, PW_W, PW_F, 0); }
static inline pix_t q_pix(double x) { return (pix_t)fx_quant(x, PIX_W, PIX_F, 1); }
static inline double fm_real(fm_t r) { return fx_real(r, FM_F); }

#endif
