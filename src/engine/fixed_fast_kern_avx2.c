/* AVX2 kernels of the fast fixed-point twin (compiled with -mavx2, see
 * mk/fixed_fast.mk; only called after CPU detection).  The code is in
 * fixed_fast_kern_x86.h, shared with the AVX512-VNNI set. */
#include "engine/fixed_fast_kern.h"
#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>
#define KX(name) name##_avx2
#define DPACC(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#include "engine/fixed_fast_kern_x86.h"

const em_fxk *em_fxk_avx2(void) {
    static const em_fxk k = {"avx2", dot_avx2, qk_avx2, av_avx2};
    return &k;
}
#else
const em_fxk *em_fxk_avx2(void) { return 0; }
#endif
