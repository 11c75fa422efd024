/* AVX2 + FMA instantiation of the fast kernels (compiled with -mavx2 -mfma,
 * see mk/fast.mk; only called after CPU detection). */
#include "engine/fast_kern.h"
#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

typedef __m256 vf;
#define KN(x) x##_avx2
#define VL 8
#define MR 6
#define NV 2
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSET1(x) _mm256_set1_ps(x)
#define VZERO() _mm256_setzero_ps()
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VDIV(a, b) _mm256_div_ps((a), (b))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (x))
#define VSELLT(x, y, a, b) _mm256_blendv_ps((b), (a), _mm256_cmp_ps((x), (y), _CMP_LT_OQ))
#define VROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VEXP2I(n) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23))
/* rcp (12 bits) + one Newton step: ~23 bits */
static inline __m256 recip_avx2(__m256 x) {
    __m256 r = _mm256_rcp_ps(x);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(x, r, _mm256_set1_ps(2.0f)));
}
#define VRECIP(x) recip_avx2(x)
#include "engine/fast_kern_impl.h"

const em_fast_kern *em_fast_kern_avx2(void) {
    static const em_fast_kern k = EM_KERN_TABLE("avx2");
    return &k;
}
#else
const em_fast_kern *em_fast_kern_avx2(void) { return 0; }
#endif
