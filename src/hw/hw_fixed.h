/* Fixed-point types and primitives of the Edge-MoE datapath (docs/spec.md#21-types-and-quantisation).
 *
 * A value of type <W,I> is a W-bit two's-complement integer r meaning
 * r * 2^-(W-I); F = W - I fractional bits.  Exactly like ap_fixed with its
 * defaults (AP_TRN, AP_WRAP): products and sums are formed exactly, and a
 * result is quantised only when stored: floor (drop bits) then wrap (keep
 * the low W bits).  Here a value is held as its raw integer r.
 *
 * Two properties of the C compiler are relied on and checked at compile
 * time below, as HLS ap_int provides them: '>>' on a negative signed integer
 * is an arithmetic (flooring) shift, and converting an out-of-range unsigned
 * value to a signed type keeps the low bits (two's complement).
 *
 * Every primitive here is verified bit for bit against SystemC's
 * sc_fixed<W,I,SC_TRN,SC_WRAP> by tests/oracle/sc_oracle.cpp. */
#ifndef HW_FIXED_H
#define HW_FIXED_H
#include <stdint.h>

typedef int32_t fm_t;   /* <32,10>  F=22: activations and every intermediate */
typedef int16_t wt_t;   /* <16,2>   F=14: linear weights (qkv, proj, fc, experts, gates) */
typedef int16_t bqk_t;  /* <16,7>   F=9 : qkv and proj biases */
typedef int16_t b5_t;   /* <16,5>   F=11: other biases, LN weight and bias */
typedef int16_t pw_t;   /* <16,0>   F=16: patch-embed weights */
typedef uint8_t pix_t;  /* <u8,0>   F=8 : pixels */
typedef uint16_t uf16_t;/* <u16,0>  F=16: unsigned fractions (GELU table) */

#define FM_F   22
#define WT_F   14
#define BQK_F  9
#define B5_F   11
#define PW_F   16
#define PIX_F  8
#define UF16_F 16

#define FM_ONE    ((fm_t)1 << FM_F)
#define FM_MIN    ((fm_t)(-2147483647 - 1))
#define FM_MAX    ((fm_t)2147483647)

/* Compile-time checks of the two compiler properties relied on. */
typedef char hw_check_asr[((-3) >> 1) == -2 ? 1 : -1];
typedef char hw_check_wrap[(int32_t)(uint32_t)0x80000001u == -2147483647 ? 1 : -1];

/* ---- bit-level helpers ---- */

/* floor(v / 2^s), s >= 0 */
static inline int64_t fx_floor_shift(int64_t v, int s) { return v >> s; }

/* Keep the low 32 bits, two's complement. */
static inline fm_t fx_wrap32(int64_t v) { return (fm_t)(uint32_t)(uint64_t)v; }

/* Keep the low w bits (1 <= w <= 32), signed or unsigned. */
static inline int64_t fx_wrap(int64_t v, int w, int is_unsigned)
{
    uint64_t m = (w >= 64) ? ~(uint64_t)0 : (((uint64_t)1 << w) - 1);
    uint64_t u = (uint64_t)v & m;
    if (!is_unsigned && (u >> (w - 1)) & 1u)
        return (int64_t)(u | ~m);
    return (int64_t)u;
}

/* 1 when v does not fit <32,*> (the store wraps). */
static inline int fx_wraps32(int64_t v) { return v < -2147483647LL - 1 || v > 2147483647LL; }

/* ---- stores into fm (<32,10>) ---- */

/* fm(a * b), a and b fm: exact product F=44, floor to F=22, wrap. */
static inline fm_t fm_mul(fm_t a, fm_t b) { return fx_wrap32(((int64_t)a * b) >> FM_F); }
/* fm(a * w), w <16,2>: product F=36 -> 22. */
static inline fm_t fm_mul_wt(fm_t a, wt_t w) { return fx_wrap32(((int64_t)a * w) >> WT_F); }
/* fm(a * w), w <16,5>: product F=33 -> 22. */
static inline fm_t fm_mul_b5(fm_t a, b5_t w) { return fx_wrap32(((int64_t)a * w) >> B5_F); }
/* fm(p * w), p <u8,0>, w <16,0>: product F=24 -> 22. */
static inline fm_t fm_mul_pix(pix_t p, pw_t w) { return fx_wrap32(((int64_t)p * w) >> (PIX_F + PW_F - FM_F)); }
/* fm(a + b), fm(a - b) */
static inline fm_t fm_add(fm_t a, fm_t b) { return fx_wrap32((int64_t)a + b); }
static inline fm_t fm_sub(fm_t a, fm_t b) { return fx_wrap32((int64_t)a - b); }
/* fm(a + b), b <16,7> (F=9, exact in fm) or <16,5> (F=11). */
static inline fm_t fm_add_bqk(fm_t a, bqk_t b) { return fx_wrap32((int64_t)a + (int64_t)b * (1 << (FM_F - BQK_F))); }
static inline fm_t fm_add_b5(fm_t a, b5_t b) { return fx_wrap32((int64_t)a + (int64_t)b * (1 << (FM_F - B5_F))); }
/* fm(a * 2^-k): multiplication by the constant 0.125 etc. (exact, floored) */
static inline fm_t fm_mul_pow2neg(fm_t a, int k) { return (fm_t)(a >> k); }
/* fm(u), u <u16,0>: exact widening */
static inline fm_t fm_from_uf16(uf16_t u) { return (fm_t)u * (1 << (FM_F - UF16_F)); }

#endif
