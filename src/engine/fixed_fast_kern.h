/* Integer kernels of the fast fixed-point twin (fixed_fast.c).
 *
 * Three kernels, the linear unit's inner product and attention's QK^T and
 * A.V, written per instruction set:
 * portable C (fixed_fast_kern.c), GCC/clang generic vectors (gvec), AVX2
 * (fixed_fast_kern_avx2.c) and AVX512-VNNI (fixed_fast_kern_avx512.c: the
 * AVX2 code with fused vpdpwssd).  Selection mirrors the float engine's: the
 * widest set the CPU has, capped by EM_FAST_ISA=c|gvec|avx2|avx512.  Every
 * set returns the same bits.
 *
 * A value x (fm, 32-bit) is given split as x = xh 2^16 + xl with xl the
 * signed low 16 bits and xh = (x - xl) / 2^16, which fits 16 bits whenever
 * x < 2^31 - 2^16 (the caller routes other rows to its scalar path).  Then,
 * with P = xl w (exact in 32 bits),
 *   floor(x w / 2^f) = 2^(16-f) xh w + floor(P / 2^f)
 * and the sums are formed modulo 2^32, which is what an fm store keeps.
 * Attention's 32 x 32 products need their bits f..f+31 only (floor(p / 2^f)
 * modulo 2^32; f = 22 at the original formats), so a 64-bit product shifted
 * right logically serves. */
#ifndef EM_FIXED_FAST_KERN_H
#define EM_FIXED_FAST_KERN_H
#include <stdint.h>

typedef struct {
    const char *name;   /* "c", "gvec", "avx2", "avx512" */
    /* out[r * ldo + o] = sum_{i < n} floor(x_ri w_oi / 2^f) mod 2^32 for rows
     * [r0, r1) and outputs [o0, o1); x row r at xh/xl + r * ldx, w row o at
     * w + o * ldw; n a multiple of 16, 1 <= f <= 16. */
    void (*dot)(const int16_t *xh, const int16_t *xl, int ldx, const int16_t *w, int ldw, int n, int f,
                uint32_t *out, int ldo, int r0, int r1, int o0, int o1);
    /* Attention scores of one query and head (64 dims) against keys [0, nk),
     * nk rounded up to 8 (kt padded): s[k] = sum over the 8 blocks of
     * (wrap_W(sum of 8 floor(q_i k_i / 2^f)) >> 3), wrapping, W = 32 - sh
     * (fm's width; the original: f = 22, sh = 0).  kt is the head's keys
     * transposed, [64][ldk]. */
    void (*qk)(const int32_t *q, const int32_t *kt, int ldk, int nk, int f, int sh, int32_t *s);
    /* out[d] = sum_{k < nk} floor(v_kd a_k / 2^f) mod 2^32, d < 64; row k of
     * v at v + k * ldv. */
    void (*av)(const int32_t *v, int ldv, const int32_t *a, int nk, int f, uint32_t *out);
} em_fxk;

const em_fxk *em_fxk_c(void);
const em_fxk *em_fxk_gvec(void);   /* NULL without GCC/clang vector extensions */
const em_fxk *em_fxk_avx2(void);   /* NULL if not built for x86-64 */
const em_fxk *em_fxk_avx512(void); /* AVX512-VNNI; NULL if not built for x86-64 */
/* Best set for this CPU, capped by EM_FAST_ISA. */
const em_fxk *em_fxk_select(void);
/* The set of that name if this CPU and build have it, else NULL. */
const em_fxk *em_fxk_by_name(const char *name);
#endif
