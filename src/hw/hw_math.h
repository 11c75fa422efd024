/* Elementary functions of the datapath, in fixed point, defined by edgemoe
 * (no libm; the original used the HLS math library).  Inputs and outputs are
 * fm (<32,10>, F=22 unless built with other formats) raw values.  Error bounds (x is the real value of the
 * input, ulp = 2^-22) are checked by tests/test_hw_math.c:
 *
 *  hw_exp(x), x <= 0:   e^x - ulp - 2^-28 < E(x) <= e^x + 2^-28
 *                      (E(0) = 1 exactly; E(x) = 0 once e^x < ulp).
 *                      x > 0 is outside the datapath's use (arguments are
 *                      always s - m <= 0) and returns E(0) = 1.
 *  hw_recip(x), x != 0: floor(2^44 / X) for raw X, i.e. 1/x floored to fm:
 *                      1/x - ulp < R <= 1/x before the store's wrap
 *                      (exact: a fixed-point divider).  x = 0 gives FM_MAX.
 *  hw_sqrt(x), x >= 0:  floor(sqrt(x) * 2^22): sqrt(x) - ulp < Q <= sqrt(x)
 *                      (exact integer square root).  x < 0 gives 0.
 *  hw_gelu(x):          ReLU(x) - d(|x|), d from the 177-entry table of
 *                      a * Phi(-a) at a = j/32 with linear interpolation;
 *                      |GELU_hw(x) - GELU(x)| < 1.2e-4 over all x (measured
 *                      maximum over [-8, 8] printed by the test).
 *  hw_div_pos(a, b):    floor(a / b) for a >= 0, b > 0 (fm / fm -> fm), exact.
 *
 * hw_recip and hw_div_pos return the value before the store (int64): the
 * caller stores it into fm, which wraps (and counts) if it does not fit. */
#ifndef HW_MATH_H
#define HW_MATH_H
#include <stdint.h>
#include "hw_fixed.h"

#define HW_GELU_ENTRIES 177
extern const uf16_t hw_gelu_table[HW_GELU_ENTRIES];

fm_t    hw_exp(fm_t x);
int64_t hw_recip(fm_t x);
fm_t    hw_sqrt(fm_t x);
fm_t    hw_gelu(fm_t x);
int64_t hw_div_pos(fm_t a, fm_t b);

/* The same for fm with f fractional bits and w bits (8 <= f <= 30, w <= 32):
 * the units above are these at f = FM_F, w = FM_W; the fast twin calls them
 * with its run-time format. */
fm_t    hw_exp_f(fm_t x, int f);
int64_t hw_recip_f(fm_t x, int f, int w);
fm_t    hw_sqrt_f(fm_t x, int f, int w);
fm_t    hw_gelu_f(fm_t x, int f);
int64_t hw_div_pos_f(fm_t a, fm_t b, int f);

#endif
