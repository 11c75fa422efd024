/* AVX-512F instantiation of the fast kernels (compiled with -mavx512f,
 * see mk/fast.mk; only called after CPU detection). */
#include "engine/fast_kern.h"
#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>

typedef __m512 vf;
#define KN(x) x##_avx512
#define VL 16
#define MR 8
#define NV 2
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO() _mm512_setzero_ps()
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VDIV(a, b) _mm512_div_ps((a), (b))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VABS(x) _mm512_abs_ps(x)
#define VSELLT(x, y, a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((x), (y), _CMP_LT_OQ), (b), (a))
#define VROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VEXP2I(n) \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23))
/* rcp14 + one Newton step: full precision */
static inline __m512 recip_avx512(__m512 x) {
    __m512 r = _mm512_rcp14_ps(x);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(x, r, _mm512_set1_ps(2.0f)));
}
#define VRECIP(x) recip_avx512(x)
#include "engine/fast_kern_impl.h"

const em_fast_kern *em_fast_kern_avx512(void) {
    static const em_fast_kern k = EM_KERN_TABLE("avx512");
    return &k;
}
#else
const em_fast_kern *em_fast_kern_avx512(void) { return 0; }
#endif
