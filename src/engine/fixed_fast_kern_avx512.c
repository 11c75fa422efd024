/* AVX-512 (VNNI) kernels of the fast fixed-point twin: the AVX2 kernels
 * with each vpmaddwd + vpaddd fused into one vpdpwssd (AVX512-VNNI on
 * 256-bit registers, AVX512-VL).  Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni (mk/fixed_fast.mk); only called after CPU
 * detection. */
#include "engine/fixed_fast_kern.h"
#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#include <immintrin.h>
#define KX(name) name##_avx512
#define DPACC(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#include "engine/fixed_fast_kern_x86.h"

const em_fxk *em_fxk_avx512(void) {
    static const em_fxk k = {"avx512", dot_avx512, qk_avx512, av_avx512};
    return &k;
}
#else
const em_fxk *em_fxk_avx512(void) { return 0; }
#endif
