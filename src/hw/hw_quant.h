/* Host-side quantisation (not part of the accelerator): real -> <W,F>
 * by floor(x * 2^F) then wrap to W bits, as docs/spec.md#21-types-and-quantisation defines float -> fixed.
 * Used by the fixed engine to fill the accelerator's DRAM buffers, and by
 * the tests.  No libm. */
#ifndef HW_QUANT_H
#define HW_QUANT_H
#include <stdint.h>
#include "hw_fixed.h"

/* Raw integer of floor(x * 2^f) wrapped to w bits (signed, or unsigned when
 * is_unsigned).  x must be finite.  1 <= w <= 32, 0 <= f <= 60. */
int64_t fx_quant(double x, int w, int f, int is_unsigned);
/* Same, and *wrapped = 1 when the wrap changed the value. */
int64_t fx_quant_w(double x, int w, int f, int is_unsigned, int *wrapped);
/* raw * 2^-f */
double fx_real(int64_t raw, int f);

static inline fm_t  q_fm(double x)  { return (fm_t)fx_quant(x, FM_W, FM_F, 0); }
static inline wt_t  q_wt(double x)  { return (wt_t)fx_quant(x, WT_W, WT_F, 0); }
static inline bqk_t q_bqk(double x) { return (bqk_t)fx_quant(x, BQK_W, BQK_F, 0); }
static inline b5_t  q_b5(double x)  { return (b5_t)fx_quant(x, B5_W, B5_F, 0); }
static inline pw_t  q_pw(double x)  { return (pw_t)fx_quant(x, PW_W, PW_F, 0); }
static inline pix_t q_pix(double x) { return (pix_t)fx_quant(x, PIX_W, PIX_F, 1); }
static inline double fm_real(fm_t r) { return fx_real(r, FM_F); }

#endif
