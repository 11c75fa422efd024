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

/* The formats are compile-time parameters (docs/formats.md): HW_<Q>_W and
 * HW_<Q>_I give <W,I> of each quantity, by default the original's below.
 * The C types are the storage (int32 holds any fm up to 32 bits, int16 any
 * weight or bias up to 16); every store keeps the low W bits (fx_wrap_fm
 * for fm; the host quantises weights to their W). */
#ifndef HW_FM_W
#define HW_FM_W  32
#define HW_FM_I  10
#endif
#ifndef HW_WT_W
#define HW_WT_W  16
#define HW_WT_I  2
#endif
#ifndef HW_BQK_W
#define HW_BQK_W 16
#define HW_BQK_I 7
#endif
#ifndef HW_B5_W
#define HW_B5_W  16
#define HW_B5_I  5
#endif
#ifndef HW_PW_W
#define HW_PW_W  16
#define HW_PW_I  0
#endif
#ifndef HW_PIX_W
#define HW_PIX_W 8
#define HW_PIX_I 0
#endif

typedef int32_t fm_t;   /* <32,10>  F=22: activations and every intermediate */
typedef int16_t wt_t;   /* <16,2>   F=14: linear weights (qkv, proj, fc, experts, gates) */
typedef int16_t bqk_t;  /* <16,7>   F=9 : qkv and proj biases */
typedef int16_t b5_t;   /* <16,5>   F=11: other biases, LN weight and bias */
typedef int16_t pw_t;   /* <16,0>   F=16: patch-embed weights */
typedef uint8_t pix_t;  /* <u8,0>   F=8 : pixels */
typedef uint16_t uf16_t;/* <u16,0>  F=16: unsigned fractions (GELU table) */

#define FM_W   HW_FM_W
#define WT_W   HW_WT_W
#define BQK_W  HW_BQK_W
#define B5_W   HW_B5_W
#define PW_W   HW_PW_W
#define PIX_W  HW_PIX_W
#define FM_F   (HW_FM_W - HW_FM_I)
#define WT_F   (HW_WT_W - HW_WT_I)
#define BQK_F  (HW_BQK_W - HW_BQK_I)
#define B5_F   (HW_B5_W - HW_B5_I)
#define PW_F   (HW_PW_W - HW_PW_I)
#define PIX_F  (HW_PIX_W - HW_PIX_I)
#define UF16_F 16

#define FM_ONE    ((fm_t)1 << FM_F)
#define FM_MIN    ((fm_t)(-((int64_t)1 << (FM_W - 1))))
#define FM_MAX    ((fm_t)(((int64_t)1 << (FM_W - 1)) - 1))

/* The limits of em_formats_check (src/engine/formats.c), at compile time. */
typedef char hw_check_formats[FM_W <= 32 && FM_F >= 8 && FM_F <= 30 && FM_W - FM_F >= 2 && WT_W <= 16 &&
                              WT_F >= 0 && WT_F <= 16 && BQK_W <= 16 && B5_W <= 16 && PW_W <= 16 && PIX_W <= 8 &&
                              PIX_F + PW_F - FM_F >= 0 && PIX_F + PW_F - FM_F <= 16 ? 1 : -1];

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

/* Keep the low FM_W bits: a store into fm. */
static inline fm_t fx_wrap_fm(int64_t v) { return (fm_t)((int64_t)((uint64_t)v << (64 - FM_W)) >> (64 - FM_W)); }

/* 1 when v does not fit <32,*> (the store wraps). */
static inline int fx_wraps32(int64_t v) { return v < -2147483647LL - 1 || v > 2147483647LL; }
/* 1 when v does not fit fm (the store wraps). */
static inline int fx_wraps_fm(int64_t v) { return v < (int64_t)FM_MIN || v > (int64_t)FM_MAX; }

/* A value with from_f fractional bits as a sum term with to_f: exact when
 * to_f >= from_f, else floored (the store floors the exact sum, and the
 * other terms are whole multiples of 2^-to_f). */
static inline int64_t fx_align(int64_t v, int from_f, int to_f)
{
    return to_f >= from_f ? v * ((int64_t)1 << (to_f - from_f)) : v >> (from_f - to_f);
}

/* ---- stores into fm (<32,10>) ---- */

/* fm(a * b), a and b fm: exact product F=44, floor to F=22, wrap. */
static inline fm_t fm_mul(fm_t a, fm_t b) { return fx_wrap_fm(((int64_t)a * b) >> FM_F); }
/* fm(a * w), w <16,2>: product F=36 -> 22. */
static inline fm_t fm_mul_wt(fm_t a, wt_t w) { return fx_wrap_fm(((int64_t)a * w) >> WT_F); }
/* fm(a * w), w <16,5>: product F=33 -> 22. */
static inline fm_t fm_mul_b5(fm_t a, b5_t w) { return fx_wrap_fm(((int64_t)a * w) >> B5_F); }
/* fm(p * w), p <u8,0>, w <16,0>: product F=24 -> 22. */
static inline fm_t fm_mul_pix(pix_t p, pw_t w) { return fx_wrap_fm(((int64_t)p * w) >> (PIX_F + PW_F - FM_F)); }
/* fm(a + b), fm(a - b) */
static inline fm_t fm_add(fm_t a, fm_t b) { return fx_wrap_fm((int64_t)a + b); }
static inline fm_t fm_sub(fm_t a, fm_t b) { return fx_wrap_fm((int64_t)a - b); }
/* fm(a + b), b <16,7> (F=9, exact in fm) or <16,5> (F=11). */
static inline fm_t fm_add_bqk(fm_t a, bqk_t b) { return fx_wrap_fm((int64_t)a + fx_align(b, BQK_F, FM_F)); }
static inline fm_t fm_add_b5(fm_t a, b5_t b) { return fx_wrap_fm((int64_t)a + fx_align(b, B5_F, FM_F)); }
/* fm(a * 2^-k): multiplication by the constant 0.125 etc. (exact, floored) */
static inline fm_t fm_mul_pow2neg(fm_t a, int k) { return (fm_t)(a >> k); }
/* fm(u), u <u16,0>: exact widening (floored when F < 16) */
static inline fm_t fm_from_uf16(uf16_t u) { return (fm_t)fx_align(u, UF16_F, FM_F); }

#endif
